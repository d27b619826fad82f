import KConvEngine
import KConvKeras
import KConvIO
import KConvGraph
/// Runs a model: lowered to a graph once, planned once, then each call runs the plan.
extension Model {
    /// Lowers the model and reads every weight value into the plan; call once before `predict` (predict
    /// does it on first use).
    public func prepareForInference() throws {
        let lowered = try lowered()
        prepared = PreparedModel(lowered: lowered, plan: try Plan(lowered.graph))
    }

    /// Runs the model on `inputs` (one tensor per model input, batch first) and returns its outputs.
    public func predict(_ inputs: [Tensor]) throws -> [Tensor] {
        try run(inputs, keepingLayerOutputs: false).outputs
    }

    /// Runs the model; with `keepingLayerOutputs`, also returns every layer call's outputs in node order
    /// (for per-layer checks), named by layer.
    package func run(_ inputs: [Tensor], keepingLayerOutputs: Bool) throws -> (outputs: [Tensor], layers: [(name: String, tensors: [Tensor])]) {
        try checkInputs(inputs)
        if !(prepared is PreparedModel) { try prepareForInference() }
        guard let prepared = prepared as? PreparedModel else { throw EngineError("model '\(name)' could not be prepared") }
        let layerValues = keepingLayerOutputs ? zip(nodes, prepared.lowered.nodeOutputs).filter { !$0.1.isEmpty } : []
        let retain = Set(layerValues.flatMap(\.1))
        let result = try prepared.plan.run(inputs.map(Plan.Slot.tensor), retain: retain)
        let outputs = try result.outputs.enumerated().map { index, slot in
            guard let tensor = slot?.asTensor else { throw EngineError("model output \(index) was not computed") }
            return tensor
        }
        let layers = layerValues.map { node, values in
            (node.layer.name, values.compactMap { result.retained[$0]?.asTensor })
        }
        return (outputs, layers)
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

/// A model's graph and the plan that runs it.
package final class PreparedModel {
    package let lowered: LoweredModel
    package let plan: Plan

    init(lowered: LoweredModel, plan: Plan) {
        self.lowered = lowered
        self.plan = plan
    }
}
