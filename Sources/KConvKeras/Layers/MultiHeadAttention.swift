import Foundation
import KConvGraph
import KConvIO

/// Attention over heads: `query`, `value` and `key` (default: value) projected into heads by EinsumDense
/// kernels, `softmax(q·kᵀ / √key_dim)` over the attended axes, the weighted values projected back. The two
/// Keras classes (MultiHeadAttention, and Keras 3's GroupedQueryAttention) differ in their equations and
/// config; the lowering, masks and weights here are theirs alike.
///
/// Masks, as `_compute_attention_mask`: the query's mask over rows, the value's and key's over columns, the
/// causal mask (`use_causal_mask`), ANDed with the call's `attention_mask`, then given axes of size 1 until
/// they have the scores' rank. Masked scores are offset by −1e9 (tf-keras) or replaced (tf-keras with
/// `softmax_robust_masking`, Keras 3); Keras 3's Softmax layer then zeroes masked weights, but its
/// `dot_product_attention` (taken for 4-D projections without dropout or returned scores) does not, which
/// matters only for fully masked rows (a padded query step). Keras 3 scales the logits there rather than
/// the query. The query's mask flows on to the output.
package class HeadAttention: Layer {
    /// One EinsumDense sub-layer: its tf-keras name (`query`, the scope of its weights), its Keras 3
    /// attribute (`query_dense`, the object path of its weights), its shapes for the call and its activation.
    struct Projection {
        var name: String
        var attribute: String
        var shapes: EinsumDenseEquation.Analysis
        var activation: Activation = .linear
    }

    /// What the layer computes for given input shapes.
    struct Heads {
        var query: Projection
        var key: Projection
        var gate: Projection?
        var value: Projection
        var output: Projection
        /// The scores einsum: with `keyFirst`, of (key, query) as MultiHeadAttention writes it.
        var dotEquation: String
        var keyFirst: Bool
        var combineEquation: String
        /// Softmax axes of the scores, and the axis where a mask gains size-1 axes.
        var normAxes: [Int]
        var maskExpansionAxis: Int
        /// GroupedQueryAttention repeats each key and value head this many times along axis 2.
        var repeats: Int
        var scaleDim: Int

        var projections: [Projection] { [query, key] + (gate.map { [$0] } ?? []) + [value, output] }
    }

    /// Dropout is off at inference, but Keras 3 takes another path (its Softmax layer) when it is set.
    package let dropout: Double
    package let useBias: Bool
    /// tf-keras: masked scores replaced rather than offset.
    package let softmaxRobustMasking: Bool

    package required init(_ context: LayerContext) throws {
        dropout = try context.config.double("dropout", default: 0)
        useBias = try context.config.bool("use_bias", default: true)
        softmaxRobustMasking = try context.config.bool("softmax_robust_masking", default: false)
        try super.init(context)
    }

    /// The projections and equations for `[query, value, key?]`; each subclass has its own.
    func heads(_ shapes: [TensorShape]) throws -> Heads { throw ModelError(layer: label, "not an attention class") }

    /// `[query, value, key?]`, checked: value and key agree on every axis but the last.
    func attentionInputs(_ shapes: [TensorShape]) throws -> (query: TensorShape, value: TensorShape, key: TensorShape) {
        guard (2...3).contains(shapes.count) else {
            throw ModelError(layer: label, "expected query, value and optionally key, found \(shapes.count) inputs")
        }
        let (query, value) = (shapes[0], shapes[1])
        let key = shapes.count > 2 ? shapes[2] : value
        guard query.count >= 3, value.count == key.count, value.dropLast() == key.dropLast() else {
            throw ModelError(layer: label, "value and key must agree on every axis but the last, found \(value.kerasDescription) and \(key.kerasDescription)")
        }
        return (query, value, key)
    }

    /// A projection of `input` by the EinsumDense `equation` with `output_shape` `partial`.
    func projection(_ name: String, _ attribute: String, _ equation: String, biasAxes: String, partial: [Int?],
                    input: TensorShape, activation: Activation = .linear) throws -> Projection {
        let shapes = try locating(layer: label, field: "sub-layer '\(name)'") {
            try EinsumDenseEquation(equation, field: "equation").analyze(input: input, partialOutput: partial, biasAxes: useBias ? biasAxes : nil,
                                                                        kernelFromOutputFirst: dialect >= .keras3)
        }
        return Projection(name: name, attribute: attribute, shapes: shapes, activation: activation)
    }

    package override var callSignature: CallSignature { .named(parameters: ["query", "value", "key"], required: 2) }

    /// Each sub-layer's kernel and bias, in the order Keras creates them (query, key, gate, value, output).
    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        try heads(inputShapes).projections.flatMap { projection in
            // tf-keras's object paths keep the private attribute (`_query_dense`) that Keras 3's MultiHeadAttention
            // exposes as a property (`query_dense`).
            let owner = projection.attribute + "/", keras2Owner = projection.attribute.hasPrefix("_") ? nil : "_" + owner
            return [weight("kernel", projection.shapes.kernel, index: 0, owner: owner, keras2Owner: keras2Owner, legacyScope: projection.name)]
                + (projection.shapes.bias.map {
                    [weight("bias", $0, index: 1, owner: owner, keras2Owner: keras2Owner, legacyScope: projection.name)]
                } ?? [])
        }
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        try outputShapes(inputShapes, call: .null)
    }

    /// The output projection's shape; with `return_attention_scores`, also the scores'.
    override package func outputShapes(_ inputShapes: [TensorShape], call: JSONValue) throws -> [TensorShape] {
        let heads = try heads(inputShapes)
        guard GraphBuilder.recordedArgument(call, "return_attention_scores")?.boolValue == true else { return [heads.output.shapes.output] }
        return [heads.output.shapes.output, Self.scoresShape(heads)]
    }

    /// The scores' shape, each letter of the dot product's output sized by the projected query or key.
    private static func scoresShape(_ heads: Heads) -> TensorShape {
        let terms = EinsumOp(equation: heads.dotEquation).terms
        guard let terms else { return [] }
        let (keyTerm, queryTerm) = heads.keyFirst ? (terms.a, terms.b) : (terms.b, terms.a)
        var sizes: [Character: Int?] = [:]
        for (letter, size) in zip(keyTerm, heads.key.shapes.output) { sizes[letter] = size }
        for (letter, size) in zip(queryTerm, heads.query.shapes.output) { sizes[letter] = size }
        return terms.output.map { sizes[$0] ?? nil }
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        // Downstream of a layer kconv cannot compute, the shapes (and so the equations) are unknown; running
        // fails at that layer first.
        guard let shapes = builtInputShapes else { return lowerUnsupported(call, into: &graph) }
        guard (2...3).contains(call.inputs.count) else {
            throw EngineError("expected query, value and optionally key, found \(call.inputs.count) inputs")
        }
        let heads = try heads(shapes)
        var weights = try weightValues(&graph).makeIterator()
        func project(_ input: ValueID, _ projection: Projection) -> ValueID {
            let kernel = weights.next(), bias = projection.shapes.bias == nil ? nil : weights.next()
            return addNode(.einsum(EinsumOp(equation: projection.shapes.explicitEquation, activation: projection.activation)),
                           [input, kernel, bias], shape: projection.shapes.output.dims, into: &graph)
        }
        let (query, value) = (call.inputs[0], call.inputs[1])
        let key = call.inputs.count > 2 ? call.inputs[2] : value
        var queryHeads = project(query.value, heads.query)
        var keyHeads = project(key.value, heads.key)
        let gate = heads.gate.map { project(query.value, $0) }
        var valueHeads = project(value.value, heads.value)
        if heads.repeats > 1 {
            func repeated(_ value: ValueID) -> ValueID {
                let shape = graph.type(of: value).shape.map { shape in
                    shape.enumerated().map { axis, dim in axis == 2 ? dim.repeated(heads.repeats) : dim }
                }
                return addNode(.repeatElements(axis: 2, times: heads.repeats), [value], shape: shape, into: &graph)
            }
            keyHeads = repeated(keyHeads)
            valueHeads = repeated(valueHeads)
        }
        let returnScores = GraphBuilder.recordedArgument(call.recordedCall, "return_attention_scores")?.boolValue == true
        let productAttention = dialect >= .keras3 && dropout == 0 && !returnScores && heads.query.shapes.output.count == 4
        let scale = Float(1 / Double(heads.scaleDim).squareRoot())
        let scoresShape = Self.scoresShape(heads).dims
        if !productAttention {
            queryHeads = addNode(.scaleShift(scale: [scale], offset: [0]), [queryHeads], shape: heads.query.shapes.output.dims, into: &graph)
        }
        var scores = addNode(.einsum(EinsumOp(equation: heads.dotEquation)), heads.keyFirst ? [keyHeads, queryHeads] : [queryHeads, keyHeads],
                             shape: scoresShape, into: &graph)
        if productAttention { scores = addNode(.scaleShift(scale: [scale], offset: [0]), [scores], shape: scoresShape, into: &graph) }
        var mask = try attentionMask(call, queryRank: shapes[0].count, into: &graph)
        if let current = mask {
            guard let rank = graph.type(of: current).shape?.count else { throw ModelError(layer: label, "the attention mask's rank must be known") }
            for _ in 0 ..< max(0, scoresShape.count - rank) { mask = expandDims(mask ?? current, axis: heads.maskExpansionAxis, into: &graph) }
        }
        let masking: SoftmaxOp.Masking = dialect >= .keras3
            ? (productAttention ? .replace : .replaceAndZero)
            : (softmaxRobustMasking ? .replace : .offset)
        let attention = addNode(.softmax(SoftmaxOp(axes: heads.normAxes, masking: masking)), [scores, nil, mask], shape: scoresShape, into: &graph)
        var combinedShape = heads.query.shapes.output
        combinedShape[combinedShape.count - 1] = heads.value.shapes.output.last ?? nil
        var combined = addNode(.einsum(EinsumOp(equation: heads.combineEquation)), [attention, valueHeads], shape: combinedShape.dims, into: &graph)
        if let gate { combined = addNode(.binary(.multiply), [combined, gate], shape: combinedShape.dims, into: &graph) }
        let output = LoweredTensor(value: project(combined, heads.output), mask: query.mask)
        return returnScores ? [output, LoweredTensor(value: attention, mask: nil)] : [output]
    }

    /// The mask of the scores (`_compute_attention_mask`), nil when nothing is masked.
    private func attentionMask(_ call: LoweringCall, queryRank: Int, into graph: inout Graph) throws -> ValueID? {
        func keyword(_ name: String) -> ValueID? {
            call.keywordInputs.first { $0.name == name }?.tensors.first.map { asMask($0.value, into: &graph) }
        }
        let queryMask = queryMaskArgument ? keyword("query_mask") ?? call.inputs[0].mask : call.inputs[0].mask
        let valueMask = keyword("value_mask") ?? call.inputs[1].mask
        let keyMask = keyword("key_mask") ?? (call.inputs.count > 2 ? call.inputs[2].mask : nil)
        let causal = GraphBuilder.recordedArgument(call.recordedCall, "use_causal_mask")?.boolValue == true
        if queryRank != 3, causal || [queryMask, valueMask, keyMask].contains(where: { $0 != nil }) {
            throw ModelError(layer: label, "kconv computes the masks of \(className) only for 3-D query, value and key, found a \(queryRank)-D query")
        }
        var parts = [queryMask.map { expandDims($0, axis: -1, into: &graph) },
                     valueMask.map { expandDims($0, axis: -2, into: &graph) },
                     keyMask.map { expandDims($0, axis: -2, into: &graph) }]
        if causal {
            let rows = graph.type(of: call.inputs[0].value).shape, columns = graph.type(of: call.inputs[1].value).shape
            let shape = rows.flatMap { rows in columns.map { [.size(1), rows[1], $0[1]] } }
            parts.append(addNode(.causalMask(rowAxis: 1, columnAxis: 1), [call.inputs[0].value, call.inputs[1].value], shape: shape, dtype: .bool, into: &graph))
        }
        return allOf([keyword("attention_mask"), allOf(parts, into: &graph)], into: &graph)
    }

    /// Whether a `query_mask` call argument counts: MultiHeadAttention replaces it by the query's own mask.
    var queryMaskArgument: Bool { false }

    override package var unsupportedReason: String? {
        guard let window = config["sliding_window"], !window.isNull else { return nil }
        return "kconv does not implement sliding_window attention (sliding_window=\(ConfigReader.describe(window)))"
    }
}

