import KConvIO
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

/// Checks that an input has the rank the layer was built for, so that its axes mean what they meant then.
private func requireBuiltRank(_ input: Tensor, of layer: Layer) throws {
    guard let rank = layer.builtInputShapes?.first?.count, input.rank == rank else {
        throw EngineError("\(layer.label) was built for inputs of rank \(layer.builtInputShapes?.first?.count ?? 0), found shape \(input.shape)")
    }
}

/// `y = gamma · (x − moving_mean) / sqrt(moving_variance + epsilon) + beta` at inference.
public final class BatchNormalization: Layer {
    override class var kerasClassNames: [String] { ["BatchNormalization"] }
    override class var legacyClassNames: [String: String] { ["BatchNormalizationV1": "BatchNormalization", "BatchNormalizationV2": "BatchNormalization"] }
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

    /// Per-channel `scale = gamma / sqrt(moving_variance + epsilon)` and `shift = beta − moving_mean · scale`,
    /// folded once so that inference is one multiply-add per element (`tf.nn.batch_normalization`'s form).
    private var channelScale: [Float] = []
    private var channelShift: [Float] = []

    override func prepare() throws {
        try super.prepare()
        var next = parameters.makeIterator()
        let gamma = scale ? next.next()?.values : nil
        let beta = center ? next.next()?.values : nil
        guard let mean = next.next()?.values, let variance = next.next()?.values else {
            throw EngineError("\(label) expects moving_mean and moving_variance among its weights")
        }
        channelScale = variance.indices.map { channel in
            Float(Double(gamma?[channel] ?? 1) / (Double(variance[channel]) + epsilon).squareRoot())
        }
        channelShift = mean.indices.map { channel in
            Float(Double(beta?[channel] ?? 0) - Double(mean[channel]) * Double(channelScale[channel]))
        }
    }

    /// Inference with the moving statistics over `axes` (one channel index per position along them); the
    /// mask passes through, as Keras's BatchNormalization supports masking.
    override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("mode", onlyIn: .keras1, value: 0, why: "Keras 2 and 3 only normalise feature-wise (mode 0)")]
    }

    /// Keras 2 writes the axis as a list; Keras 3 takes one int.
    override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        guard export.target == .keras3, let axes = config["axis"]?.arrayValue else { return }
        guard axes.count == 1 else {
            throw ModelError(field: "config.axis", "Keras 3 BatchNormalization normalises over one axis, found \(ConfigReader.describe(.array(axes)))")
        }
        config["axis"] = axes[0]
    }

    override func forward(_ call: LayerCall) throws -> LayerOutput {
        let input = call.input
        try requireBuiltRank(input, of: self)
        let channels = axes.reduce(1) { $0 * input.shape[$1] }
        guard channels == channelScale.count else {
            throw EngineError("\(label) normalises \(channelScale.count) channels over axes \(axes), found shape \(input.shape)")
        }
        let sorted = axes.sorted()
        guard let first = sorted.first, let last = sorted.last, last - first == sorted.count - 1 else {
            // Channels spread over separate axes (tf.keras allows a list): gather them into rows.
            let output = input.mappingRows(over: axes) { values, rows, width in
                applyChannels(&values, outer: rows, inner: 1)
            }
            return LayerOutput([output], masks: [call.mask])
        }
        var output = input
        let inner = input.shape[(last + 1)...].reduce(1, *)
        let block = channels * inner
        applyChannels(&output.values, outer: block == 0 ? 0 : input.count / block, inner: inner)
        return LayerOutput([output], masks: [call.mask])
    }

    /// `x · scale[c] + shift[c]` over values laid out as `[outer, channels, inner]`.
    private func applyChannels(_ values: inout [Float], outer: Int, inner: Int) {
        let (scales, shifts) = (channelScale, channelShift)
        var index = 0
        for _ in 0..<outer {
            if inner == 1 {
                for channel in scales.indices { values[index + channel] = values[index + channel] * scales[channel] + shifts[channel] }
                index += scales.count
                continue
            }
            for (scale, shift) in zip(scales, shifts) {
                for i in index ..< index + inner { values[i] = values[i] * scale + shift }
                index += inner
            }
        }
    }
}

/// Normalises over `axis` per sample: `gamma · (x − mean) / sqrt(var + epsilon) + beta`, with the mean and
/// (biased) variance taken over all the axes together.
/// Keras 3's `rms_scaling` keeps gamma only and, despite its name, computes `gamma · x / sqrt(var + epsilon)`:
/// the variance's root, not the root mean square, and no mean subtracted (`ops.layer_normalization`, which
/// warns about exactly this, up to Keras 3.15).
public final class LayerNormalization: Layer {
    override class var kerasClassNames: [String] { ["LayerNormalization"] }
    public let epsilon: Double
    /// Whether beta is added (never with `rms_scaling`).
    public let center: Bool
    /// Whether gamma multiplies (always with `rms_scaling`, which Keras builds gamma for regardless of `scale`).
    public let scale: Bool
    public let rmsScaling: Bool
    public private(set) var axes: [Int] = []

    public required init(_ context: LayerContext) throws {
        epsilon = try context.config.double("epsilon", default: 1e-3)
        rmsScaling = try context.config.bool("rms_scaling", default: false)
        center = try context.config.bool("center", default: true) && !rmsScaling
        scale = try context.config.bool("scale", default: true) || rmsScaling
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

    /// Rows are the elements of one sample across `axes` (row-major over the sorted axes, the order Keras
    /// lays gamma and beta out in). The mask passes through, as in Keras.
    override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("rms_scaling", onlyIn: .keras3, value: false, why: "Keras 2 has no RMS scaling")]
    }

    override func forward(_ call: LayerCall) throws -> LayerOutput {
        let input = call.input
        try requireBuiltRank(input, of: self)
        let width = axes.reduce(1) { $0 * input.shape[$1] }
        var next = parameters.makeIterator()
        let gamma = scale ? next.next()?.values : nil
        let beta = center ? next.next()?.values : nil
        for weights in [gamma, beta].compactMap({ $0 }) where weights.count != width {
            throw EngineError("\(label) normalises \(weights.count) values over axes \(axes), found shape \(input.shape)")
        }
        let scales = gamma ?? Array(repeating: 1, count: width), shifts = beta ?? Array(repeating: 0, count: width)
        let (epsilon, subtractsMean) = (epsilon, !rmsScaling)
        let output = input.mappingRows(over: axes) { values, rows, width in
            for row in 0..<rows {
                let start = row * width
                let (mean, variance) = RowKernels.moments(values, start: start, count: width)
                let inverse = Float(1 / (variance + epsilon).squareRoot())
                let offset = subtractsMean ? Float(mean) : 0
                for j in 0..<width {
                    values[start + j] = (values[start + j] - offset) * inverse * scales[j] + shifts[j]
                }
            }
        }
        return LayerOutput([output], masks: [call.mask])
    }
}
