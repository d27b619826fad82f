/// Runs a model's graph: nodes in order, each layer's output tensors and masks kept until their last use.
extension Model {
    /// Reads every weight value into the layers' tensors; call once before `predict`.
    public func prepareForInference() throws { try prepare() }

    func prepareLayers() throws {
        for layer in layers { try locating(layer: layer.label) { try layer.prepare() } }
        for node in nodes where node.layer is KerasOperation { try node.layer.prepare() }
    }

    /// Runs the model on `inputs` (one tensor per model input, batch first) and returns its outputs.
    public func predict(_ inputs: [Tensor]) throws -> [Tensor] {
        try run(inputs, masks: Array(repeating: nil, count: inputs.count)).tensors
    }

    /// Runs the graph. `observe` sees every node's outputs as they are computed (for per-layer checks).
    func run(_ inputs: [Tensor], masks inputMasks: [Mask?], observe: ((Node, [Tensor]) -> Void)? = nil) throws -> LayerOutput {
        try checkInputs(inputs)
        _ = Memory.reuseFreedBuffers
        var values: [[Tensor]?] = Array(repeating: nil, count: nodes.count)
        var masks: [[Mask?]] = Array(repeating: [], count: nodes.count)
        var remainingUses = useCounts
        for (ref, (tensor, mask)) in zip(self.inputs, zip(inputs, inputMasks)) {
            values[ref.node] = [tensor]
            masks[ref.node] = [mask]
        }
        func take(_ ref: TensorRef) throws -> (Tensor, Mask?) {
            guard let outputs = values[ref.node], ref.index < outputs.count else {
                throw EngineError("layer '\(nodes[ref.node].layer.name)' produced no output \(ref.index)")
            }
            let result = (outputs[ref.index], ref.index < masks[ref.node].count ? masks[ref.node][ref.index] : nil)
            remainingUses[ref.node] -= 1
            if remainingUses[ref.node] == 0 { values[ref.node] = nil }  // free the buffer after its last use
            return result
        }
        for (index, node) in nodes.enumerated() where values[index] == nil {
            let positional = try node.inputs.map(take)
            var keywords: [String: [Tensor]] = [:]
            for (name, refs) in node.keywordInputs { keywords[name] = try refs.map { try take($0).0 } }
            var call = LayerCall(inputs: positional.map(\.0), masks: positional.map(\.1), keywordInputs: keywords)
            call.recordedCall = node.call
            let output = try locating(layer: node.layer.label) { try node.layer.forward(call) }
            observe?(node, output.tensors)
            values[index] = output.tensors
            masks[index] = output.masks
        }
        var outputs: [Tensor] = []
        var outputMasks: [Mask?] = []
        for ref in self.outputs {
            guard let tensors = values[ref.node], ref.index < tensors.count else {
                throw EngineError("model output from layer '\(nodes[ref.node].layer.name)' was not computed")
            }
            outputs.append(tensors[ref.index])
            outputMasks.append(ref.index < masks[ref.node].count ? masks[ref.node][ref.index] : nil)
        }
        return LayerOutput(outputs, masks: outputMasks)
    }

    /// Inputs must match the model's declared inputs in count, rank and every known dimension.
    private func checkInputs(_ inputs: [Tensor]) throws {
        guard inputs.count == self.inputs.count else {
            throw EngineError("model '\(name)' takes \(self.inputs.count) inputs (\(inputLayers.map(\.name).joined(separator: ", "))), found \(inputs.count)")
        }
        for (tensor, layer) in zip(inputs, inputLayers) {
            let expected = layer.batchShape
            let matches = tensor.shape.count == expected.count
                && zip(tensor.shape, expected).allSatisfy { dim, want in want.map { $0 == dim } ?? true }
            guard matches else {
                throw EngineError("input '\(layer.name)' must have shape \(expected.kerasDescription), found \(tensor.shape)")
            }
        }
    }
}
