import KConvEngine
import KConvKeras
import KConvIO
import KConvGraph
/// Runs a model: lowered to a graph once, planned once, then each call runs the plan.
extension Model {
    /// Lowers the model and reads every weight value into the plan; call once before `predict` (predict
    /// does it on first use).
    package func prepareForInference() throws {
        let lowered = try lowered()
        let plan = try Plan(lowered.graph)
        plan.largestValue = MemoryBudget.current.bytes
        prepared = PreparedModel(lowered: lowered, plan: plan)
    }

    /// Runs the model on `inputs` (one tensor per model input, batch first) and returns its outputs.
    package func predict(_ inputs: [Tensor]) throws -> [Tensor] {
        try run(inputs.map(Plan.Slot.tensor), keepingLayerOutputs: false).outputs.map(\.asTensor)
    }

    /// Runs the model on NumPy arrays (one per model input, in input order). An integer array feeding an
    /// integer input (an Embedding's token ids) stays exact at any size; everything else computes in float32.
    package func predict(arrays: [NumPyArray]) throws -> [Tensor] {
        try run(inputSlots(arrays), keepingLayerOutputs: false).outputs.map(\.asTensor)
    }

    /// Runs the model on NumPy arrays and returns its outputs in the dtypes Keras gives them: integer outputs
    /// (bucket and lookup indices) as integers, exact at any size, boolean ones as bool, text as unicode, the
    /// rest float32.
    package func predictArrays(_ arrays: [NumPyArray]) throws -> [NumPyArray] {
        let (slots, graph) = try runPlan(inputSlots(arrays), retain: [])
        return try zip(slots.outputs, graph.outputs).enumerated().map { index, pair in
            guard let slot = pair.0 else { throw EngineError("model output \(index) was not computed") }
            return slot.array(as: NumPyArray.DType(graph.type(of: pair.1).dtype))
        }
    }

    /// The engine's input values for `arrays`: integers kept exact where the input layer's dtype is an
    /// integer; text only where it is `string`, which takes nothing else.
    package func inputSlots(_ arrays: [NumPyArray]) throws -> [Plan.Slot] {
        try zip(arrays, inputLayers).map { array, layer in
            let dtype = DType(kerasName: layer.dtype)
            guard (array.strings != nil) == (dtype == .string) else {
                throw EngineError("input '\(layer.name)' takes \(dtype == .string ? "strings" : "numbers"), found an array of \(array.strings != nil ? "strings" : "numbers")")
            }
            if let strings = array.strings { return .strings(StringTensor(shape: array.shape, values: strings)) }
            if dtype?.isInteger == true, let integers = array.integers {
                return .integers(IndexTensor(shape: array.shape, values: integers))
            }
            return .tensor(array.tensor)
        } + arrays.dropFirst(inputLayers.count).map { .tensor($0.tensor) }
    }

    /// Runs the model; with `keepingLayerOutputs`, also returns every layer call's outputs in node order
    /// (for per-layer checks), named by layer.
    package func run(_ inputs: [Plan.Slot], keepingLayerOutputs: Bool) throws -> (outputs: [Plan.Slot], layers: [(name: String, tensors: [Tensor])]) {
        if !(prepared is PreparedModel) { try prepareForInference() }
        guard let prepared = prepared as? PreparedModel else { throw EngineError("model '\(name)' could not be prepared") }
        let layerValues = keepingLayerOutputs ? zip(nodes, prepared.lowered.nodeOutputs).filter { !$0.1.isEmpty } : []
        let (result, _) = try runPlan(inputs, retain: Set(layerValues.flatMap(\.1)))
        let outputs = try result.outputs.enumerated().map { index, slot in
            guard let slot else { throw EngineError("model output \(index) was not computed") }
            return slot
        }
        let layers = layerValues.map { node, values in
            (node.layer.name, values.compactMap { result.retained[$0]?.asTensor })
        }
        return (outputs, layers)
    }

    /// Checks the inputs and runs the prepared plan (preparing it first if needed); also gives the lowered graph.
    private func runPlan(_ inputs: [Plan.Slot], retain: Set<ValueID>) throws -> (result: (outputs: [Plan.Slot?], retained: [ValueID: Plan.Slot]), graph: Graph) {
        try checkInputs(inputs.map(\.shape))
        if !(prepared is PreparedModel) { try prepareForInference() }
        guard let prepared = prepared as? PreparedModel else { throw EngineError("model '\(name)' could not be prepared") }
        return (try prepared.plan.run(inputs, retain: retain), prepared.lowered.graph)
    }

    /// Inputs must match the model's declared inputs in count, rank and every known dimension.
    private func checkInputs(_ inputs: [[Int]]) throws {
        guard inputs.count == self.inputs.count else {
            throw EngineError("model '\(name)' takes \(self.inputs.count) inputs (\(inputLayers.map(\.name).joined(separator: ", "))), found \(inputs.count)")
        }
        for (shape, layer) in zip(inputs, inputLayers) {
            let expected = layer.batchShape
            let matches = shape.count == expected.count
                && zip(shape, expected).allSatisfy { dim, want in want.map { $0 == dim } ?? true }
            guard matches else {
                throw EngineError("input '\(layer.name)' must have shape \(expected.kerasDescription), found \(shape)")
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

extension Plan.Slot {
    /// The value as a NumPy array of `dtype`: integers exact, text as unicode, the rest float32.
    package func array(as dtype: NumPyArray.DType) -> NumPyArray {
        switch self {
        case .strings(let strings): return NumPyArray(shape: strings.shape, strings: strings.values)
        case .integers(let integers) where dtype != .float32:
            return NumPyArray(shape: integers.shape, dtype: dtype, values: integers.values.map(Float.init), integers: integers.values)
        default:
            let tensor = asTensor
            return NumPyArray(shape: tensor.shape, dtype: dtype == .unicode ? .float32 : dtype, values: tensor.values)
        }
    }
}
