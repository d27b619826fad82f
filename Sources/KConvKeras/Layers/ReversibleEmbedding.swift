import KConvGraph
import KConvIO

/// Keras 3 `ReversibleEmbedding`: an Embedding that, called with `reverse=True`, maps vectors back to logits
/// over the vocabulary, `x · embeddingsᵀ` (tied, the default) or `x · reverse_embeddings` (`tie_weights=False`,
/// an `(output_dim, input_dim)` weight), then with `logit_soft_cap` `tanh(logits / cap) · cap`. Forward, it
/// is the Embedding it extends, mask included.
package final class ReversibleEmbedding: Embedding {
    package override class var kerasClassNames: [String] { ["ReversibleEmbedding"] }
    package override class var examples: [LayerExample] {
        [LayerExample("ReversibleEmbedding", ["input_dim": 5, "output_dim": 2], inputs: [[3]])]
    }
    package override class var absentIn: [KerasDialect: String] { [.keras2: "tf-keras has no ReversibleEmbedding"] }
    package let tieWeights: Bool
    package let logitSoftCap: Double?
    /// `reverse_dtype`: the dtype the reverse product is computed in (nil: the layer's).
    package let reverseDType: String?

    package required init(_ context: LayerContext) throws {
        let config = context.config
        tieWeights = try config.bool("tie_weights", default: true)
        logitSoftCap = try config.optionalDouble("logit_soft_cap")
        reverseDType = config.object["reverse_dtype"]?.stringValue
        try super.init(context)
    }

    override package var unsupportedReason: String? {
        guard let reverseDType, reverseDType != "float32" else { return nil }
        return "reverse_dtype \(reverseDType): kconv computes the reverse product in float32 only"
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        try super.makeWeights(inputShapes) + (tieWeights ? [] : [weight("reverse_embeddings", [outputDim, inputDim], index: 1)])
    }

    /// Whether the recorded call passed `reverse=True`.
    private func reverses(_ call: JSONValue) -> Bool {
        GraphBuilder.recordedArgument(call, "reverse")?.boolValue == true
    }

    override package func outputShapes(_ inputShapes: [TensorShape], call: JSONValue) throws -> [TensorShape] {
        guard reverses(call) else { return try outputShapes(inputShapes) }
        let input = try singleInput(inputShapes)
        guard input.last == outputDim else {
            throw ModelError(layer: label, "a reverse call takes vectors of output_dim \(outputDim), found \(input.kerasDescription)")
        }
        return [input.dropLast() + [inputDim]]
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard reverses(call.recordedCall) else { return try super.lower(call, into: &graph) }
        let input = try singleInput(call).value
        guard weights.count == weightSpecs.count else {
            throw EngineError("no weights loaded: give the weights file that goes with this config")
        }
        let kernel = tieWeights ? try weights[0].transposed([1, 0]) : weights[1]
        let kernelValue = graph.constant(Constant(origin: label, name: kernel.name, shape: kernel.shape, read: kernel.values))
        let shape = call.outputShapes?.first?.dims
        var logits = addNode(.dense(activation: .linear), [input, kernelValue, nil], shape: shape, into: &graph)
        if let logitSoftCap {
            let cap = Float(logitSoftCap)
            logits = addNode(.scaleShift(scale: [1 / cap], offset: [0]), [logits], shape: shape, into: &graph)
            logits = addNode(.activation(.tanh), [logits], shape: shape, into: &graph)
            logits = addNode(.scaleShift(scale: [cap], offset: [0]), [logits], shape: shape, into: &graph)
        }
        return [LoweredTensor(value: logits, mask: nil)]
    }
}
