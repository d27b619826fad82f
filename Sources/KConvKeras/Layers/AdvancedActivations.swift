import KConvGraph
import KConvIO
/// Activation layers with parameters: ReLU, LeakyReLU, PReLU, ELU, Softmax, ThresholdedReLU.
/// All of them keep the mask flowing with their input, as Keras's do.

/// `ReLU(max_value, negative_slope, threshold)`: `x` above threshold (capped), `slope·(x − threshold)` below.
package final class ReLULayer: Layer {
    package override class var kerasClassNames: [String] { ["ReLU"] }
    package override class var examples: [LayerExample] { [LayerExample("ReLU", ["max_value": 1], inputs: [[3]])] }
    package let maxValue: Double?
    package let negativeSlope: Double
    package let threshold: Double

    package required init(_ context: LayerContext) throws {
        maxValue = try context.config.optionalDouble("max_value")
        negativeSlope = try context.config.double("negative_slope", default: 0)
        threshold = try context.config.double("threshold", default: 0)
        try super.init(context)
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerElementwise(.rectifier(negativeSlope: Float(negativeSlope), maxValue: maxValue.map(Float.init), threshold: Float(threshold)),
                             call, into: &graph)
    }
}

/// `LeakyReLU`: `x` for x ≥ 0, `slope·x` below; Keras 2 calls the slope `alpha`, Keras 3 `negative_slope`.
package final class LeakyReLU: Layer {
    package override class var kerasClassNames: [String] { ["LeakyReLU"] }
    package override class var examples: [LayerExample] { [LayerExample("LeakyReLU", inputs: [[3]])] }
    package let negativeSlope: Double

    package required init(_ context: LayerContext) throws {
        negativeSlope = try context.config.optionalDouble("negative_slope") ?? context.config.double("alpha", default: 0.3)
        try super.init(context)
    }

    /// tf-keras calls the slope `alpha`, Keras 3 `negative_slope`.
    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        config["alpha"] = nil
        config["negative_slope"] = nil
        config[export.target == .keras3 ? "negative_slope" : "alpha"] = .double(negativeSlope)
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerElementwise(.rectifier(negativeSlope: Float(negativeSlope), maxValue: nil, threshold: 0), call, into: &graph)
    }
}

/// `ELU(alpha)`: `x` for x > 0, `alpha·(exp(x) − 1)` below.
package final class ELULayer: Layer {
    package override class var kerasClassNames: [String] { ["ELU"] }
    package override class var examples: [LayerExample] { [LayerExample("ELU", inputs: [[3]])] }
    package let alpha: Double

    package required init(_ context: LayerContext) throws {
        alpha = try context.config.double("alpha", default: 1)
        try super.init(context)
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerElementwise(.elu(alpha: Float(alpha)), call, into: &graph)
    }
}

/// `ThresholdedReLU(theta)`: `x` where x > theta, else 0.
package final class ThresholdedReLU: Layer {
    package override class var kerasClassNames: [String] { ["ThresholdedReLU"] }
    package override class var examples: [LayerExample] { [LayerExample("ThresholdedReLU", inputs: [[3]])] }
    package let theta: Double

    package required init(_ context: LayerContext) throws {
        theta = try context.config.double("theta", default: 1)
        try super.init(context)
    }

    package override class var absentIn: [KerasDialect: String] { [.keras3: "Keras 3 has no ThresholdedReLU (ReLU(threshold=θ) differs at x = θ)"] }

    /// `x · (x > theta)`: Keras's ReLU with `threshold = theta`.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerElementwise(.rectifier(negativeSlope: 0, maxValue: nil, threshold: Float(theta)), call, into: &graph)
    }
}

/// `Softmax(axis)`: softmax over one axis or, in Keras 3, several together (`exp(x − logsumexp(x, axes))`).
package final class SoftmaxLayer: Layer {
    package override class var kerasClassNames: [String] { ["Softmax"] }
    package override class var examples: [LayerExample] { [LayerExample("Softmax", inputs: [[3]])] }
    package let axes: [Int]

    package required init(_ context: LayerContext) throws {
        axes = try context.config.intOrList("axis", default: [-1])
        try super.init(context)
    }

    /// An optional `mask` (by keyword or second) broadcasts against the input; the mask argument flows on
    /// as the output's mask.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let input = call.inputs.first else { throw EngineError("expected an input, found none") }
        let given = call.keywordInputs.first { $0.name == "mask" }?.tensors.first ?? call.inputs.dropFirst().first
        let op = Op.softmax(SoftmaxOp(axes: axes, masking: dialect >= .keras3 ? .replaceAndZero : .offset))
        let type = ValueType(dtype: .float32, shape: call.outputShapes?.first?.dims)
        let output = graph.add(op, inputs: [input.value, input.mask, given?.value], outputs: [type], origin: label)
        return [LoweredTensor(value: output[0], mask: given.map { notZero($0.value, into: &graph) } ?? input.mask)]
    }
}

/// `PReLU`: LeakyReLU with a learned slope per element, shared along `shared_axes` (1-based).
package final class PReLU: Layer {
    package override class var kerasClassNames: [String] { ["PReLU"] }
    package override class var examples: [LayerExample] { [LayerExample("PReLU", inputs: [[3]])] }
    package let sharedAxes: [Int]

    package required init(_ context: LayerContext) throws {
        sharedAxes = try context.config.intOrList("shared_axes", default: [])
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
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

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerElementwise(.prelu, call, weights: weightValues(&graph), into: &graph)
    }
}