/// Keras `MultiHeadAttention(num_heads, key_dim, value_dim, output_shape, attention_axes, use_bias)`; Keras 3
/// adds `use_gate` (the output times a sigmoid projection of the query). tf-keras writes the input shapes it
/// was built for (`query_shape`, `key_shape`, `value_shape`) into the config and needs them back.
package final class MultiHeadAttention: HeadAttention {
    package override class var kerasClassNames: [String] { ["MultiHeadAttention"] }
    /// Keras 3's `call` sets the masks of query, value and key to None on the tensors themselves: a layer
    /// reading one of them later (another attention's value, a residual Add) sees no mask.
    package override var clearsInputMasks: Bool { dialect >= .keras3 }
    package override class var examples: [LayerExample] {
        [LayerExample("MultiHeadAttention", ["num_heads": 2, "key_dim": 2], inputs: [[4, 3], [5, 3]])]
    }
    package let numHeads: Int
    package let keyDim: Int
    package let valueDim: Int
    /// The output's last axes; nil: the query's feature count.
    package let outputShape: [Int]?
    /// nil: every axis between the batch and the features.
    package let attentionAxes: [Int]?
    package let useGate: Bool

    package required init(_ context: LayerContext) throws {
        let config = context.config
        numHeads = try config.int("num_heads")
        keyDim = try config.int("key_dim")
        let valueDim = try config.optionalInt("value_dim") ?? 0
        self.valueDim = valueDim > 0 ? valueDim : keyDim
        let shape = try config.intOrList("output_shape", default: [])
        outputShape = shape.isEmpty ? nil : shape
        attentionAxes = config.has("attention_axes") ? try config.intOrList("attention_axes", default: []) : nil
        useGate = try config.bool("use_gate", default: false)
        guard numHeads > 0, keyDim > 0 else {
            throw config.error("num_heads", expected: "positive num_heads and key_dim", found: .int(Int64(numHeads)))
        }
        try super.init(context)
    }

    override func heads(_ shapes: [TensorShape]) throws -> Heads {
        let (query, value, key) = try attentionInputs(shapes)
        let rank = query.count
        func split(_ name: String, _ input: TensorShape, size: Int, attribute: String? = nil, activation: Activation = .linear) throws -> Projection {
            let (equation, bias, outputRank) = Self.projectionEquation(free: input.count - 1, bound: 1, output: 2)
            let partial: [Int?] = Array(repeating: nil, count: outputRank - 3) + [numHeads, size]
            return try projection(name, attribute ?? name + "_dense", equation, biasAxes: bias, partial: partial, input: input, activation: activation)
        }
        let queryHeads = try split("query", query, size: keyDim)
        let keyHeads = try split("key", key, size: keyDim)
        // Keras 3 gives the gate no public property, so its object path keeps the private attribute.
        let gate = useGate ? try split("gate", query, size: valueDim, attribute: "_gate_dense", activation: .sigmoid) : nil
        let valueHeads = try split("value", value, size: valueDim)
        let outputShape = try self.outputShape ?? [lastDimension(query)]
        let (equation, bias, outputRank) = Self.projectionEquation(free: rank - 1, bound: 2, output: outputShape.count)
        var combined = queryHeads.shapes.output
        combined[combined.count - 1] = valueDim
        let partial: [Int?] = Array(repeating: nil, count: outputRank - 1 - outputShape.count) + outputShape
        let output = try projection("attention_output", "output_dense", equation, biasAxes: bias, partial: partial, input: combined)
        let projectedRank = rank + 1
        let axes = (attentionAxes ?? Array(1 ..< projectedRank - 2)).map { $0 >= 0 ? $0 : projectedRank - 1 + $0 }
        guard axes.allSatisfy({ (1 ..< projectedRank - 2).contains($0) }), Set(axes).count == axes.count else {
            throw ModelError(layer: label, field: "config.attention_axes", "\(attentionAxes ?? []) are not axes between the batch and the features of a \(rank)-D query")
        }
        let (dot, combine, scoresRank) = Self.attentionEquations(rank: projectedRank, axes: axes)
        return Heads(query: queryHeads, key: keyHeads, gate: gate, value: valueHeads, output: output,
                     dotEquation: dot, keyFirst: true, combineEquation: combine,
                     normAxes: Array(scoresRank - axes.count ..< scoresRank), maskExpansionAxis: -axes.count * 2 - 1,
                     repeats: 1, scaleDim: keyDim)
    }

    /// Keras's `_build_proj_equation`: `free` axes kept, `bound` contracted with the kernel, `output` added.
    static func projectionEquation(free: Int, bound: Int, output: Int) -> (equation: String, biasAxes: String, outputRank: Int) {
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        let kept = String(letters[0 ..< free]), contracted = String(letters[free ..< free + bound])
        let added = String(letters[free + bound ..< free + bound + output])
        return ("\(kept)\(contracted),\(contracted)\(added)->\(kept)\(added)", added, free + output)
    }

    /// Keras's `_build_attention_equation` for projections of `rank` axes attending over `axes`: the scores
    /// einsum of (key, query), the combining einsum of (scores, value), and the scores' rank.
    static func attentionEquations(rank: Int, axes: [Int]) -> (dot: String, combine: String, scoresRank: Int) {
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        let target = Array(letters[0 ..< rank])
        let batch = (0 ..< rank).filter { !axes.contains($0) && $0 != rank - 1 }
        var next = rank
        let source = (0 ..< rank).map { axis -> Character in
            if batch.contains(axis) || axis == rank - 1 { return target[axis] }
            defer { next += 1 }
            return letters[next]
        }
        let product = String(batch.map { target[$0] } + axes.map { target[$0] } + axes.map { source[$0] })
        return ("\(String(source)),\(String(target))->\(product)", "\(product),\(String(source))->\(String(target))", product.count)
    }

    package override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("use_gate", onlyIn: .keras3, value: false, why: "tf-keras's MultiHeadAttention has no gate"),
         VersionOnlyKey("sliding_window", onlyIn: .keras3, value: .null, why: "tf-keras's MultiHeadAttention has no sliding window"),
         VersionOnlyKey("seed", onlyIn: .keras3, why: "a dropout seed, without effect at inference"),
         VersionOnlyKey("softmax_robust_masking", onlyIn: .keras2, value: false,
                        why: "Keras 3 masks its softmax its own way (the same results but for fully masked rows)"),
         VersionOnlyKey("query_shape", onlyIn: .keras2, why: "Keras 3 records the build shapes in build_config"),
         VersionOnlyKey("key_shape", onlyIn: .keras2, why: "Keras 3 records the build shapes in build_config"),
         VersionOnlyKey("value_shape", onlyIn: .keras2, why: "Keras 3 records the build shapes in build_config")]
    }

    /// tf-keras's `from_config` pops `query_shape`, `key_shape` and `value_shape` to build the layer: kconv
    /// writes the shapes it was built for.
    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        guard export.target == .keras2, let shapes = builtInputShapes, shapes.count >= 2 else { return }
        config["query_shape"] = shapeJSON(shapes[0])
        config["value_shape"] = shapeJSON(shapes[1])
        config["key_shape"] = shapeJSON(shapes.count > 2 ? shapes[2] : shapes[1])
    }
}

