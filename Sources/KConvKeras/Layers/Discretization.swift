import KConvGraph
import KConvIO

/// `Discretization(bin_boundaries, output_mode)`: each value's bucket, the number of boundaries at or below
/// it (`tf.raw_ops.Bucketize` in both tf-keras 2.21 and Keras 3.15), then encoded over
/// `len(bin_boundaries) + 1` buckets unless `output_mode` is `int`. Keras 3 writes an adapted layer's
/// boundaries into its config; tf-keras keeps them as a quantile summary weight of a shape only known from
/// the file, which kconv does not read yet.
public final class Discretization: Layer {
    package override class var kerasClassNames: [String] { ["Discretization"] }
    package override class var examples: [LayerExample] {
        [LayerExample("Discretization", ["bin_boundaries": [-0.5, 0, 0.5]], inputs: [[3]])]
    }
    public let boundaries: [Double]
    public let output: CategoricalOutput

    public required init(_ context: LayerContext) throws {
        let config = context.config
        guard let list = config.object["bin_boundaries"]?.arrayValue else {
            throw ModelError(field: "config.bin_boundaries", "kconv needs the bin boundaries in the config, found \(config.object["bin_boundaries"].map(ConfigReader.describe) ?? "nothing") (tf-keras keeps an adapted layer's boundaries as a quantile summary, which kconv does not read yet)")
        }
        boundaries = try list.map { item in
            guard let number = item.doubleValue else { throw config.error("bin_boundaries", expected: "a list of numbers", found: .array(list)) }
            return number
        }
        guard zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw config.error("bin_boundaries", expected: "ascending numbers", found: .array(list))
        }
        output = try CategoricalOutput(config, default: "int", depth: boundaries.count + 1)
        try super.init(context)
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        [output.shape(try singleInput(inputShapes))]
    }

    override public var unsupportedReason: String? { output.unsupportedReason }

    /// Keras 3's Discretization takes no `trainable` argument (and writes none).
    package override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("trainable", onlyIn: .keras2, why: "Keras 3's Discretization takes no trainable flag")]
    }

    /// Keras 3 keeps `num_bins` beside the boundaries it adapted; tf-keras refuses both together. tf-keras
    /// gives an `int` layer the dtype int64 (its outputs'); Keras 3 would cast the inputs to it before
    /// bucketing, so it gets the float policy Keras 3 itself writes.
    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        if export.target == .keras2 { config["num_bins"] = .null }
        if export.target == .keras3, let name = dtypeName(config["dtype"]), DType(kerasName: name)?.isInteger == true {
            config["dtype"] = try export.dtype("float32")
        }
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let input = try singleInput(call).value
        let op = Op.bucketize(boundaries: boundaries.map(Float.init))
        // Elementwise: the buckets have the input's shape.
        let buckets = graph.add(op, inputs: [input], outputs: [ValueType(dtype: .int64, shape: graph.type(of: input).shape)], origin: label)[0]
        return [output.lower(buckets, call, origin: label, into: &graph)]
    }
}
