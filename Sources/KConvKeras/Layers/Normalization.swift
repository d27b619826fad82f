import KConvGraph
import KConvIO
/// Normalisation layers: BatchNormalization (moving statistics at inference), and the per-sample ones:
/// LayerNormalization, GroupNormalization, UnitNormalization and RMSNormalization.

/// Normalised axes of an input, from an `axis` entry that is an int or a list (negative counts from the end).
func normalizedAxes(_ config: ConfigReader, rank: Int, of layer: Layer) throws -> [Int] {
    try config.intOrList("axis", default: [-1]).map { axis in
        let resolved = axis < 0 ? axis + rank : axis
        guard (1..<rank).contains(resolved) else {
            throw ModelError(layer: layer.label, field: "config.axis", "expected an axis of a \(rank)-D input other than the batch axis, found \(axis)")
        }
        return resolved
    }
}

/// The sizes of `axes` in `shape`, which must be known to size the weights.
func axisSizes(_ shape: TensorShape, _ axes: [Int], of layer: Layer) throws -> [Int] {
    try axes.map { axis in
        guard let size = shape[axis] else {
            throw ModelError(layer: layer.label, "axis \(axis) of the input must be known, found \(shape.kerasDescription)")
        }
        return size
    }
}


/// `y = gamma · (x − moving_mean) / sqrt(moving_variance + epsilon) + beta` at inference.
package final class BatchNormalization: Layer {
    package override class var kerasClassNames: [String] { ["BatchNormalization"] }
    package override class var legacyClassNames: [String: String] { ["BatchNormalizationV1": "BatchNormalization", "BatchNormalizationV2": "BatchNormalization"] }
    package override class var examples: [LayerExample] { [LayerExample("BatchNormalization", inputs: [[3]])] }
    package let epsilon: Double
    package let center: Bool
    package let scale: Bool
    package private(set) var axes: [Int] = []

    package required init(_ context: LayerContext) throws {
        epsilon = try context.config.double("epsilon", default: 1e-3)
        center = try context.config.bool("center", default: true)
        scale = try context.config.bool("scale", default: true)
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let input = try singleInput(inputShapes)
        axes = try normalizedAxes(ConfigReader(config), rank: input.count, of: self)
        let sizes = try axisSizes(input, axes, of: self)
        // One axis: a vector. Several (tf.keras): the input's rank, with 1 on the other axes.
        let shape = axes.count == 1 ? sizes : input.indices.map { axis in axes.firstIndex(of: axis).map { sizes[$0] } ?? 1 }
        var specs: [WeightSpec] = []
        if scale { specs.append(weight("gamma", shape, index: specs.count)) }
        if center { specs.append(weight("beta", shape, index: specs.count)) }
        specs.append(weight("moving_mean", shape, index: specs.count, trainable: false))
        specs.append(weight("moving_variance", shape, index: specs.count, trainable: false))
        return specs
    }


    package override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("mode", onlyIn: .keras1, value: 0, why: "Keras 2 and 3 only normalise feature-wise (mode 0)")]
    }

    /// Keras 2 writes the axis as a list; Keras 3 takes one int.
    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        guard export.target == .keras3, let axes = config["axis"]?.arrayValue else { return }
        guard axes.count == 1 else {
            throw ModelError(field: "config.axis", "Keras 3 BatchNormalization normalises over one axis, found \(ConfigReader.describe(.array(axes)))")
        }
        config["axis"] = axes[0]
    }

    /// Inference with the moving statistics over `axes` (one channel index per position along them); the
    /// mask passes through, as Keras's BatchNormalization supports masking.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        var weights = try weightValues(&graph).map(Optional.some)
        if !scale { weights.insert(nil, at: 0) }
        if !center { weights.insert(nil, at: 1) }
        let op = BatchNormOp(axes: axes, rank: builtInputShapes?.first?.count ?? 0, epsilon: epsilon)
        return try lowerElementwise(.batchNorm(op), call, weights: weights, into: &graph)
    }

}

/// Normalises over `axis` per sample: `gamma · (x − mean) / sqrt(var + epsilon) + beta`, with the mean and
/// (biased) variance taken over all the axes together.
/// Keras 3's `rms_scaling` keeps gamma only and, despite its name, computes `gamma · x / sqrt(var + epsilon)`:
/// the variance's root, not the root mean square, and no mean subtracted (`ops.layer_normalization`, which
/// warns about exactly this, up to Keras 3.15).
package final class LayerNormalization: Layer {
    package override class var kerasClassNames: [String] { ["LayerNormalization"] }
    package override class var examples: [LayerExample] { [LayerExample("LayerNormalization", inputs: [[3]])] }
    package let epsilon: Double
    /// Whether beta is added (never with `rms_scaling`).
    package let center: Bool
    /// Whether gamma multiplies (always with `rms_scaling`, which Keras builds gamma for regardless of `scale`).
    package let scale: Bool
    package let rmsScaling: Bool
    package private(set) var axes: [Int] = []

    package required init(_ context: LayerContext) throws {
        epsilon = try context.config.double("epsilon", default: 1e-3)
        rmsScaling = try context.config.bool("rms_scaling", default: false)
        center = try context.config.bool("center", default: true) && !rmsScaling
        scale = try context.config.bool("scale", default: true) || rmsScaling
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let input = try singleInput(inputShapes)
        axes = try normalizedAxes(ConfigReader(config), rank: input.count, of: self)
        let shape = try axisSizes(input, axes, of: self)
        var specs: [WeightSpec] = []
        if scale { specs.append(weight("gamma", shape, index: specs.count)) }
        if center { specs.append(weight("beta", shape, index: specs.count)) }
        return specs
    }

    package override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("rms_scaling", onlyIn: .keras3, value: false, why: "Keras 2 has no RMS scaling")]
    }

    /// Rows are the elements of one sample across `axes` (row-major over the sorted axes, the order Keras
    /// lays gamma and beta out in). The mask passes through, as in Keras.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        var weights = try weightValues(&graph).map(Optional.some)
        if !scale { weights.insert(nil, at: 0) }
        if !center { weights.append(nil) }
        let op = LayerNormOp(axes: axes, rank: builtInputShapes?.first?.count ?? 0, epsilon: epsilon, subtractsMean: !rmsScaling)
        return try lowerElementwise(.layerNorm(op), call, weights: weights, into: &graph)
    }
}

