import KConvGraph
import KConvIO

/// `Hashing(num_bins, mask_value, salt, output_mode)`: each string, or each whole number's decimal string,
/// hashed into `num_bins` bins (one of them kept for `mask_value`) by FarmHash's Fingerprint64, or with a
/// `salt` by SipHash-2-4 keyed with it (`to_hash_bucket_strong`), then encoded unless `output_mode` is `int`
/// (tf-keras 2.21 and keras 3.15 `layers/preprocessing/hashing.py`, `_hash_values_to_bins`; Keras 3
/// truncates float inputs to integers first, tf-keras takes integers and strings only).
package final class Hashing: Layer {
    package override class var kerasClassNames: [String] { ["Hashing"] }
    package override class var examples: [LayerExample] { [LayerExample("Hashing", ["num_bins": 3], inputs: [[4]])] }
    package let bins: Int
    package let maskValue: JSONValue?
    /// SipHash's key: a single integer `s` is `[s, s]`.
    package let salt: [UInt64]?
    package let output: CategoricalOutput

    package required init(_ context: LayerContext) throws {
        let config = context.config
        bins = try config.int("num_bins")
        guard bins > 0 else { throw config.error("num_bins", expected: "a positive number of bins", found: config.object["num_bins"]) }
        let mask = config.object["mask_value"]
        guard mask == nil || mask?.isNull == true || mask?.intValue != nil || mask?.stringValue != nil else {
            throw config.error("mask_value", expected: "an integer or a string", found: mask)
        }
        maskValue = mask?.isNull == false ? mask : nil
        switch config.object["salt"] {
        case nil, .null?: salt = nil
        case let value?:
            let words = value.intValue.map { [$0, $0] } ?? value.arrayValue?.compactMap(\.intValue) ?? []
            guard words.count == 2 else { throw config.error("salt", expected: "an integer or a list of 2 integers", found: value) }
            salt = words.map { UInt64(bitPattern: Int64($0)) }
        }
        output = try CategoricalOutput(config, default: "int", depth: bins)
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        [output.shape(try singleInput(inputShapes))]
    }

    override package var unsupportedReason: String? { output.unsupportedReason }

    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        output.exportDType(into: &config, export)
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        if let reason = unsupportedReason { throw ModelError(layer: label, "kconv cannot compute \(reason)") }
        let input = try singleInput(call).value
        // With one bin there is no bin to keep for the mask value, which Keras then ignores.
        let masked = bins > 1 ? maskValue : nil
        let op = HashingOp(bins: masked != nil ? bins - 1 : bins, maskValue: masked?.intValue.map(Int64.init),
                           maskString: masked?.stringValue, salt: salt)
        // Elementwise: the bins have the input's shape.
        let hashed = graph.add(.hashing(op), inputs: [input], outputs: [ValueType(dtype: .int64, shape: graph.type(of: input).shape)], origin: label)[0]
        return [try output.lower(hashed, call, origin: label, into: &graph)]
    }
}
