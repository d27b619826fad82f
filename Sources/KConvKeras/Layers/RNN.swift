import KConvGraph
import KConvIO
/// Keras's generic `RNN` layer over a cell (`RNN(LSTMCell(3))`) or stacked cells (`RNN([cell, cell])`,
/// which Keras saves as a StackedRNNCells), lowered to the same recurrent passes as LSTM, GRU and SimpleRNN.

package final class RNN: Layer {
    package override class var kerasClassNames: [String] { ["RNN"] }
    package override class var examples: [LayerExample] {
        [LayerExample("RNN", ["cell": ["class_name": "LSTMCell", "config": ["units": 2, "name": "lstm_cell"]]], inputs: [[3, 2]])]
    }

    /// The cell as the config holds it: an RNNCell or a StackedRNNCells.
    package let cell: Layer
    /// The cells the layer runs, in order.
    package let cells: [RNNCell]
    package let returnSequences: Bool
    package let returnState: Bool
    package let goBackwards: Bool
    package let stateful: Bool
    package let timeMajor: Bool
    package let zeroOutputForMask: Bool

    package required init(_ context: LayerContext) throws {
        let config = context.config
        let built = try locating(field: "config.cell") { try context.buildLayer(try config.nested("cell")) }
        switch built {
        case let single as RNNCell: cells = [single]
        case let stacked as StackedRNNCells: cells = stacked.cells
        default: throw ModelError(field: "config.cell", "expected SimpleRNNCell, LSTMCell, GRUCell or StackedRNNCells, found \(built.className)")
        }
        cell = built
        returnSequences = try config.bool("return_sequences", default: false)
        returnState = try config.bool("return_state", default: false)
        goBackwards = try config.bool("go_backwards", default: false)
        stateful = try config.bool("stateful", default: false)
        timeMajor = try config.bool("time_major", default: false)
        zeroOutputForMask = try config.bool("zero_output_for_mask", default: false)
        try super.init(context)
    }

    private func sequence(_ inputShapes: [TensorShape]) throws -> TensorShape {
        try firstInput(inputShapes, 3...3, "a 3-D (batch, timesteps, features)")
    }

    /// The cell is built for one step, `(batch, features)`; its weights sit under the layer's `cell/`.
    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let input = try sequence(inputShapes)
        try locating(layer: cell.label) { try cell.build([[input[0], input[2]]]) }
        return cell.weightSpecs.map { $0.adopted(objectPrefix: "cell/", legacyScope: cell.name) }
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try sequence(inputShapes)
        let stepShapes = try cell.outputShapes([[input[0], input[2]]])
        let output = stepShapes[0]
        let (batch, steps) = timeMajor ? (input[1], input[0]) : (input[0], input[1])
        let sequence: TensorShape = timeMajor ? [steps, batch] + output.dropFirst() : [batch, steps] + output.dropFirst()
        return [returnSequences ? sequence : output] + (returnState ? Array(stepShapes.dropFirst()) : [])
    }

    package override func bind(_ arrays: [WeightArray]) throws {
        try super.bind(arrays)
        try cell.bind(arrays)
    }

    /// None: Keras's summary does not list an RNN's cell as a nested layer.
    override package var sublayers: [Layer] { [] }
    package override var callSignature: CallSignature { .sequenceAndStates }

    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        config["cell"] = .object(try export.layerEntry(cell))
        try exportTimeMajor(&config, export, timeMajor)
    }

    override package var unsupportedReason: String? {
        sequenceUnsupportedReason(stateful: stateful, timeMajor: timeMajor) ?? cell.unsupportedReason
    }

    /// Keras RNN call, as for LSTM: initial states positional (Keras 2) or by `initial_state` (Keras 3),
    /// every cell's states in order; the output keeps the mask when it is a sequence.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let input = call.inputs.first else { throw EngineError("expected an input, found none") }
        let mask = recurrentMask(call, into: &graph)
        let chain = CellChain(cells: cells, goBackwards: goBackwards, returnSequences: returnSequences, returnState: returnState,
                              zeroOutputForMask: zeroOutputForMask)
        let outputs = try chain.lower(input.value, mask: mask, states: initialStates(call).map(\.value), origin: label, into: &graph)
        return outputs.enumerated().map { index, value in LoweredTensor(value: value, mask: index == 0 && returnSequences ? mask : nil) }
    }
}

/// Bidirectional wraps an RNN of one cell as it wraps an LSTM.
extension RNN: RecurrentPass {
    package var stateCount: Int { cells.reduce(0) { $0 + $1.settings.cell.stateCount } }

    package func recurrentOp(zeroOutputForMask: Bool) -> RecurrentOp {
        // Bidirectional refuses stacked cells through `unsupportedReason` before lowering.
        cells[0].settings.pass(goBackwards: goBackwards, returnSequences: returnSequences, zeroOutputForMask: zeroOutputForMask)
    }
}
