import KConvGraph
import KConvIO
/// Wrappers: TimeDistributed and Bidirectional, each holding native inner layers.

/// Applies its inner layer (or model) to every timestep: `(batch, t, ...)` → inner on `(batch, ...)`.
package final class TimeDistributed: Layer {
    package override class var kerasClassNames: [String] { ["TimeDistributed"] }
    package override class var examples: [LayerExample] { [LayerExample("TimeDistributed", ["layer": ["class_name": "Dense", "config": ["units": 2]]], inputs: [[3, 2]])] }
    package let inner: Layer

    package required init(_ context: LayerContext) throws {
        inner = try context.buildLayer(context.config.nested("layer"))
        try super.init(context)
    }

    /// The shape one timestep has for the inner layer.
    private func stepShape(_ inputShapes: [TensorShape]) throws -> TensorShape {
        let input = try singleInput(inputShapes)
        try requireRank(input, 3...Int.max, "an at least 3-D (batch, timesteps, ...)")
        return [input[0]] + input.dropFirst(2)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        try locating(layer: inner.label) { try inner.build([stepShape(inputShapes)]) }
        // tf-keras names the inner layer's weights in the wrapper's own scope.
        return inner.weightSpecs.map { $0.adopted(objectPrefix: "layer/", legacyScope: nil) }
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let steps = try singleInput(inputShapes)[1]
        let innerOutputs = try locating(layer: inner.label) { try inner.outputShapes([stepShape(inputShapes)]) }
        return innerOutputs.map { [$0.first ?? nil, steps] + $0.dropFirst() }
    }

    package override func bind(_ arrays: [WeightArray]) throws {
        try super.bind(arrays)
        try inner.bind(arrays)
    }

    override package var sublayers: [Layer] { [inner] }

    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        config["layer"] = .object(try export.layerEntry(inner))
    }

    package override func keras1Weights(_ arrays: [WeightArray]) throws -> [WeightArray] { try inner.keras1Weights(arrays) }

    package override var inputVocabulary: Int? { inner.inputVocabulary }
    override package var unsupportedReason: String? { inner.unsupportedReason.map { "inner \(inner.label): \($0)" } }

    /// Folds time into the batch (`[b, t, ...]` → `[b·t, ...]`), lowers the inner layer once on the folded
    /// input and unfolds its outputs. The inner layer sees a per-step mask when the mask has axes beyond time
    /// (`[b, t, s]` → `[b·t, s]`), as both Keras versions pass one; a `[b, t]` mask has nothing per step.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let input = try singleInput(call)
        // A step's shape: the batch axis (now batch × time) unknown, the time axis gone.
        let stepShape = { (shape: [Dim]) -> [Dim] in [.symbol("batch")] + shape.dropFirst(2) }
        let folded = graph.add(.foldTime, inputs: [input.value], outputs: [ValueType(dtype: .float32, shape: graph.type(of: input.value).shape.map(stepShape))],
                               origin: label)[0]
        let stepMask = input.mask.map { mask in
            graph.add(.foldTimeMask, inputs: [input.value, mask], outputs: [ValueType(dtype: .bool, shape: nil)], origin: label)[0]
        }
        let innerShapes = call.outputShapes?.map { shape -> TensorShape in [nil] + shape.dropFirst(2) }
        let innerCall = LoweringCall(inputs: [LoweredTensor(value: folded, mask: stepMask)], keywordInputs: [], recordedCall: .null, outputShapes: innerShapes)
        let innerOutputs = try locating(layer: inner.label) { try inner.lower(innerCall, into: &graph) }
        return innerOutputs.enumerated().map { index, output in
            let type = ValueType(dtype: .float32, shape: call.outputShapes.flatMap { index < $0.count ? $0[index].dims : nil })
            let value = graph.add(.unfoldTime, inputs: [output.value, input.value], outputs: [type], origin: label)[0]
            let mask = graph.add(.timeDistributedMask(keras3: dialect >= .keras3), inputs: [input.value, input.mask, output.mask],
                                 outputs: [ValueType(dtype: .bool, shape: nil)], origin: label)[0]
            return LoweredTensor(value: value, mask: mask)
        }
    }

}

