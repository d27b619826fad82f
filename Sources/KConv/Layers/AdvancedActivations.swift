/// Activation layers with parameters: ReLU, LeakyReLU, PReLU, ELU, Softmax, ThresholdedReLU.

/// `ReLU(max_value, negative_slope, threshold)`: `x` above threshold (capped), `slope·(x − threshold)` below.
public final class ReLULayer: Layer {
    public let maxValue: Double?
    public let negativeSlope: Double
    public let threshold: Double

    public required init(_ context: LayerContext) throws {
        maxValue = try context.config.optionalDouble("max_value")
        negativeSlope = try context.config.double("negative_slope", default: 0)
        threshold = try context.config.double("threshold", default: 0)
        try super.init(context)
    }
}

/// `LeakyReLU`: `x` for x ≥ 0, `slope·x` below; Keras 2 calls the slope `alpha`, Keras 3 `negative_slope`.
public final class LeakyReLU: Layer {
    public let negativeSlope: Double

    public required init(_ context: LayerContext) throws {
        negativeSlope = try context.config.optionalDouble("negative_slope") ?? context.config.double("alpha", default: 0.3)
        try super.init(context)
    }
}

/// `ELU(alpha)`: `x` for x > 0, `alpha·(exp(x) − 1)` below.
public final class ELULayer: Layer {
    public let alpha: Double

    public required init(_ context: LayerContext) throws {
        alpha = try context.config.double("alpha", default: 1)
        try super.init(context)
    }
}

/// `ThresholdedReLU(theta)`: `x` where x > theta, else 0.
public final class ThresholdedReLU: Layer {
    public let theta: Double

    public required init(_ context: LayerContext) throws {
        theta = try context.config.double("theta", default: 1)
        try super.init(context)
    }
}

/// `Softmax(axis)`.
public final class SoftmaxLayer: Layer {
    public let axes: [Int]

    public required init(_ context: LayerContext) throws {
        axes = try context.config.intOrList("axis", default: [-1])
        try super.init(context)
    }
}

/// `PReLU`: LeakyReLU with a learned slope per element, shared along `shared_axes` (1-based).
public final class PReLU: Layer {
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
}
