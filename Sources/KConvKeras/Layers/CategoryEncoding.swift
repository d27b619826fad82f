import KConvGraph
import KConvIO

/// `CategoryEncoding(num_tokens, output_mode)`: whole numbers in `[0, num_tokens)` as one-hot rows, or per
/// sample as multi-hot flags or counts (Keras's `encode_categorical_inputs`, the same in tf-keras 2.21 and
/// Keras 3.15). Values out of range set nothing (tf-keras asserts they are in range). Also the encoding
/// stage of Discretization and IntegerLookup, through `CategoricalOutput`.
package final class CategoryEncoding: Layer {
    package override class var kerasClassNames: [String] { ["CategoryEncoding"] }
    package override class var examples: [LayerExample] {
        [LayerExample("CategoryEncoding", ["num_tokens": 4, "output_mode": "multi_hot"], inputs: [[3]])]
    }
    package let output: CategoricalOutput

    package required init(_ context: LayerContext) throws {
        output = try CategoricalOutput(context.config, default: "multi_hot", depth: try context.config.int("num_tokens"))
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        [output.shape(try singleInput(inputShapes))]
    }

    /// Keras 3's CategoryEncoding has no `sparse` key; tf-keras's is false unless sparse outputs were asked for.
    package override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("sparse", onlyIn: .keras2, value: false, why: "Keras 3's CategoryEncoding has no sparse output")]
    }

    override package var unsupportedReason: String? { output.unsupportedReason }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard call.inputs.count == 1 else { throw ModelError(layer: label, "kconv does not compute count_weights") }
        return [try output.lower(try singleInput(call).value, call, origin: label, into: &graph)]
    }
}

/// The `output_mode` of Keras's categorical preprocessing layers: `int` (the indices themselves), or an
/// encoding with `depth` slots (`one_hot`, `multi_hot`, `count`, and with `tfIdf` the lookups' `tf_idf`:
/// the counts times the layer's idf weights, float32 in both Kerases).
package struct CategoricalOutput: Sendable {
    package let mode: String
    package let depth: Int
    package let sparse: Bool

    init(_ config: ConfigReader, default fallback: String, depth: Int, tfIdf: Bool = false) throws {
        mode = try config.choice("output_mode", ["int", "one_hot", "multi_hot", "count"] + (tfIdf ? ["tf_idf"] : []), default: fallback)
        sparse = try config.bool("sparse", default: false)
        guard depth > 0 else { throw config.error("num_tokens", expected: "a positive number of tokens", found: .int(Int64(depth))) }
        self.depth = depth
    }

    /// The encoding, or nil for `int`; `tf_idf` weighs the counts.
    var encoding: CategoryEncodingOp.Mode? { mode == "tf_idf" ? .count : CategoryEncodingOp.Mode(rawValue: mode) }

    var unsupportedReason: String? {
        sparse && mode != "int" ? "sparse outputs" : nil
    }

    /// Keras's `compute_output_shape`: one-hot appends `depth` (replacing a trailing 1); multi-hot and
    /// count replace the last axis.
    func shape(_ input: TensorShape) -> TensorShape {
        switch encoding {
        case nil: input
        case .oneHot?: (input.count > 1 && input.last == 1 ? Array(input.dropLast()) : input) + [depth]
        case .multiHot?, .count?: Array(input.dropLast()) + [depth]
        }
    }

    /// tf-keras requires an integer layer dtype for integer outputs (int64, its default); Keras 3 reads either.
    func exportDType(into config: inout JSONObject, _ export: ConfigExport) {
        if export.target == .keras2, encoding == nil { config["dtype"] = "int64" }
    }

    /// `indices` encoded (or passed on for `int`) as values of `dtype`, without a mask; `tf_idf` multiplies
    /// the counts by `idf` (`depth` weights) as float32.
    func lower(_ indices: ValueID, _ call: LoweringCall, origin: String, dtype: DType = .float32, idf: ValueID? = nil,
               into graph: inout Graph) throws -> LoweredTensor {
        guard let encoding else { return LoweredTensor(value: indices, mask: nil) }
        let type = ValueType(dtype: mode == "tf_idf" ? .float32 : dtype, shape: call.outputShapes?.first?.dims)
        let output = graph.add(.categoryEncoding(CategoryEncodingOp(mode: encoding, depth: depth)), inputs: [indices], outputs: [type], origin: origin)[0]
        guard mode == "tf_idf" else { return LoweredTensor(value: output, mask: nil) }
        guard let idf else { throw EngineError("output_mode 'tf_idf' without its idf weights") }
        return LoweredTensor(value: graph.add(.binary(.multiply), inputs: [output, idf], outputs: [type], origin: origin)[0], mask: nil)
    }
}
