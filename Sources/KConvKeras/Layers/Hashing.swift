import KConvGraph
import KConvIO

/// `Hashing(num_bins, mask_value, salt, output_mode)` on whole numbers: each value's decimal string hashed
/// by FarmHash's Fingerprint64 into `num_bins` bins (one of them kept for `mask_value`), then encoded unless
/// `output_mode` is `int` (tf-keras 2.21 and keras 3.15 `layers/preprocessing/hashing.py`,
/// `_hash_values_to_bins`; Keras 3 truncates float inputs to integers first, tf-keras takes integers
/// only). kconv does not hash strings (it has no string tensors), nor with a `salt`, which switches to
/// SipHash (`to_hash_bucket_strong`).
package final class Hashing: Layer {
    package override class var kerasClassNames: [String] { ["Hashing"] }
    package override class var examples: [LayerExample] { [LayerExample("Hashing", ["num_bins": 3], inputs: [[4]])] }
    package let bins: Int
    package let maskValue: Int64?
    package let salted: Bool
    package let output: CategoricalOutput

    package required init(_ context: LayerContext) throws {
        let config = context.config
        bins = try config.int("num_bins")
        guard bins > 0 else { throw config.error("num_bins", expected: "a positive number of bins", found: config.object["num_bins"]) }
        guard config.object["mask_value"]?.stringValue == nil else {
            throw config.error("mask_value", expected: "an integer (kconv hashes no strings)", found: config.object["mask_value"])
        }
        maskValue = try config.optionalInt("mask_value").map(Int64.init)
        salted = !(config.object["salt"]?.isNull ?? true)
        output = try CategoricalOutput(config, default: "int", depth: bins)
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        [output.shape(try singleInput(inputShapes))]
    }

    override package var unsupportedReason: String? {
        salted ? "a salted Hashing (SipHash, to_hash_bucket_strong)" : output.unsupportedReason
    }

    /// tf-keras requires an integer layer dtype for integer outputs (int64, its default); Keras 3 reads either.
    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        if export.target == .keras2, output.encoding == nil { config["dtype"] = "int64" }
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        if let reason = unsupportedReason { throw ModelError(layer: label, "kconv cannot compute \(reason)") }
        let input = try singleInput(call).value
        let op = HashingOp(bins: maskValue != nil && bins > 1 ? bins - 1 : bins, maskValue: maskValue)
        // Elementwise: the bins have the input's shape.
        let hashed = graph.add(.hashing(op), inputs: [input], outputs: [ValueType(dtype: .int64, shape: graph.type(of: input).shape)], origin: label)[0]
        return [output.lower(hashed, call, origin: label, into: &graph)]
    }
}
