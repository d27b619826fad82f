import KConvGraph
import KConvIO

/// A tensor flowing between layer calls while a model is lowered, with the Keras mask that travels with it.
package struct LoweredTensor {
    package var value: ValueID
    package var mask: ValueID?

    package init(value: ValueID, mask: ValueID?) {
        self.value = value
        self.mask = mask
    }
}

/// One layer call as lowering sees it: its tensors, and the shapes shape inference gave its outputs.
package struct LoweringCall {
    package var inputs: [LoweredTensor]
    package var keywordInputs: [(name: String, tensors: [LoweredTensor])]
    /// The call as the config recorded it, for what is not a tensor.
    package var recordedCall: JSONValue
    /// nil when they cannot be known (downstream of a layer kconv cannot compute).
    package var outputShapes: [TensorShape]?

    package init(inputs: [LoweredTensor], keywordInputs: [(name: String, tensors: [LoweredTensor])], recordedCall: JSONValue,
                 outputShapes: [TensorShape]?) {
        self.inputs = inputs
        self.keywordInputs = keywordInputs
        self.recordedCall = recordedCall
        self.outputShapes = outputShapes
    }
}

extension Dim {
    /// The size `times` times over; a symbol stays one (its size is known only when running).
    package func repeated(_ times: Int) -> Dim {
        if case .size(let size) = self { return .size(size * times) }
        return .symbol("\(self)×\(times)")
    }
}

extension TensorShape {
    /// The shape with each unknown dimension named: the batch axis `batch`, the others by position.
    package var dims: [Dim] {
        enumerated().map { index, dim in dim.map(Dim.size) ?? .symbol(index == 0 ? "batch" : "dim\(index)") }
    }
}

extension Layer {
    /// The layer's bound weights as graph constants, in declaration order.
    package func weightValues(_ graph: inout Graph) throws -> [ValueID] {
        guard weights.count == weightSpecs.count else {
            throw EngineError("no weights loaded: give the weights file that goes with this config")
        }
        return weights.map { array in
            graph.constant(Constant(origin: label, name: array.name, shape: array.shape, read: array.values, lentBytes: array.lentBytes))
        }
    }

    /// Adds one node computing `op` on `call`'s first input, its output keeping that input's mask (as most
    /// Keras layers do); `weights` are read after the input.
    package func lowerElementwise(_ op: Op, _ call: LoweringCall, weights: [ValueID?] = [], into graph: inout Graph) throws -> [LoweredTensor] {
        guard let input = call.inputs.first else { throw EngineError("expected an input, found none") }
        let type = ValueType(dtype: .float32, shape: call.outputShapes?.first?.dims)
        let output = graph.add(op, inputs: [input.value] + weights, outputs: [type], origin: label)
        return [LoweredTensor(value: output[0], mask: input.mask)]
    }

    /// Adds one node computing `op` on the whole call: its tensors, their masks, then `weights`; the node
    /// produces `count` tensors, then one mask for each.
    package func lowerCall(_ op: Op, _ call: LoweringCall, weights: [ValueID?] = [], outputs count: Int = 1, into graph: inout Graph) -> [LoweredTensor] {
        let shapes = call.outputShapes
        let inputs = call.inputs.map { Optional($0.value) } + call.inputs.map(\.mask) + weights
        let tensorTypes = (0 ..< count).map { index in ValueType(dtype: .float32, shape: shapes.flatMap { index < $0.count ? $0[index].dims : nil }) }
        let maskTypes = (0 ..< count).map { _ in ValueType(dtype: .bool, shape: nil) }
        let outputs = graph.add(op, inputs: inputs, outputs: tensorTypes + maskTypes, origin: label)
        return (0 ..< count).map { LoweredTensor(value: outputs[$0], mask: outputs[count + $0]) }
    }

    /// A bool value that is true where `value` is not zero (a mask passed as a number tensor).
    package func notZero(_ value: ValueID, into graph: inout Graph) -> ValueID {
        graph.add(.notEqual(0), inputs: [value], outputs: [ValueType(dtype: .bool, shape: graph.type(of: value).shape)], origin: label)[0]
    }

    /// Adds a node standing for a call kconv cannot compute: it fails when run, naming the reason, so a
    /// model with such a layer still lowers (and inspects) but does not run.
    package func lowerUnsupported(_ call: LoweringCall, into graph: inout Graph) -> [LoweredTensor] {
        let shapes = call.outputShapes
        let count = shapes?.count ?? 1
        let types = (0 ..< count).map { index in ValueType(dtype: .float32, shape: shapes.map { $0[index].dims }) }
        let inputs = (call.inputs + call.keywordInputs.flatMap(\.tensors)).map { Optional($0.value) }
        let reason = unsupportedReason ?? "kconv cannot compute \(label)"
        return graph.add(.unsupported(reason: reason), inputs: inputs, outputs: types, origin: label).map { LoweredTensor(value: $0, mask: nil) }
    }
}

/// A model lowered to a graph, with where each of its layer calls' outputs went.
package struct LoweredModel {
    package var graph: Graph
    /// For each node of the model (by index), the values its outputs became; empty for input nodes.
    package var nodeOutputs: [[ValueID]]
}

extension Model {
    /// The model as a graph whose inputs are the model's inputs (with no mask) and whose outputs its outputs.
    package func lowered() throws -> LoweredModel {
        try requireGraph()
        var graph = Graph()
        let inputs = inputs.map { ref in
            // Text stays text (for the string layers); every other input computes in float32.
            let dtype: DType = (nodes[ref.node].layer as? InputLayer).flatMap { DType(kerasName: $0.dtype) } == .string ? .string : .float32
            return LoweredTensor(value: graph.newValue(ValueType(dtype: dtype, shape: shape(of: ref)?.dims)), mask: nil)
        }
        graph.inputs = inputs.map(\.value)
        var nodeOutputs: [[ValueID]] = []
        let outputs = try lowerNodes(inputs, into: &graph) { nodeOutputs.append($0) }
        graph.outputs = outputs.map(\.value)
        return LoweredModel(graph: graph, nodeOutputs: nodeOutputs)
    }

