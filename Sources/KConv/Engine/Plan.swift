/// A lowered model made ready to run, built once: every weight read and laid out for its kernel, and the
/// last reader of every value known, so each buffer is released as soon as nothing needs it.
final class Plan {
    /// What a value holds while the plan runs.
    enum Slot {
        case tensor(Tensor)
        case mask(Mask)

        var tensor: Tensor? { if case .tensor(let tensor) = self { tensor } else { nil } }
        var mask: Mask? { if case .mask(let mask) = self { mask } else { nil } }
    }

    let graph: Graph
    /// How many nodes read each value (model outputs count once more).
    private let readers: [Int]

    init(_ graph: Graph) throws {
        self.graph = graph
        var readers = Array(repeating: 0, count: graph.types.count)
        for node in graph.nodes { for case let input? in node.inputs { readers[input.index] += 1 } }
        for output in graph.outputs { readers[output.index] += 1 }
        self.readers = readers
        for node in graph.nodes {
            switch node.op {
            case .layerCall(let call):
                try locating(layer: node.origin) { try call.layer.prepare() }
            }
        }
    }

    /// Runs the graph on `inputs` (one per graph input; nil for an absent mask). `retain` values are kept and
    /// returned besides the outputs (per-layer outputs for `verify`, masks of a nested model's outputs).
    func run(_ inputs: [Slot?], retain: Set<ValueID> = []) throws -> (outputs: [Slot?], retained: [ValueID: Slot]) {
        guard inputs.count == graph.inputs.count else {
            throw EngineError("the graph takes \(graph.inputs.count) inputs, found \(inputs.count)")
        }
        _ = Memory.reuseFreedBuffers
        var slots: [Slot?] = Array(repeating: nil, count: graph.types.count)
        var remaining = readers
        var retained: [ValueID: Slot] = [:]
        for (id, slot) in zip(graph.inputs, inputs) { slots[id.index] = slot }
        func take(_ id: ValueID?) -> Slot? {
            guard let id else { return nil }
            let slot = slots[id.index]
            remaining[id.index] -= 1
            if remaining[id.index] == 0, !retain.contains(id) { slots[id.index] = nil }  // its last reader
            return slot
        }
        for node in graph.nodes {
            let inputs = node.inputs.map(take)
            let outputs = try locating(layer: node.origin) { try Self.execute(node.op, inputs) }
            for (id, slot) in zip(node.outputs, outputs) {
                slots[id.index] = slot
                if retain.contains(id), let slot { retained[id] = slot }
            }
        }
        return (graph.outputs.map { slots[$0.index] }, retained)
    }

    private static func execute(_ op: Op, _ inputs: [Slot?]) throws -> [Slot?] {
        switch op {
        case .layerCall(let call):
            let count = call.positionalCount
            var keywords: [String: [Tensor]] = [:]
            var next = 2 * count
            for (name, size) in call.keywords {
                keywords[name] = inputs[next ..< next + size].compactMap { $0?.tensor }
                next += size
            }
            var layerCall = LayerCall(inputs: inputs[..<count].compactMap { $0?.tensor },
                                      masks: inputs[count ..< 2 * count].map { $0?.mask }, keywordInputs: keywords)
            layerCall.recordedCall = call.recordedCall
            let output = try call.layer.forward(layerCall)
            guard output.tensors.count == call.outputCount else {
                throw EngineError("produced \(output.tensors.count) outputs where \(call.outputCount) were expected")
            }
            return output.tensors.map { Slot.tensor($0) } + (0 ..< call.outputCount).map { index in
                index < output.masks.count ? output.masks[index].map(Slot.mask) : nil
            }
        }
    }
}
