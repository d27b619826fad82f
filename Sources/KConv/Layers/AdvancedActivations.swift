import KConvIO
/// Activation layers with parameters: ReLU, LeakyReLU, PReLU, ELU, Softmax, ThresholdedReLU.
/// All of them keep the mask flowing with their input, as Keras's do.

/// `ReLU(max_value, negative_slope, threshold)`: `x` above threshold (capped), `slope·(x − threshold)` below.
public final class ReLULayer: Layer {
    override class var kerasClassNames: [String] { ["ReLU"] }
    public let maxValue: Double?
    public let negativeSlope: Double
    public let threshold: Double

    public required init(_ context: LayerContext) throws {
        maxValue = try context.config.optionalDouble("max_value")
        negativeSlope = try context.config.double("negative_slope", default: 0)
        threshold = try context.config.double("threshold", default: 0)
        try super.init(context)
    }

    override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerElementwise(.rectifier(negativeSlope: Float(negativeSlope), maxValue: maxValue.map(Float.init), threshold: Float(threshold)),
                             call, into: &graph)
    }
}

/// `LeakyReLU`: `x` for x ≥ 0, `slope·x` below; Keras 2 calls the slope `alpha`, Keras 3 `negative_slope`.
public final class LeakyReLU: Layer {
    override class var kerasClassNames: [String] { ["LeakyReLU"] }
    public let negativeSlope: Double

    public required init(_ context: LayerContext) throws {
        negativeSlope = try context.config.optionalDouble("negative_slope") ?? context.config.double("alpha", default: 0.3)
        try super.init(context)
    }

    /// tf-keras calls the slope `alpha`, Keras 3 `negative_slope`.
    override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        config["alpha"] = nil
        config["negative_slope"] = nil
        config[export.target == .keras3 ? "negative_slope" : "alpha"] = .double(negativeSlope)
    }

    override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerElementwise(.rectifier(negativeSlope: Float(negativeSlope), maxValue: nil, threshold: 0), call, into: &graph)
    }
}

/// `ELU(alpha)`: `x` for x > 0, `alpha·(exp(x) − 1)` below.
public final class ELULayer: Layer {
    override class var kerasClassNames: [String] { ["ELU"] }
    public let alpha: Double

    public required init(_ context: LayerContext) throws {
        alpha = try context.config.double("alpha", default: 1)
        try super.init(context)
    }

    override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerElementwise(.elu(alpha: Float(alpha)), call, into: &graph)
    }
}

/// `ThresholdedReLU(theta)`: `x` where x > theta, else 0.
public final class ThresholdedReLU: Layer {
    override class var kerasClassNames: [String] { ["ThresholdedReLU"] }
    public let theta: Double

    public required init(_ context: LayerContext) throws {
        theta = try context.config.double("theta", default: 1)
        try super.init(context)
    }

    override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        if export.target == .keras3 { throw ModelError("Keras 3 has no ThresholdedReLU (ReLU(threshold=θ) differs at x = θ)") }
    }

    /// `x · (x > theta)`: Keras's ReLU with `threshold = theta`.
    override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerElementwise(.rectifier(negativeSlope: 0, maxValue: nil, threshold: Float(theta)), call, into: &graph)
    }
}

/// `Softmax(axis)`: softmax over one axis or, in Keras 3, several together (`exp(x − logsumexp(x, axes))`).
public final class SoftmaxLayer: Layer {
    override class var kerasClassNames: [String] { ["Softmax"] }
    public let axes: [Int]

    public required init(_ context: LayerContext) throws {
        axes = try context.config.intOrList("axis", default: [-1])
        try super.init(context)
    }

    /// An optional `mask` (passed by keyword or second, else the Keras mask flowing with the input, as Keras
    /// fills the argument) broadcasts against the input, NumPy style. Masked positions get −1e9 before the
    /// softmax — tf.keras adds `(1 − mask) · −1e9`, Keras 3 replaces them where `mask ≤ 0.5` and zeroes them
    /// afterwards. The mask argument flows on as the output's mask.
    override func forward(_ call: LayerCall) throws -> LayerOutput {
        let input = call.input
        let axes = try self.axes.map { axis in
            let resolved = axis < 0 ? axis + input.rank : axis
            guard (0..<input.rank).contains(resolved) else {
                throw EngineError("config.axis: axis \(axis) does not exist in an input of shape \(input.shape)")
            }
            return resolved
        }
        let givenMask = call.keywordInputs["mask"]?.first ?? call.inputs.dropFirst().first
        let mask = givenMask ?? call.mask.map { Tensor(shape: $0.shape, values: $0.values.map { $0 ? 1 : 0 }) }
        var logits = input
        let replacesMasked = dialect >= .keras3
        if let mask {
            guard mask.rank <= input.rank, Tensor.broadcastShape(input.shape, mask.shape) == input.shape else {
                throw EngineError("\(label): a mask of shape \(mask.shape) does not broadcast to the input's shape \(input.shape)")
            }
            logits = try replacesMasked
                ? Tensor.broadcasting(input, mask) { x, keep in keep > 0.5 ? x : -1e9 }
                : Tensor.broadcasting(input, mask) { x, keep in x + (1 - keep) * -1e9 }
        }
        var output = try logits.mappingRows(over: axes) { values, rows, width in
            for row in 0..<rows { try Activation.softmax.apply(&values, start: row * width, count: width) }
        }
        if let mask, replacesMasked {
            output = try Tensor.broadcasting(output, mask) { y, keep in keep > 0.5 ? y : 0 }
        }
        let outputMask = givenMask.map { Mask(shape: $0.shape, values: $0.values.map { $0 != 0 }) } ?? call.mask
        return LayerOutput([output], masks: [outputMask])
    }
}

/// `PReLU`: LeakyReLU with a learned slope per element, shared along `shared_axes` (1-based).
public final class PReLU: Layer {
    override class var kerasClassNames: [String] { ["PReLU"] }
    public let sharedAxes: [Int]

    public required init(_ context: LayerContext) throws {
        sharedAxes = try context.config.intOrList("shared_axes", default: [])
        try super.init(context)
    }

    override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let input = try singleInput(inputShapes)
        let shape = try input.indices.dropFirst().map { axis -> Int in
            if sharedAxes.contains(axis) { return 1 }
            guard let dim = input[axis] else {
                throw ModelError(layer: label, "axis \(axis) of the input must be known or shared, found \(input.kerasDescription)")
            }
            return dim
        }
        return [weight("alpha", shape, index: 0)]
    }

    /// `x` for x > 0, `alpha · x` below (Keras: `relu(x) − alpha · relu(−x)`), alpha repeating along the
    /// shared axes and the batch.
    override func forward(_ call: LayerCall) throws -> LayerOutput {
        let input = call.input, alpha = parameters[0]
        guard alpha.rank == input.rank - 1, Tensor.broadcastShape(input.shape, [1] + alpha.shape) == input.shape else {
            throw EngineError("\(label): alpha of shape \(alpha.shape) does not fit an input of shape \(input.shape)")
        }
        let output = try Tensor.broadcasting(input, alpha.reshaped([1] + alpha.shape)) { x, slope in x > 0 ? x : slope * x }
        return LayerOutput([output], masks: [call.mask])
    }
}