    /// Refuses a subclassed model, which has no graph to run or convert, with the reason.
    package func requireGraph() throws {
        if kind == .subclassed, let reason = unsupportedReason { throw ModelError(layer: label, reason) }
    }

    /// Adds the model's layer calls to `graph`, fed with `inputs`; returns its outputs. `record` sees each
    /// node's output values, in node order.
    package func lowerNodes(_ inputs: [LoweredTensor], into graph: inout Graph, record: ([ValueID]) -> Void = { _ in }) throws -> [LoweredTensor] {
        guard inputs.count == self.inputs.count else {
            throw EngineError("model '\(name)' takes \(self.inputs.count) inputs, found \(inputs.count)")
        }
        var values: [[LoweredTensor]?] = Array(repeating: nil, count: nodes.count)
        for (ref, input) in zip(self.inputs, inputs) { values[ref.node] = [input] }
        func lookup(_ ref: TensorRef) throws -> LoweredTensor {
            guard let outputs = values[ref.node], ref.index < outputs.count else {
                // A layer kconv cannot compute has no known outputs to take an index of: say why.
                let producer = nodes[ref.node].layer
                if let reason = producer.unsupportedReason { throw ModelError(layer: producer.label, reason) }
                throw EngineError("layer '\(producer.name)' produced no output \(ref.index)")
            }
            return outputs[ref.index]
        }
        for (index, node) in nodes.enumerated() {
            if values[index] == nil {
                let call = LoweringCall(inputs: try node.inputs.map(lookup),
                                        keywordInputs: try node.keywordInputs.map { ($0.name, try $0.tensors.map(lookup)) },
                                        recordedCall: node.call, outputShapes: node.outputShapes)
                values[index] = try locating(layer: node.layer.label) {
                    node.layer.unsupportedReason == nil ? try node.layer.lower(call, into: &graph) : node.layer.lowerUnsupported(call, into: &graph)
                }
                if node.layer.clearsInputMasks {
                    for ref in node.inputs where ref.index < values[ref.node]?.count ?? 0 { values[ref.node]?[ref.index].mask = nil }
                }
                record(values[index]?.map(\.value) ?? [])
            } else {
                record([])
            }
        }
        return try outputs.map(lookup)
    }
}

extension Layer {
    /// The call's one input.
    package func singleInput(_ call: LoweringCall) throws -> LoweredTensor {
        guard call.inputs.count == 1, let input = call.inputs.first else {
            throw EngineError("expected 1 input, found \(call.inputs.count)")
        }
        return input
    }

    /// Adds one node computing `op` on `input`, whose output carries no mask (Keras's reshaping layers
    /// drop it).
    package func lowerUnmasked(_ op: Op, _ input: ValueID, _ call: LoweringCall, weights: [ValueID] = [], into graph: inout Graph) -> [LoweredTensor] {
        let output = graph.add(op, inputs: [input] + weights, outputs: [ValueType(dtype: .float32, shape: call.outputShapes?.first?.dims)], origin: label)
        return [LoweredTensor(value: output[0], mask: nil)]
    }
}

extension Layer {
    /// Adds one node computing `op` with a single output, of `dtype` and `shape` (nil: not known before
    /// running), and returns that output.
    package func addNode(_ op: Op, _ inputs: [ValueID?], shape: [Dim]?, dtype: DType = .float32, into graph: inout Graph) -> ValueID {
        graph.add(op, inputs: inputs, outputs: [ValueType(dtype: dtype, shape: shape)], origin: label)[0]
    }

    /// `value` as a bool mask: itself when it is one, else true where it is not zero (Keras casts a number
    /// mask to bool).
    package func asMask(_ value: ValueID, into graph: inout Graph) -> ValueID {
        graph.type(of: value).dtype == .bool ? value : notZero(value, into: &graph)
    }

    /// `value` with a size-1 axis inserted at `axis` (negative: from the end of the result).
    package func expandDims(_ value: ValueID, axis: Int, into graph: inout Graph) -> ValueID {
        let type = graph.type(of: value)
        let shape = type.shape.map { shape -> [Dim] in
            var shape = shape
            shape.insert(.size(1), at: axis < 0 ? axis + shape.count + 1 : axis)
            return shape
        }
        return addNode(.expandDims(axis: axis), [value], shape: shape, dtype: type.dtype, into: &graph)
    }

    /// The AND of the masks present (nil when none is), broadcast against each other.
    package func allOf(_ masks: [ValueID?], into graph: inout Graph) -> ValueID? {
        masks.compactMap { $0 }.reduce(nil) { result, mask in
            guard let result else { return mask }
            let shape = broadcastShape(graph.type(of: result).shape, graph.type(of: mask).shape)
            return addNode(.binary(.and), [result, mask], shape: shape, dtype: .bool, into: &graph)
        }
    }

    /// The shape NumPy broadcasting gives two values, where both are known (a size-1 axis takes the other's).
    package func broadcastShape(_ a: [Dim]?, _ b: [Dim]?) -> [Dim]? {
        guard let a, let b else { return nil }
        let rank = max(a.count, b.count)
        let (x, y) = (Array(repeating: Dim.size(1), count: rank - a.count) + a, Array(repeating: Dim.size(1), count: rank - b.count) + b)
        return zip(x, y).map { $0 == .size(1) ? $1 : $0 }
    }
}
