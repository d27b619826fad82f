import KConvGraph
import KConvIO

/// A token of a lookup layer's vocabulary: IntegerLookup's integers, StringLookup's strings.
package protocol LookupToken: Hashable, Sendable {
    /// The token a config's JSON (a vocabulary item, `mask_token`, `oov_token`) or a vocabulary file's line holds.
    init?(json: JSONValue)
    init?(line: Substring)
    var json: JSONValue { get }
    /// Keras's `oov_token` when the config has none: IntegerLookup's -1, StringLookup's and
    /// TextVectorization's `[UNK]`.
    static var defaultOOVToken: Self { get }
    /// What the token is, for errors: "an integer", "a string".
    static var kind: String { get }
    /// The dtype of a value holding tokens.
    static var dtype: DType { get }
    /// The graph operation looking `op` up.
    static func operation(_ op: LookupOp<Self>) -> Op
}

extension Int64: LookupToken {
    package init?(json: JSONValue) { guard let int = json.intValue else { return nil }; self = Int64(int) }
    package init?(line: Substring) { self.init(line) }
    package var json: JSONValue { .int(self) }
    package static var defaultOOVToken: Int64 { -1 }
    package static var kind: String { "an integer" }
    package static var dtype: DType { .int64 }
    package static func operation(_ op: LookupOp<Int64>) -> Op { .integerLookup(op) }
}

extension String: LookupToken {
    package init?(json: JSONValue) { guard let string = json.stringValue else { return nil }; self = string }
    package init?(line: Substring) { self.init(line) }
    package var json: JSONValue { .string(self) }
    package static var defaultOOVToken: String { "[UNK]" }
    package static var kind: String { "a string" }
    package static var dtype: DType { .string }
    package static func operation(_ op: LookupOp<String>) -> Op { .stringLookup(op) }
}

