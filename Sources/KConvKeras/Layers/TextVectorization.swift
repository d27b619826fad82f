import KConvGraph
import KConvIO

/// `TextVectorization(max_tokens, standardize, split, ngrams, output_mode, output_sequence_length,
/// vocabulary)`: each string standardized, split into tokens, n-grams added, and the tokens looked up in a
/// StringLookup whose mask token is `""` (keras 3.15 and tf-keras 2.21 `text_vectorization.py`; see
/// `TextVectorizationOp` and `IndexLookup`). `int` outputs give each sample's indices padded with 0 (the
/// mask) to `output_sequence_length` (truncated past it) or to the batch's longest sample; the encodings
/// count each sample's tokens. Custom `standardize` and `split` functions and ragged outputs are refused.
package final class TextVectorization: IndexLookup<String> {
    package override class var kerasClassNames: [String] { ["TextVectorization"] }
    package override class var examples: [LayerExample] {
        [LayerExample("TextVectorization", ["vocabulary": ["a", "b"], "output_sequence_length": 3], inputs: [[1]], dtype: .string)]
    }
    override class var defaultMaskToken: String? { "" }
    /// Keras 3 saves the idf weights again under the inner StringLookup.
    override class var idfObjectAliases: [String] { ["_lookup_layer/vars/idf_weights"] }
    package let standardize: String?
    package let split: String?
    package let ngrams: [Int]?
    package let sequenceLength: Int?

    package required init(_ context: LayerContext) throws {
        let config = context.config
        standardize = config.object["standardize"]?.stringValue
        split = config.object["split"]?.stringValue
        if let width = config.object["ngrams"]?.intValue {
            ngrams = Array(1...max(width, 1))
        } else if let widths = config.object["ngrams"]?.arrayValue {
            ngrams = try widths.map { item in
                guard let width = item.intValue, width > 0 else { throw config.error("ngrams", expected: "positive integers", found: .array(widths)) }
                return width
            }
        } else {
            ngrams = nil
        }
        sequenceLength = try config.optionalInt("output_sequence_length")
        if let sequenceLength, sequenceLength < 0 {
            throw config.error("output_sequence_length", expected: "a non-negative length", found: .int(Int64(sequenceLength)))
        }
        try super.init(context)
    }

    override func refusal(oovIndices: Int, invert: Bool) throws -> String? {
        let config = ConfigReader(self.config)
        let standardizations = ["lower_and_strip_punctuation", "lower", "strip_punctuation"]
        if !(config.object["standardize"]?.isNull ?? true), !standardizations.contains(standardize ?? "") { return "a custom standardize function" }
        if !(config.object["split"]?.isNull ?? true), TextVectorizationOp.Split(rawValue: split ?? "") == nil { return "a custom split function" }
        return try config.bool("ragged", default: false) ? "ragged outputs" : nil
    }

    /// `int` outputs are `[batch, output_sequence_length]` (None without one); the encodings `[batch, depth]`.
    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        guard mode == "int" else { return [[input.first ?? nil, output?.depth]] }
        return [[input.first ?? nil, sequenceLength]]
    }

    /// tf-keras's TextVectorization takes strings: its layer dtype is `string`.
    override func keras2DType(invert: Bool) -> JSONValue? { "string" }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let lookup, let output, unsupportedReason == nil else { throw ModelError(layer: label, "kconv cannot compute \(unsupportedReason ?? "this vocabulary")") }
        let input = try singleInput(call).value
        let op = TextVectorizationOp(
            lower: ["lower_and_strip_punctuation", "lower"].contains(standardize ?? ""),
            stripPunctuation: ["lower_and_strip_punctuation", "strip_punctuation"].contains(standardize ?? ""),
            split: split.flatMap(TextVectorizationOp.Split.init), ngrams: ngrams, lookup: lookup,
            // The encodings count tokens: padding must encode to nothing.
            length: mode == "int" ? sequenceLength : nil, padding: mode == "int" ? 0 : -1)
        let batch = graph.type(of: input).shape?.first ?? .symbol("batch")
        let width: Dim? = mode == "int" ? sequenceLength.map(Dim.size) : nil
        let indices = graph.add(.textVectorization(op), inputs: [input],
                                outputs: [ValueType(dtype: .int64, shape: width.map { [batch, $0] })], origin: label)[0]
        return [try output.lower(indices, call, origin: label, dtype: dialect >= .keras3 ? .int64 : .float32, idf: try weightValues(&graph).first, into: &graph)]
    }
}
