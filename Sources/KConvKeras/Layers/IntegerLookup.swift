import KConvGraph
import KConvIO

/// `IntegerLookup(vocabulary, num_oov_indices, mask_token, oov_token, invert, output_mode)`: integers to
/// their vocabulary indices (or back, with `invert`), then encoded unless `output_mode` is `int`. Keras's
/// index layout (keras 3.15 and tf-keras 2.21 `layers/preprocessing/index_lookup.py`): with `int` output
/// the mask token (if any) is index 0, then `num_oov_indices` out-of-vocabulary indices (a value goes to
/// `value mod num_oov_indices` among them), then the vocabulary; with an encoding the mask token has no
/// index and encodes to nothing. A vocabulary that starts with those special tokens has them stripped.
///
/// kconv reads the vocabulary from the config, or for an adapted Keras 3 layer with `int` outputs from the
/// `.keras` archive's assets (a Keras 3 `.h5` loses it), and writes it into the config; `tf_idf` and Keras
/// 3's `farmhash` OOV hashing are not computed.
package final class IntegerLookup: Layer {
    package override class var kerasClassNames: [String] { ["IntegerLookup"] }
    package override class var examples: [LayerExample] {
        [LayerExample("IntegerLookup", ["vocabulary": [3, 5, 7]], inputs: [[4]])]
    }
    package private(set) var lookup: IntegerLookupOp?
    package private(set) var output: CategoricalOutput?
    private var refusal: String?
    private let mode: String

    package required init(_ context: LayerContext) throws {
        let config = context.config
        mode = try config.string("output_mode", default: "int")
        try super.init(context)
        guard let items = config.object["vocabulary"]?.arrayValue else {
            refusal = config.has("vocabulary") ? "a vocabulary kept in a file" : "a vocabulary that is not in the config (an adapted Keras 3 layer keeps it in a .keras archive's assets, which a .h5 file does not hold)"
            return
        }
        try configure(vocabulary: items.map { item in
            guard let int = item.intValue else { throw config.error("vocabulary", expected: "a list of integers", found: .array(items)) }
            return Int64(int)
        })
    }

    /// The table and encoding for `vocabulary` (special tokens at its start are stripped, as Keras does).
    private func configure(vocabulary: [Int64]) throws {
        let config = ConfigReader(self.config)
        let oovIndices = try config.int("num_oov_indices", default: 1)
        let maskToken = try config.optionalInt("mask_token").map(Int64.init)
        let oovToken = Int64(try config.int("oov_token", default: -1))
        let invert = try config.bool("invert", default: false)
        guard oovIndices >= 0 else { throw config.error("num_oov_indices", expected: "a non-negative integer", found: config.object["num_oov_indices"]) }
        var vocabulary = vocabulary
        let oovStart = maskToken != nil && mode == "int" ? 1 : 0
        let tokenStart = oovStart + oovIndices
        let special = Array(repeating: maskToken ?? 0, count: oovStart) + Array(repeating: oovToken, count: oovIndices)
        if vocabulary.starts(with: special), !special.isEmpty { vocabulary.removeFirst(special.count) }
        let padToMax = try config.bool("pad_to_max_tokens", default: false)
        let depth = padToMax ? try config.int("max_tokens") : tokenStart + vocabulary.count
        output = try CategoricalOutput(config, default: "int", depth: depth)
        lookup = IntegerLookupOp(vocabulary: vocabulary, tokenStart: tokenStart, oovStart: oovStart, oovIndices: oovIndices,
                                 maskToken: maskToken, maskIndex: mode == "int" ? 0 : .max, oovToken: oovToken, invert: invert)
        let hashed = try config.string("oov_method", default: "floormod") != "floormod" && oovIndices > 1
        refusal = hashed ? "oov_method 'farmhash'" : invert && mode != "int" ? "an inverted lookup with output_mode '\(mode)'" : nil
    }

    /// An adapted Keras 3 layer's vocabulary, `vocabulary.txt` in its assets: one integer a line, special
    /// tokens first (`index_lookup.py`'s `save_assets`). Read only for `int` outputs, whose shape does not
    /// depend on the vocabulary (the model's shapes are known before the assets are read).
    package override func readAssets(_ read: (String) throws -> [UInt8]?) throws {
        guard lookup == nil, config["vocabulary"]?.isNull ?? true, let bytes = try read("vocabulary.txt") else { return }
        guard mode == "int" else {
            refusal = "an adapted vocabulary with output_mode '\(mode)' (kconv reads one for int outputs only)"
            return
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ModelError(layer: label, field: "vocabulary.txt", "expected UTF-8 text")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        while lines.last?.isEmpty == true { lines.removeLast() }
        try configure(vocabulary: lines.map { line in
            guard let value = Int64(line) else { throw ModelError(layer: label, field: "vocabulary.txt", "expected one integer a line, found '\(line)'") }
            return value
        })
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        return [output?.shape(input) ?? input]
    }

    /// Keras 3's farmhash OOV option; tf-keras hashes nothing.
    package override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("oov_method", onlyIn: .keras3, value: "floormod", why: "tf-keras maps out-of-vocabulary integers by floormod only"),
         VersionOnlyKey("salt", onlyIn: .keras3, value: .null, why: "tf-keras does not hash out-of-vocabulary integers")]
    }

    override package var unsupportedReason: String? { refusal ?? output?.unsupportedReason }

    /// A vocabulary kconv did not read (kept in assets or a file) would be lost: such a layer is not written.
    /// tf-keras requires an integer layer dtype for integer outputs (its own default, int64); Keras 3
    /// writes its float policy there and reads either.
    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        guard let lookup else { throw ModelError("kconv does not carry over \(refusal ?? "this vocabulary"), so the written layer would have no vocabulary") }
        // A vocabulary read from the assets goes into the config, which both versions read.
        if config["vocabulary"]?.isNull ?? true { config["vocabulary"] = .array(lookup.vocabulary.map { .int($0) }) }
        if export.target == .keras2, output?.encoding == nil { config["dtype"] = "int64" }
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let lookup, let output else { throw ModelError(layer: label, "kconv cannot compute \(refusal ?? "this lookup")") }
        // Elementwise: the indices have the input's shape.
        let input = try singleInput(call).value
        let indices = graph.add(.integerLookup(lookup), inputs: [input], outputs: [ValueType(dtype: .int64, shape: graph.type(of: input).shape)], origin: label)[0]
        // Keras 3 gives its encodings as int64 whatever the layer's dtype policy; tf-keras as float32.
        return [output.lower(indices, call, origin: label, dtype: dialect >= .keras3 ? .int64 : .float32, into: &graph)]
    }
}