/// Keras 3 `GroupQueryAttention(head_dim, num_query_heads, num_key_value_heads)` (class GroupedQueryAttention):
/// fewer key and value heads than query heads, each repeated for `num_query_heads / num_key_value_heads`
/// query heads. Attends over the sequence of 3-D inputs.
package final class GroupedQueryAttention: HeadAttention {
    package override class var kerasClassNames: [String] { ["GroupedQueryAttention"] }
    /// `.keras` configs name the class by its export, `.h5` files (and summaries) by the Python class.
    package override class var legacyClassNames: [String: String] { ["GroupQueryAttention": "GroupedQueryAttention"] }
    package override class var writtenClassNames: [KerasDialect: String] { [.keras3: "GroupQueryAttention"] }
    package override class var absentIn: [KerasDialect: String] { [.keras2: "tf-keras has no GroupedQueryAttention"] }
    package override class var examples: [LayerExample] {
        [LayerExample("GroupedQueryAttention", ["head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2], inputs: [[4, 3], [5, 3]])]
    }
    package let headDim: Int
    package let queryHeads: Int
    package let keyValueHeads: Int
    package let useGate: Bool

    package required init(_ context: LayerContext) throws {
        let config = context.config
        headDim = try config.int("head_dim")
        queryHeads = try config.int("num_query_heads")
        keyValueHeads = try config.int("num_key_value_heads")
        useGate = try config.bool("use_gate", default: false)
        guard headDim > 0, keyValueHeads > 0, queryHeads > 0, queryHeads % keyValueHeads == 0 else {
            throw config.error("num_key_value_heads", expected: "a positive divisor of num_query_heads (\(queryHeads))", found: .int(Int64(keyValueHeads)))
        }
        try super.init(context)
    }

    /// The sub-layers are the private attributes `_query_dense` ... in Keras 3's object paths.
    override func heads(_ shapes: [TensorShape]) throws -> Heads {
        let (query, value, key) = try attentionInputs(shapes)
        guard query.count == 3 else { throw ModelError(layer: label, "expected 3-D query, value and key, found \(query.kerasDescription)") }
        let queryHeads = try projection("query", "_query_dense", "bqm,muh->bquh", biasAxes: "uh", partial: [nil, self.queryHeads, headDim], input: query)
        let keyHeads = try projection("key", "_key_dense", "bkm,mvh->bkvh", biasAxes: "vh", partial: [nil, keyValueHeads, headDim], input: key)
        let gate = useGate
            ? try projection("gate", "_gate_dense", "bqm,muh->bquh", biasAxes: "uh", partial: [nil, self.queryHeads, headDim], input: query, activation: .sigmoid)
            : nil
        let valueHeads = try projection("value", "_value_dense", "bkm,mvh->bkvh", biasAxes: "vh", partial: [nil, keyValueHeads, headDim], input: value)
        let output = try projection("attention_output", "_output_dense", "bquh,uhm->bqm", biasAxes: "m", partial: [nil, try lastDimension(query)],
                                    input: [query[0], query[1], self.queryHeads, headDim])
        return Heads(query: queryHeads, key: keyHeads, gate: gate, value: valueHeads, output: output,
                     dotEquation: "bquh,bkuh->buqk", keyFirst: false, combineEquation: "buqk,bkuh->bquh",
                     normAxes: [-1], maskExpansionAxis: -3, repeats: self.queryHeads / keyValueHeads, scaleDim: headDim)
    }

    override var queryMaskArgument: Bool { true }
}
