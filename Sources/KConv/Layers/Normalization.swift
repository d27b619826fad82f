/// Normalisation layers: BatchNormalization (moving statistics at inference) and LayerNormalization.

/// Normalised axes of an input, from an `axis` entry that is an int or a list (negative counts from the end).
private func normalizedAxes(_ config: ConfigReader, rank: Int, of layer: Layer) throws -> [Int] {
    try config.intOrList("axis", default: [-1]).map { axis in
        let resolved = axis < 0 ? axis + rank : axis
        guard (1..<rank).contains(resolved) else {
            throw ModelError(layer: layer.label, field: "config.axis", "expected an axis of a \(rank)-D input other than the batch axis, found \(axis)")
        }
        return resolved
    }
}

/// The sizes of `axes` in `shape`, which must be known to size the weights.
private func axisSizes(_ shape: TensorShape, _ axes: [Int], of layer: Layer) throws -> [Int] {
    try axes.map { axis in
        guard let size = shape[axis] else {
            throw ModelError(layer: layer.label, "axis \(axis) of the input must be known, found \(shape.kerasDescription)")
        }
        return size
    }
}

/// `y = gamma · (x − moving_mean) / sqrt(moving_variance + epsilon) + beta` at inference.
public final class BatchNormalization: Layer {
    public let epsilon: Double
    public let center: Bool
    public let scale: Bool
    public private(set) var axes: [Int] = []

    public required init(_ context: LayerContext) throws {
        epsilon = try context.config.double("epsilon", default: 1e-3)
        center = try context.config.bool("center", default: true)
        scale = try context.config.bool("scale", default: true)
        try super.init(context)
    }

    override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let input = try singleInput(inputShapes)
        axes = try normalizedAxes(ConfigReader(config), rank: input.count, of: self)
        let shape = try [axisSizes(input, axes, of: self).reduce(1, *)]
        var specs: [WeightSpec] = []
        if scale { specs.append(weight("gamma", shape, index: specs.count)) }
        if center { specs.append(weight("beta", shape, index: specs.count)) }
        specs.append(weight("moving_mean", shape, index: specs.count, trainable: false))
        specs.append(weight("moving_variance", shape, index: specs.count, trainable: false))
        return specs
    }
}

/// Normalises over `axis` per sample: `gamma · (x − mean) / sqrt(var + epsilon) + beta`.
/// Keras 3's `rms_scaling` divides by the root mean square instead and has gamma only.
public final class LayerNormalization: Layer {
    public let epsilon: Double
    public let center: Bool
    public let scale: Bool
    public let rmsScaling: Bool
    public private(set) var axes: [Int] = []

    public required init(_ context: LayerContext) throws {
        epsilon = try context.config.double("epsilon", default: 1e-3)
        rmsScaling = try context.config.bool("rms_scaling", default: false)
        center = try context.config.bool("center", default: true) && !rmsScaling
        scale = try context.config.bool("scale", default: true)
        try super.init(context)
    }

    override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let input = try singleInput(inputShapes)
        axes = try normalizedAxes(ConfigReader(config), rank: input.count, of: self)
        let shape = try axisSizes(input, axes, of: self)
        var specs: [WeightSpec] = []
        if scale { specs.append(weight("gamma", shape, index: specs.count)) }
        if center { specs.append(weight("beta", shape, index: specs.count)) }
        return specs
    }
}