/// Keras's `IndexLookup` (keras 3.15 and tf-keras 2.21 `layers/preprocessing/index_lookup.py`), which
/// IntegerLookup and StringLookup specialise: tokens to their vocabulary indices (or back, with `invert`),
/// then encoded unless `output_mode` is `int`. With `int` output the mask token (if any) is index 0, then
/// `num_oov_indices` out-of-vocabulary indices, then the vocabulary; with an encoding the mask token has no
/// index and encodes to nothing. A vocabulary that starts with those special tokens has them stripped.
///
/// kconv reads the vocabulary from the config, or for an adapted Keras 3 layer from the `.keras` archive's
/// assets (a Keras 3 `.h5` loses it; the encodings' width comes from the config's `vocabulary_size`, as
/// shapes are known before the assets are read), and writes it into the config; `tf_idf` weighs the counts
/// by the idf weights the file holds, or (a Keras 3 `.h5`) the config's `idf_weights` laid out as Keras does.
package class IndexLookup<Token: LookupToken>: Layer {
    package private(set) var lookup: LookupOp<Token>?
    package private(set) var output: CategoricalOutput?
    private var refusal: String?
    /// `tf_idf`'s weights as the config's `idf_weights` give them, for a file that does not hold them.
    private var configuredIDF: [Float]?
    /// Where else a Keras 3 archive keeps the idf weights (TextVectorization's inner lookup layer).
    class var idfObjectAliases: [String] { [] }
    let mode: String
    /// `mask_token` when the config has none.
    class var defaultMaskToken: Token? { nil }
    /// What kconv cannot compute about this table, or nil.
    func refusal(oovIndices: Int, invert: Bool) throws -> String? { nil }

    package required init(_ context: LayerContext) throws {
        let config = context.config
        mode = try config.string("output_mode", default: "int")
        try super.init(context)
        guard let items = config.object["vocabulary"]?.arrayValue else {
            refusal = config.has("vocabulary") ? "a vocabulary kept in a file" : "a vocabulary that is not in the config (an adapted Keras 3 layer keeps it in a .keras archive's assets, which a .h5 file does not hold)"
            if let size = try config.optionalInt("vocabulary_size") { output = try CategoricalOutput(config, default: "int", depth: size, tfIdf: true) }
            return
        }
        try configure(vocabulary: items.map { item in
            guard let token = Token(json: item) else { throw config.error("vocabulary", expected: "a list of \(Token.kind.dropFirst(Token.kind.hasPrefix("an ") ? 3 : 2))s", found: .array(items)) }
            return token
        })
    }

    /// A special token from the config, or `fallback` when absent (nil when null).
    private func token(_ key: String, default fallback: Token?) throws -> Token? {
        guard let value = config[key], ConfigReader(config).has(key) else { return fallback }
        if value.isNull { return nil }
        guard let token = Token(json: value) else { throw ConfigReader(config).error(key, expected: Token.kind, found: value) }
        return token
    }

    /// The table and encoding for `vocabulary` (special tokens at its start are stripped, as Keras does).
    private func configure(vocabulary: [Token]) throws {
        let config = ConfigReader(self.config)
        let oovIndices = try config.int("num_oov_indices", default: 1)
        let maskToken = try token("mask_token", default: Self.defaultMaskToken)
        let oovToken = try token("oov_token", default: Token.defaultOOVToken) ?? Token.defaultOOVToken
        let invert = try config.bool("invert", default: false)
        guard oovIndices >= 0 else { throw config.error("num_oov_indices", expected: "a non-negative integer", found: config.object["num_oov_indices"]) }
        var vocabulary = vocabulary
        let oovStart = maskToken != nil && mode == "int" ? 1 : 0
        let tokenStart = oovStart + oovIndices
        let special = (oovStart == 1 ? [maskToken].compactMap { $0 } : []) + Array(repeating: oovToken, count: oovIndices)
        let foundSpecial = vocabulary.starts(with: special)
        if foundSpecial, !special.isEmpty { vocabulary.removeFirst(special.count) }
        let padToMax = try config.bool("pad_to_max_tokens", default: false)
        let depth = padToMax ? try config.int("max_tokens") : tokenStart + vocabulary.count
        if let shaped = output?.depth, shaped != depth {
            throw ModelError(layer: label, field: "vocabulary.txt", "expected \(shaped) tokens (vocabulary_size), found \(depth)")
        }
        output = try CategoricalOutput(config, default: "int", depth: depth, tfIdf: true)
        if mode == "tf_idf" { configuredIDF = try idfWeights(count: foundSpecial ? tokenStart + vocabulary.count : vocabulary.count, depth: depth, front: foundSpecial ? 0 : tokenStart) }
        lookup = LookupOp(vocabulary: vocabulary, tokenStart: tokenStart, oovStart: oovStart, oovIndices: oovIndices,
                          maskToken: maskToken, maskIndex: mode == "int" ? 0 : .max, oovToken: oovToken, invert: invert)
        let encoding = try config.string("encoding", default: "utf-8").lowercased()
        refusal = try refusal(oovIndices: oovIndices, invert: invert)
            ?? (invert && mode != "int" ? "an inverted lookup with output_mode '\(mode)'" : nil)
            ?? (["utf-8", "utf8"].contains(encoding) ? nil : "encoding '\(encoding)' (kconv reads UTF-8 strings)")
    }

    /// `tf_idf`'s weights from the config's `idf_weights` (`count`: one per token of the vocabulary as given),
    /// laid out as `set_vocabulary` does: `front` slots for the special tokens the vocabulary left out weigh
    /// the average, slots past the vocabulary up to `depth` (`pad_to_max_tokens`) weigh 0. Nil without them.
    private func idfWeights(count: Int, depth: Int, front: Int) throws -> [Float]? {
        let config = ConfigReader(self.config)
        guard let items = config.object["idf_weights"]?.arrayValue else { return nil }
        let given = items.compactMap(\.doubleValue)
        guard given.count == items.count, given.count == count, count > 0, front + count <= depth else {
            throw config.error("idf_weights", expected: "one number per vocabulary token (\(count))", found: .array(items))
        }
        try requireBudget(floats: depth, for: "the idf weights, one per token up to max_tokens")
        let average = given.reduce(0, +) / Double(given.count)
        return (Array(repeating: average, count: front) + given + Array(repeating: 0, count: depth - front - given.count)).map { Float($0) }
    }

    /// An adapted Keras 3 layer's vocabulary, `vocabulary.txt` in its assets: one token a line, special
    /// tokens first (`index_lookup.py`'s `save_assets`). An encoding's width, which shapes fixed before the
    /// assets are read, must be the config's `vocabulary_size`.
    package override func readAssets(_ read: (String) throws -> [UInt8]?) throws {
        guard lookup == nil, config["vocabulary"]?.isNull ?? true, let bytes = try read("vocabulary.txt") else { return }
        guard mode == "int" || output != nil else {
            refusal = "an adapted vocabulary with output_mode '\(mode)' and no vocabulary_size in the config"
            return
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ModelError(layer: label, field: "vocabulary.txt", "expected UTF-8 text")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        while lines.last?.isEmpty == true { lines.removeLast() }
        try configure(vocabulary: lines.map { line in
            guard let value = Token(line: line) else { throw ModelError(layer: label, field: "vocabulary.txt", "expected \(Token.kind) a line, found '\(line)'") }
            return value
        })
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        return [output?.shape(input) ?? input]
    }

    /// `tf_idf`'s weight per output slot, which Keras keeps outside `layer.weights` (no parameters): a Keras 3
    /// archive as the layer's own variable `idf_weights`, tf-keras's `.h5` as an unnamed `Variable:0`.
    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        guard mode == "tf_idf", let depth = output?.depth else { return [] }
        return [WeightSpec(name: "idf_weights", shape: [depth], trainable: false, objectPath: "vars/idf_weights", legacyName: "Variable:0",
                           legacyNameIsComplete: true, objectAliases: Self.idfObjectAliases, countedByKeras: false)]
    }

    /// A Keras 3 `.h5` holds no idf weights: they come from the config. Without them there (an adapted
    /// layer, whose vocabulary the file lacks too) the layer is refused, but the file still inspects.
    package override func storedWeights(_ arrays: [WeightArray]) throws -> [WeightArray] {
        guard arrays.isEmpty, let spec = weightSpecs.first else { return arrays }
        guard let configuredIDF else {
            let missing = "idf weights, which an adapted Keras 3 layer keeps only in a .keras archive"
            refusal = refusal ?? missing
            return [WeightArray(name: spec.name, shape: spec.shape) { [label] in throw ModelError(layer: label, "no \(missing)") }]
        }
        return [WeightArray(name: spec.name, shape: [configuredIDF.count]) { configuredIDF }]
    }

    override package var unsupportedReason: String? { refusal ?? output?.unsupportedReason }

    /// An inverted lookup takes indices: those of its vocabulary and one past it.
    package override var inputVocabulary: Int? { lookup.flatMap { $0.invert ? $0.tokenStart + $0.vocabulary.count + 1 : nil } }

    package override var inputWords: [String]? { lookup.flatMap { $0.invert ? nil : $0.vocabulary as? [String] } }

    /// A vocabulary kconv did not read (kept in assets or a file) would be lost: such a layer is not written.
    /// tf-keras requires an integer layer dtype for integer outputs (its own default, int64); Keras 3
    /// writes its float policy there and reads either.
    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        guard let lookup else { throw ModelError("kconv does not carry over \(refusal ?? "this vocabulary"), so the written layer would have no vocabulary") }
        // A vocabulary read from the assets goes into the config, which both versions read. With `tf_idf`
        // Keras then needs the idf weights there too: the vocabulary starts with its special tokens, so
        // that the weights keep the values adapt() gave those slots (not their average).
        if config["vocabulary"]?.isNull ?? true {
            if mode == "tf_idf", let idf = weights.first {
                let special = (lookup.oovStart == 1 ? [lookup.maskToken].compactMap { $0 } : []) + Array(repeating: lookup.oovToken, count: lookup.oovIndices)
                config["vocabulary"] = .array((special + lookup.vocabulary).map(\.json))
                config["idf_weights"] = .array(try idf.values().prefix(special.count + lookup.vocabulary.count).map { .double(Double($0)) })
            } else {
                config["vocabulary"] = .array(lookup.vocabulary.map(\.json))
            }
        }
        if export.target == .keras2, let dtype = keras2DType(invert: lookup.invert) { config["dtype"] = dtype }
    }

    /// The layer dtype tf-keras needs: int64 for integer outputs (tokens, when inverted).
    func keras2DType(invert: Bool) -> JSONValue? {
        output?.encoding == nil ? .string(invert ? Token.dtype.rawValue : "int64") : nil
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let lookup, let output else { throw ModelError(layer: label, "kconv cannot compute \(refusal ?? "this lookup")") }
        // Elementwise: the indices (inverted: the tokens) have the input's shape.
        let input = try singleInput(call).value
        let dtype: DType = lookup.invert ? Token.dtype : .int64
        let indices = graph.add(Token.operation(lookup), inputs: [input], outputs: [ValueType(dtype: dtype, shape: graph.type(of: input).shape)], origin: label)[0]
        // Keras 3 gives its encodings as int64 whatever the layer's dtype policy; tf-keras as float32.
        return [try output.lower(indices, call, origin: label, dtype: dialect >= .keras3 ? .int64 : .float32, idf: try weightValues(&graph).first, into: &graph)]
    }
}