/// Runs a recurrent layer forwards and a copy backwards over the sequence and merges the results.
/// With `merge_mode` None it has two outputs; with `return_state` the merged output(s) are followed by
/// the forward then the backward states.
package final class Bidirectional: Layer {
    package override class var kerasClassNames: [String] { ["Bidirectional"] }
    package override class var examples: [LayerExample] { [LayerExample("Bidirectional", ["layer": ["class_name": "LSTM", "config": ["units": 2]]], inputs: [[3, 2]])] }
    package typealias MergeMode = BidirectionalOp.MergeMode

    package let forward: any RecurrentPass
    package let backward: any RecurrentPass
    /// nil: no merging, forward and backward outputs are separate outputs.
    package let mergeMode: MergeMode?

    package required init(_ context: LayerContext) throws {
        let config = context.config
        let layerConfig = try config.nested("layer")
        // Keras names the wrapped copies forward_<name> and backward_<name>; without an explicit
        // backward_layer the backward copy is the forward config with go_backwards flipped. Keras 3
        // configs always hold the backward layer, under its final name.
        let forward = try context.buildLayer(Self.prefixingName(layerConfig, "forward_"))
        let backward: Layer
        if let given = try config.optionalNested("backward_layer") {
            backward = try context.buildLayer(context.dialect >= .keras3 ? given : Self.prefixingName(given, "backward_"))
        } else {
            var reversed = layerConfig
            var inner = reversed["config"]?.objectValue ?? JSONObject()
            inner["go_backwards"] = .bool(!(inner["go_backwards"]?.boolValue ?? false))
            reversed["config"] = .object(inner)
            backward = try context.buildLayer(Self.prefixingName(reversed, "backward_"))
        }
        guard let forward = forward as? any RecurrentPass, let backward = backward as? any RecurrentPass else {
            throw ModelError(field: "config.layer", "expected a recurrent layer (SimpleRNN, LSTM, GRU, RNN), found \(forward.className) and \(backward.className)")
        }
        self.forward = forward
        self.backward = backward
        if config.has("merge_mode") {
            let name = try config.string("merge_mode")
            guard let mode = MergeMode(rawValue: name) else {
                throw config.error("merge_mode", expected: "concat, sum, mul, ave or null", found: .string(name))
            }
            mergeMode = mode
        } else {
            mergeMode = config.object["merge_mode"] == nil ? .concat : nil
        }
        try super.init(context)
    }

    /// The layer entry with its name prefixed, as Keras renames the copies it wraps (once only).
    private static func prefixingName(_ entry: JSONObject, _ prefix: String) -> JSONObject {
        guard var config = entry["config"]?.objectValue, let name = config["name"]?.stringValue, !name.hasPrefix(prefix) else {
            return entry
        }
        config["name"] = .string(prefix + name)
        var renamed = entry
        renamed["config"] = .object(config)
        return renamed
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let sequence = Array(inputShapes.prefix(1))
        try locating(layer: forward.label) { try forward.build(sequence) }
        try locating(layer: backward.label) { try backward.build(sequence) }
        return forward.weightSpecs.map { $0.adopted(objectPrefix: "forward_layer/", legacyScope: forward.name) }
            + backward.weightSpecs.map { $0.adopted(objectPrefix: "backward_layer/", legacyScope: backward.name) }
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let sequence = Array(inputShapes.prefix(1))
        let forwardOutputs = try forward.outputShapes(sequence)
        let backwardOutputs = try backward.outputShapes(sequence)
        var output = forwardOutputs[0]
        let merged: [TensorShape]
        switch mergeMode {
        case nil:
            merged = [output, backwardOutputs[0]]
        case .concat:
            output[output.count - 1] = output.last?.flatMap { $0 }.map { $0 * 2 }
            merged = [output]
        default:
            merged = [output]
        }
        return merged + forwardOutputs.dropFirst() + backwardOutputs.dropFirst()
    }

    package override func bind(_ arrays: [WeightArray]) throws {
        try super.bind(arrays)
        let split = forward.weightSpecs.count
        try forward.bind(Array(arrays.prefix(split)))
        try backward.bind(Array(arrays.dropFirst(split)))
    }

    override package var sublayers: [Layer] { [forward, backward] }

    package override var callSignature: CallSignature { .sequenceAndStates }

    /// Keras 3 always writes both wrapped layers; tf-keras writes `backward_layer` only when it is not the
    /// forward layer with `go_backwards` flipped. Keras prefixes the wrapped names itself.
    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        var forwardEntry = try export.layerEntry(forward)
        var backwardEntry = try export.layerEntry(backward)
        guard export.target == .keras2 else {
            config["layer"] = .object(forwardEntry)
            config["backward_layer"] = .object(backwardEntry)
            return
        }
        forwardEntry = Self.renamed(forwardEntry) { $0.hasPrefix("forward_") ? String($0.dropFirst(8)) : $0 }
        backwardEntry = Self.renamed(backwardEntry) { $0.hasPrefix("backward_") ? String($0.dropFirst(9)) : $0 }
        config["layer"] = .object(forwardEntry)
        var generated = forwardEntry["config"]?.objectValue ?? JSONObject()
        generated["go_backwards"] = .bool(!(generated["go_backwards"]?.boolValue ?? false))
        generated["name"] = nil
        var given = backwardEntry["config"]?.objectValue ?? JSONObject()
        given["name"] = nil
        config["backward_layer"] = generated == given && forwardEntry["class_name"] == backwardEntry["class_name"] ? nil : .object(backwardEntry)
    }

    private static func renamed(_ entry: JSONObject, _ transform: (String) -> String) -> JSONObject {
        guard var config = entry["config"]?.objectValue, let name = config["name"]?.stringValue else { return entry }
        config["name"] = .string(transform(name))
        var copy = entry
        copy["config"] = .object(config)
        return copy
    }

    /// Keras 1 stored the forward layer's arrays, then the backward layer's.
    package override func keras1Weights(_ arrays: [WeightArray]) throws -> [WeightArray] {
        let half = arrays.count / 2
        return try forward.keras1Weights(Array(arrays.prefix(half))) + backward.keras1Weights(Array(arrays.dropFirst(half)))
    }
    override package var unsupportedReason: String? {
        if [forward, backward].contains(where: { ($0 as? RNN)?.cells.count ?? 1 > 1 }) { return "Bidirectional over stacked RNN cells" }
        return forward.unsupportedReason ?? backward.unsupportedReason
    }

    /// Keras Bidirectional call: both layers read the same sequence and mask; with `return_sequences` masked
    /// steps output zeros (Keras ≥ 2.2 sets `zero_output_for_mask = return_sequences` on both layers; Keras 1
    /// did not), and the merged output(s) keep the mask.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let sequence = call.inputs.first else { throw EngineError("expected an input, found none") }
        let mask = recurrentMask(call, into: &graph)
        let weights = try forward.weightValues(&graph) + backward.weightValues(&graph)
        let zeroOutput = forward.returnSequences && dialect >= .keras2
        let op = BidirectionalOp(forward: forward.recurrentOp(zeroOutputForMask: zeroOutput),
                                 backward: backward.recurrentOp(zeroOutputForMask: zeroOutput),
                                 mergeMode: mergeMode, returnState: forward.returnState)
        let merged = mergeMode == nil ? 2 : 1
        let count = merged + (forward.returnState ? forward.stateCount + backward.stateCount : 0)
        let types = (0 ..< count).map { index in ValueType(dtype: .float32, shape: call.outputShapes.flatMap { index < $0.count ? $0[index].dims : nil }) }
        let outputs = graph.add(.bidirectional(op), inputs: [sequence.value, mask] + weights + initialStates(call).map(\.value),
                                outputs: types, origin: label)
        return outputs.enumerated().map { index, value in
            LoweredTensor(value: value, mask: index < merged && forward.returnSequences ? mask : nil)
        }
    }

}
