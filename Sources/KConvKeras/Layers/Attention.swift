import KConvGraph
import KConvIO

/// Keras `Attention` (Luong-style) and `AdditiveAttention` (Bahdanau-style) over `[query, value]` or
/// `[query, value, key]` (key defaults to value), as both Kerases compute them at inference:
///
/// - scores `[..., Tq, Tv]`: `query · keyᵀ` (times `scale` with `use_scale`); `score_mode="concat"`:
///   `concat_score_weight · Σ tanh(scale · (q + k))` over features; AdditiveAttention: `Σ scale · tanh(q + k)`;
/// - the value mask (`mask[1]`) and, with `use_causal_mask` (a call argument; tf-keras's old `causal`
///   config key), the causal mask: masked scores are lowered by 1e9 before the softmax over `Tv`;
/// - output `softmax · value`, zeroed where the query mask (`mask[0]`) is false; the query mask flows on;
/// - `return_attention_scores=True` adds the softmax weights as a second output. Dropout is off at inference.
///
/// Masks are the inputs' Keras masks, or the call's `mask=[query_mask, value_mask]`. AdditiveAttention's
/// scale has the query's feature count in Keras 3 and the value's in tf-keras, equal in any model that runs.
package final class AttentionLayer: Layer {
    package override class var kerasClassNames: [String] { ["Attention", "AdditiveAttention"] }
    package override class var examples: [LayerExample] {
        [LayerExample("Attention", ["use_scale": true], inputs: [[4, 3], [5, 3]]),
         LayerExample("AdditiveAttention", inputs: [[4, 3], [5, 3]])]
    }
    package enum ScoreMode: String, Sendable { case dot, concat, additive }

    package let scoreMode: ScoreMode
    package let useScale: Bool
    /// tf-keras before 2.10 took causal masking as the config key `causal`.
    package let causal: Bool

    package required init(_ context: LayerContext) throws {
        let config = context.config
        if context.className == "AdditiveAttention" {
            scoreMode = .additive
            useScale = try config.bool("use_scale", default: true)
        } else {
            scoreMode = ScoreMode(rawValue: try config.choice("score_mode", ["dot", "concat"], default: "dot")) ?? .dot
            useScale = try config.bool("use_scale", default: false)
        }
        causal = try config.bool("causal", default: false)
        try super.init(context)
    }

    package override var callSignature: CallSignature { .list }

    package override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("causal", onlyIn: .keras2, value: false, why: "Keras 3 takes causal masking only as the call argument use_causal_mask"),
         VersionOnlyKey("seed", onlyIn: .keras3, why: "a dropout seed, without effect at inference")]
    }

    /// `[query, value, key?]`, checked.
    private func attentionInputs(_ shapes: [TensorShape]) throws -> (query: TensorShape, value: TensorShape, key: TensorShape) {
        guard (2...3).contains(shapes.count) else {
            throw ModelError(layer: label, "expected [query, value] or [query, value, key], found \(shapes.count) inputs")
        }
        let (query, value) = (shapes[0], shapes[1])
        let key = shapes.count > 2 ? shapes[2] : value
        guard query.count >= 3, value.count == query.count, key.count == query.count else {
            throw ModelError(layer: label, "expected query, value and key of one rank ≥ 3, found \(shapes.map(\.kerasDescription).joined(separator: ", "))")
        }
        return (query, value, key)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let (query, value, _) = try attentionInputs(inputShapes)
        switch scoreMode {
        case .dot, .concat:
            var specs = useScale ? [weight("scale", [], index: 0)] : []
            if scoreMode == .concat { specs.append(weight("concat_score_weight", [], index: specs.count)) }
            return specs
        case .additive:
            guard useScale else { return [] }
            return [weight("scale", [try lastDimension(dialect >= .keras3 ? query : value)], index: 0)]
        }
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        try outputShapes(inputShapes, call: .null)
    }

    /// `query[:-1] + value[-1:]`, and with `return_attention_scores` the scores `query[:-1] + [Tv]`.
    override package func outputShapes(_ inputShapes: [TensorShape], call: JSONValue) throws -> [TensorShape] {
        let (query, value, key) = try attentionInputs(inputShapes)
        let output = Array(query.dropLast()) + [value.last ?? nil]
        guard Self.flag(call, "return_attention_scores") else { return [output] }
        return [output, Array(query.dropLast()) + [key[key.count - 2]]]
    }

    /// A call's boolean argument (`use_causal_mask`), false when absent.
    static func flag(_ call: JSONValue, _ name: String) -> Bool {
        GraphBuilder.recordedArgument(call, name)?.boolValue ?? false
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard (2...3).contains(call.inputs.count) else { throw EngineError("expected 2 or 3 inputs, found \(call.inputs.count)") }
        let (query, value) = (call.inputs[0].value, call.inputs[1].value)
        let key = call.inputs.count > 2 ? call.inputs[2].value : value
        let (queryMask, valueMask) = masks(call, into: &graph)
        let weights = try weightValues(&graph)
        guard let rank = graph.type(of: query).shape?.count ?? builtInputShapes?.first?.count, rank >= 3 else {
            throw EngineError("the query's rank must be known and at least 3")
        }
        // Letters: `L` the leading axes, t and s the query's and key's steps, c the features, d the value's.
        let lead = String("ABCDEFGHIJKLMNOPQRSTUVWXYZ".prefix(rank - 2))
        let queryShape = graph.type(of: query).shape, keyShape = graph.type(of: key).shape
        let scoresShape = queryShape.flatMap { q in keyShape.map { Array(q.dropLast()) + [$0[$0.count - 2]] } }
        var scores: ValueID
        switch scoreMode {
        case .dot:
            scores = addNode(.einsum(EinsumOp(equation: "\(lead)tc,\(lead)sc->\(lead)ts")), [query, key], shape: scoresShape, into: &graph)
            if useScale { scores = addNode(.binary(.multiply), [scores, weights[0]], shape: scoresShape, into: &graph) }
        case .concat, .additive:
            // q[..., t, None, :] + k[..., None, s, :], summed over features after tanh (and the scale).
            let pairs = expandDims(query, axis: -2, into: &graph), keys = expandDims(key, axis: -3, into: &graph)
            let pairShape = broadcastShape(graph.type(of: pairs).shape, graph.type(of: keys).shape)
            var sums = addNode(.binary(.add), [pairs, keys], shape: pairShape, into: &graph)
            if scoreMode == .concat, useScale { sums = addNode(.binary(.multiply), [weights[0], sums], shape: pairShape, into: &graph) }
            let tanh = addNode(.activation(.tanh), [sums], shape: pairShape, into: &graph)
            let summing: (String, ValueID) = switch scoreMode {
            case .additive where useScale: ("c", weights[0])
            case .additive: ("", graph.constant(Constant(origin: label, name: "one", shape: [], read: { [1] })))
            default: ("", weights[weights.count - 1])
            }
            scores = addNode(.einsum(EinsumOp(equation: "\(lead)tsc,\(summing.0)->\(lead)ts")), [tanh, summing.1], shape: scoresShape, into: &graph)
        }
        var causalMask: ValueID?
        if causal || Self.flag(call.recordedCall, "use_causal_mask") {
            causalMask = addNode(.causalMask(rowAxis: -2, columnAxis: -2), [query, key], shape: nil, dtype: .bool, into: &graph)
        }
        let scoresMask = allOf([valueMask.map { expandDims($0, axis: -2, into: &graph) }, causalMask], into: &graph)
        let attention = addNode(.softmax(SoftmaxOp(axes: [-1], masking: .offset)), [scores, nil, scoresMask], shape: scoresShape, into: &graph)
        let outputShape = call.outputShapes?.first?.dims
        var output = addNode(.einsum(EinsumOp(equation: "\(lead)ts,\(lead)sd->\(lead)td")), [attention, value], shape: outputShape, into: &graph)
        if let queryMask {
            output = addNode(.binary(.multiply), [output, expandDims(queryMask, axis: -1, into: &graph)], shape: outputShape, into: &graph)
        }
        let result = LoweredTensor(value: output, mask: queryMask)
        return Self.flag(call.recordedCall, "return_attention_scores") ? [result, LoweredTensor(value: attention, mask: nil)] : [result]
    }

    /// The query's and value's masks: the call's `mask=[query_mask, value_mask, ...]` (an entry may be None),
    /// else the inputs' own Keras masks.
    private func masks(_ call: LoweringCall, into graph: inout Graph) -> (query: ValueID?, value: ValueID?) {
        guard let given = call.keywordInputs.first(where: { $0.name == "mask" })?.tensors else {
            return (call.inputs[0].mask, call.inputs[1].mask)
        }
        var tensors = given.makeIterator()
        let recorded = GraphBuilder.recordedArgument(call.recordedCall, "mask")?.arrayValue
        let entries = recorded?.map { $0.isNull ? nil : tensors.next() } ?? given.map(Optional.some)
        func mask(_ index: Int) -> ValueID? {
            guard index < entries.count, let entry = entries[index] else { return nil }
            return asMask(entry.value, into: &graph)
        }
        return (mask(0), mask(1))
    }
}