/// Splits the channels along `axis` into `groups` groups and normalises each per sample over its channels
/// and every other non-batch axis; then `gamma · x̂ + beta` per channel. `groups = -1`: one group per
/// channel (instance normalisation). Keras 3 and tf-keras compute the same maths (read in their
/// `group_normalization.py`), except that tf-keras weighs the moments by the input's mask, which kconv
/// does not compute: such a call is refused. The mask passes through, as both support masking.
package final class GroupNormalization: Layer {
    package override class var kerasClassNames: [String] { ["GroupNormalization"] }
    package override class var examples: [LayerExample] { [LayerExample("GroupNormalization", ["groups": 2], inputs: [[3, 4]])] }
    package let configuredGroups: Int
    package let epsilon: Double
    package let center: Bool
    package let scale: Bool
    package private(set) var axis = 0
    package private(set) var groups = 0

    package required init(_ context: LayerContext) throws {
        configuredGroups = try context.config.int("groups", default: 32)
        epsilon = try context.config.double("epsilon", default: 1e-3)
        center = try context.config.bool("center", default: true)
        scale = try context.config.bool("scale", default: true)
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let input = try singleInput(inputShapes)
        let reader = ConfigReader(config)
        let axes = try normalizedAxes(reader, rank: input.count, of: self)
        guard axes.count == 1 else { throw reader.error("axis", expected: "one axis", found: config["axis"]) }
        axis = axes[0]
        let channels = try axisSizes(input, axes, of: self)[0]
        groups = configuredGroups == -1 ? channels : configuredGroups
        guard groups > 0, groups <= channels, channels % groups == 0 else {
            throw ModelError(layer: label, field: "config.groups", "expected a number of groups that divides the \(channels) channels, found \(configuredGroups)")
        }
        var specs: [WeightSpec] = []
        if scale { specs.append(weight("gamma", [channels], index: specs.count)) }
        if center { specs.append(weight("beta", [channels], index: specs.count)) }
        return specs
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        if dialect < .keras3, try singleInput(call).mask != nil {
            throw ModelError(layer: label, "tf-keras weighs GroupNormalization's moments by the input's mask, which kconv does not compute")
        }
        var weights = try weightValues(&graph).map(Optional.some)
        if !scale { weights.insert(nil, at: 0) }
        if !center { weights.append(nil) }
        let op = GroupNormOp(axis: axis, groups: groups, rank: builtInputShapes?.first?.count ?? 0, epsilon: epsilon)
        return try lowerElementwise(.groupNorm(op), call, weights: weights, into: &graph)
    }
}

/// `x / ‖x‖₂` over `axis` (an int or a list), per sample; no weights, the mask passes through. The norm's
/// floor differs: tf-keras calls `tf.linalg.l2_normalize`, which floors the squared sum at 1e-12 (the
/// norm at 1e-6); Keras 3 calls `ops.normalize(epsilon=1e-12)`, which floors the norm at 1e-12.
package final class UnitNormalization: Layer {
    package override class var kerasClassNames: [String] { ["UnitNormalization"] }
    package override class var examples: [LayerExample] { [LayerExample("UnitNormalization", inputs: [[3]])] }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let rank = try singleInput(builtInputShapes ?? []).count
        let axes = try normalizedAxes(ConfigReader(config), rank: rank, of: self)
        return try lowerElementwise(.l2Normalize(axes: axes, normFloor: dialect >= .keras3 ? 1e-12 : 1e-6), call, into: &graph)
    }
}

/// Keras 3's RMSNormalization: `x · rsqrt(mean(x²) + epsilon) · scale` over `axis` (`ops.rms_normalization`),
/// unlike LayerNormalization's `rms_scaling`, which divides by the variance's root. The mask stops, as the
/// layer does not support masking.
package final class RMSNormalization: Layer {
    package override class var kerasClassNames: [String] { ["RMSNormalization"] }
    package override class var absentIn: [KerasDialect: String] { [.keras2: "Keras 2 has no RMSNormalization"] }
    package override class var examples: [LayerExample] { [LayerExample("RMSNormalization", inputs: [[3]])] }
    package let epsilon: Double
    package private(set) var axes: [Int] = []

    package required init(_ context: LayerContext) throws {
        epsilon = try context.config.double("epsilon", default: 1e-6)
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let input = try singleInput(inputShapes)
        axes = try normalizedAxes(ConfigReader(config), rank: input.count, of: self).sorted()
        return [weight("scale", try axisSizes(input, axes, of: self), index: 0)]
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let op = LayerNormOp(axes: axes, rank: builtInputShapes?.first?.count ?? 0, epsilon: epsilon, subtractsMean: false, rootMeanSquare: true)
        let output = try lowerElementwise(.layerNorm(op), call, weights: try weightValues(&graph) + [nil], into: &graph)
        return output.map { LoweredTensor(value: $0.value, mask: nil) }
    }
}
