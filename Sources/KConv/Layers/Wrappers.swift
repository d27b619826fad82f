/// Wrappers: TimeDistributed and Bidirectional, each holding native inner layers.

/// Applies its inner layer (or model) to every timestep: `(batch, t, ...)` → inner on `(batch, ...)`.
public final class TimeDistributed: Layer {
    public let inner: Layer

    public required init(_ context: LayerContext) throws {
        inner = try context.buildLayer(context.config.nested("layer"))
        try super.init(context)
    }

    /// The shape one timestep has for the inner layer.
    private func stepShape(_ inputShapes: [TensorShape]) throws -> TensorShape {
        let input = try singleInput(inputShapes)
        try requireRank(input, 3...Int.max, "an at least 3-D (batch, timesteps, ...)")
        return [input[0]] + input.dropFirst(2)
    }

    override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        try locating(layer: inner.label) { try inner.build([stepShape(inputShapes)]) }
        return inner.weightSpecs.map { spec in
            var spec = spec
            spec.storagePath = "layer/" + spec.storagePath
            return spec
        }
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let steps = try singleInput(inputShapes)[1]
        let innerOutputs = try locating(layer: inner.label) { try inner.outputShapes([stepShape(inputShapes)]) }
        return innerOutputs.map { [$0.first ?? nil, steps] + $0.dropFirst() }
    }

    override func bind(_ arrays: [WeightArray]) throws {
        try super.bind(arrays)
        try inner.bind(arrays)
    }

    override public var sublayers: [Layer] { [inner] }
    override public var unsupportedReason: String? { inner.unsupportedReason.map { "inner \(inner.label): \($0)" } }
}

/// Runs a recurrent layer forwards and a copy backwards over the sequence and merges the results.
/// With `merge_mode` None it has two outputs; with `return_state` the merged output(s) are followed by
/// the forward then the backward states.
public final class Bidirectional: Layer {
    public enum MergeMode: String, Sendable { case concat, sum, mul, ave }

    public let forward: Recurrent
    public let backward: Recurrent
    /// nil: no merging, forward and backward outputs are separate outputs.
    public let mergeMode: MergeMode?

    public required init(_ context: LayerContext) throws {
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
        guard let forward = forward as? Recurrent, let backward = backward as? Recurrent else {
            throw ModelError(field: "config.layer", "expected a recurrent layer (SimpleRNN, LSTM, GRU), found \(forward.className) and \(backward.className)")
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

    override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let sequence = Array(inputShapes.prefix(1))
        try locating(layer: forward.label) { try forward.build(sequence) }
        try locating(layer: backward.label) { try backward.build(sequence) }
        let prefixed = { (specs: [WeightSpec], prefix: String) in
            specs.map { spec in
                var spec = spec
                spec.storagePath = prefix + spec.storagePath
                return spec
            }
        }
        return prefixed(forward.weightSpecs, "forward_layer/") + prefixed(backward.weightSpecs, "backward_layer/")
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
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

    override func bind(_ arrays: [WeightArray]) throws {
        try super.bind(arrays)
        let split = forward.weightSpecs.count
        try forward.bind(Array(arrays.prefix(split)))
        try backward.bind(Array(arrays.dropFirst(split)))
    }

    override public var sublayers: [Layer] { [forward, backward] }
    override public var unsupportedReason: String? { forward.unsupportedReason ?? backward.unsupportedReason }
}
