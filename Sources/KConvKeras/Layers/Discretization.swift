import KConvGraph
import KConvIO

/// `Discretization(bin_boundaries, output_mode)`: each value's bucket, the number of boundaries at or below
/// it (`tf.raw_ops.Bucketize` in both tf-keras 2.21 and Keras 3.15), then encoded over
/// `len(bin_boundaries) + 1` buckets unless `output_mode` is `int`. Keras 3 writes an adapted layer's
/// boundaries into its config; tf-keras keeps a quantile summary weight `(2, n)` of a shape only known from
/// the file, and computes the boundaries from it when it loads the layer (`finalize_state`,
/// `get_bin_boundaries`), as kconv does.
package final class Discretization: Layer {
    package override class var kerasClassNames: [String] { ["Discretization"] }
    package override class var examples: [LayerExample] {
        [LayerExample("Discretization", ["bin_boundaries": [-0.5, 0, 0.5]], inputs: [[3]])]
    }
    /// The configured boundaries; nil for an adapted tf-keras layer, whose come from its summary weight.
    package let configuredBoundaries: [Double]?
    package let output: CategoricalOutput

    package required init(_ context: LayerContext) throws {
        let config = context.config
        if let list = config.object["bin_boundaries"]?.arrayValue {
            let boundaries = try list.map { item in
                guard let number = item.doubleValue else { throw config.error("bin_boundaries", expected: "a list of numbers", found: .array(list)) }
                return number
            }
            guard zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 <= $1 }) else {
                throw config.error("bin_boundaries", expected: "ascending numbers", found: .array(list))
            }
            configuredBoundaries = boundaries
        } else if context.dialect < .keras3, let bins = try config.optionalInt("num_bins"), bins > 0 {
            configuredBoundaries = nil
        } else {
            throw config.error("bin_boundaries", expected: "a list of numbers (or, in tf-keras, num_bins with the adapted summary weight)", found: config.object["bin_boundaries"])
        }
        output = try CategoricalOutput(config, default: "int", depth: configuredBoundaries.map { $0.count + 1 } ?? config.int("num_bins"))
        try super.init(context)
    }

    /// An adapted tf-keras layer stays unbuilt and takes its summary weight as the file declares it.
    package override func build(_ inputShapes: [TensorShape]) throws {
        if configuredBoundaries != nil { try super.build(inputShapes) }
    }

    /// The summary is not trained (tf-keras's `add_weight(trainable=False)`), and as its shape is `(2, None)`
    /// to Keras, Keras's parameter counts leave it out.
    package override func adoptFileWeights(_ arrays: [WeightArray]) {
        super.adoptFileWeights(arrays)
        for index in weightSpecs.indices {
            weightSpecs[index].trainable = false
            weightSpecs[index].countedByKeras = false
        }
    }

    /// The boundaries: configured, or from the summary weight as tf-keras's `get_bin_boundaries` computes them.
    private func boundaries() throws -> [Float] {
        if let configuredBoundaries { return configuredBoundaries.map(Float.init) }
        guard let summary = weights.first, summary.shape.count == 2, summary.shape[0] == 2 else {
            throw ModelError(layer: label, "an adapted Discretization needs its summary weight of shape (2, n), found \(weights.map(\.shape))")
        }
        let values = try summary.values()
        let count = summary.shape[1]
        return QuantileSummary(values: Array(values[..<count]), weights: Array(values[count...]))
            .binBoundaries(bins: try ConfigReader(config).int("num_bins"))
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        [output.shape(try singleInput(inputShapes))]
    }

    override package var unsupportedReason: String? { output.unsupportedReason }

    /// Keras 3's Discretization takes no `trainable` argument (and writes none).
    package override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("trainable", onlyIn: .keras2, why: "Keras 3's Discretization takes no trainable flag")]
    }

    /// Keras 3 keeps `num_bins` beside the boundaries it adapted; tf-keras refuses both together. tf-keras
    /// gives an `int` layer the dtype int64 (its outputs'); Keras 3 would cast the inputs to it before
    /// bucketing, so it gets the float policy Keras 3 itself writes.
    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        if configuredBoundaries == nil, export.target >= .keras3 {
            throw ModelError("kconv writes an adapted tf-keras Discretization (boundaries in a quantile summary weight) only for tf-keras, which computes them from it; Keras 3 keeps them in the config")
        }
        if export.target == .keras2, configuredBoundaries != nil { config["num_bins"] = .null }
        if export.target == .keras3, let name = dtypeName(config["dtype"]), DType(kerasName: name)?.isInteger == true {
            config["dtype"] = try export.dtype("float32")
        }
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let input = try singleInput(call).value
        let boundaries = try boundaries()
        if output.encoding != nil, boundaries.count + 1 != output.depth {
            throw ModelError(layer: label, "the summary gives \(boundaries.count + 1) buckets where num_bins says \(output.depth), so Keras's output shape and its encoding disagree")
        }
        let op = Op.bucketize(boundaries: boundaries)
        // Elementwise: the buckets have the input's shape; tf-keras gives them as int64, Keras 3 (TensorFlow's
        // Bucketize under ops.digitize) as int32.
        let dtype: DType = dialect >= .keras3 ? .int32 : .int64
        let buckets = graph.add(op, inputs: [input], outputs: [ValueType(dtype: dtype, shape: graph.type(of: input).shape)], origin: label)[0]
        return [try output.lower(buckets, call, origin: label, into: &graph)]
    }
}

/// tf-keras's quantile summary of an adapted Discretization: values ascending with their weights.
private struct QuantileSummary {
    var values: [Float]
    var weights: [Float]

    /// `get_bin_boundaries(summary, bins)`: the summary compressed to `1/bins` precision
    /// (`_compress_summary_numpy`), its values but the last, in float32 as NumPy leaves them.
    func binBoundaries(bins: Int) -> [Float] {
        Array(compressedValues(epsilon: 1 / Double(bins)).dropLast())
    }

    /// The values at the percents `ε, 2ε, …` of the cumulative weight (NumPy's `interp`); the summary as
    /// it is when it has fewer than `1/ε` entries.
    private func compressedValues(epsilon: Double) -> [Float] {
        guard Double(values.count) * epsilon >= 1 else { return values }
        // `np.arange(0, 1, ε)` has ceil(1/ε) entries, computed in double.
        let percents = (0 ..< Int((1 / epsilon).rounded(.up))).map { epsilon + Double($0) * epsilon }
        var cumulative = [Float](), total: Float = 0
        for weight in weights {
            total += weight
            cumulative.append(total)
        }
        let positions = cumulative.map { Double($0 / total) }
        return percents.map { Float(Self.interpolate($0, positions, values.map(Double.init))) }
    }

    /// NumPy's `interp(x, xp, fp)`: the ends outside, the last `xp[j] ≤ x` inside.
    private static func interpolate(_ x: Double, _ xp: [Double], _ fp: [Double]) -> Double {
        guard let first = xp.first, let last = xp.last else { return .nan }
        if x < first { return fp[0] }
        if x >= last { return fp[fp.count - 1] }
        let j = (xp.lastIndex { $0 <= x } ?? 0)
        if xp[j] == x { return fp[j] }
        let slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
        return slope * (x - xp[j]) + fp[j]
    }
}
