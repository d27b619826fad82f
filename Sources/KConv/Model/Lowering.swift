import KConvIO

/// A tensor flowing between layer calls while a model is lowered, with the Keras mask that travels with it.
struct LoweredTensor {
    var value: ValueID
    var mask: ValueID?
}

/// One layer call as lowering sees it: its tensors, and the shapes shape inference gave its outputs.
struct LoweringCall {
    var inputs: [LoweredTensor]
    var keywordInputs: [(name: String, tensors: [LoweredTensor])]
    /// The call as the config recorded it, for what is not a tensor.
    var recordedCall: JSONValue
    /// nil when they cannot be known (downstream of a layer kconv cannot compute).
    var outputShapes: [TensorShape]?
}

extension TensorShape {
    /// The shape with each unknown dimension named: the batch axis `batch`, the others by position.
    var dims: [Dim] {
        enumerated().map { index, dim in dim.map(Dim.size) ?? .symbol(index == 0 ? "batch" : "dim\(index)") }
    }
}

extension Layer {
    /// Adds a call of this layer to `graph` as the bridge op that runs `forward`.
    func lowerAsLayerCall(_ call: LoweringCall, into graph: inout Graph) -> [LoweredTensor] {
        let shapes = call.outputShapes
        let count = shapes?.count ?? 1
        let op = LayerCallOp(layer: self, positionalCount: call.inputs.count,
                             keywords: call.keywordInputs.map { ($0.name, $0.tensors.count) },
                             recordedCall: call.recordedCall, outputCount: count)
        let inputs = call.inputs.map { Optional($0.value) } + call.inputs.map(\.mask)
            + call.keywordInputs.flatMap { $0.tensors.map { Optional($0.value) } }
        let tensorTypes = (0 ..< count).map { index in ValueType(dtype: .float32, shape: shapes.map { $0[index].dims }) }
        let maskTypes = (0 ..< count).map { _ in ValueType(dtype: .bool, shape: nil) }
        let outputs = graph.add(.layerCall(op), inputs: inputs, outputs: tensorTypes + maskTypes, origin: label)
        return (0 ..< count).map { LoweredTensor(value: outputs[$0], mask: outputs[count + $0]) }
    }
}

/// A model lowered to a graph, with where each of its layer calls' outputs went.
struct LoweredModel {
    var graph: Graph
    /// For each node of the model (by index), the values its outputs became; empty for input nodes.
    var nodeOutputs: [[ValueID]]
    /// Graph inputs after the model's inputs, one mask per model input, when lowered with input masks.
    var inputMasks: [ValueID]
    /// The mask each model output carries, if any.
    var outputMasks: [ValueID?]
}

extension Model {
    /// The model as a graph whose inputs are the model's inputs (followed, with `inputMasks`, by one mask per
    /// input) and whose outputs its outputs.
    func lowered(inputMasks: Bool = false) throws -> LoweredModel {
        var graph = Graph()
        var inputs = inputs.map { ref in
            LoweredTensor(value: graph.newValue(ValueType(dtype: .float32, shape: shape(of: ref)?.dims)), mask: nil)
        }
        if inputMasks {
            for index in inputs.indices { inputs[index].mask = graph.newValue(ValueType(dtype: .bool, shape: nil)) }
        }
        graph.inputs = inputs.map(\.value) + inputs.compactMap(\.mask)
        var nodeOutputs: [[ValueID]] = []
        let outputs = try lowerNodes(inputs, into: &graph) { nodeOutputs.append($0) }
        graph.outputs = outputs.map(\.value)
        return LoweredModel(graph: graph, nodeOutputs: nodeOutputs, inputMasks: inputs.compactMap(\.mask), outputMasks: outputs.map(\.mask))
    }

    /// Adds the model's layer calls to `graph`, fed with `inputs`; returns its outputs. `record` sees each
    /// node's output values, in node order.
    func lowerNodes(_ inputs: [LoweredTensor], into graph: inout Graph, record: ([ValueID]) -> Void = { _ in }) throws -> [LoweredTensor] {
        guard inputs.count == self.inputs.count else {
            throw EngineError("model '\(name)' takes \(self.inputs.count) inputs, found \(inputs.count)")
        }
        var values: [[LoweredTensor]?] = Array(repeating: nil, count: nodes.count)
        for (ref, input) in zip(self.inputs, inputs) { values[ref.node] = [input] }
        func lookup(_ ref: TensorRef) throws -> LoweredTensor {
            guard let outputs = values[ref.node], ref.index < outputs.count else {
                throw EngineError("layer '\(nodes[ref.node].layer.name)' produced no output \(ref.index)")
            }
            return outputs[ref.index]
        }
        for (index, node) in nodes.enumerated() {
            if values[index] == nil {
                let call = LoweringCall(inputs: try node.inputs.map(lookup),
                                        keywordInputs: try node.keywordInputs.map { ($0.name, try $0.tensors.map(lookup)) },
                                        recordedCall: node.call, outputShapes: node.outputShapes)
                values[index] = try locating(layer: node.layer.label) { try node.layer.lower(call, into: &graph) }
                record(values[index]?.map(\.value) ?? [])
            } else {
                record([])
            }
        }
        return try outputs.map(lookup)
    }
}
