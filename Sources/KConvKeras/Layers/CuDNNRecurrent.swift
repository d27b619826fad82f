import KConvGraph
import KConvIO
/// Keras 2's CuDNNLSTM and CuDNNGRU (GPU-only layers of Keras 2.0–2.3 and `tf.compat.v1.keras`), run and
/// written as the LSTM and `GRU(reset_after=True)` that compute the same function.
///
/// They store cuDNN's layout: each gate's input kernel in Fortran order, each gate's recurrent kernel
/// transposed, and two biases (input and recurrent) of `gates·units` each. Like Keras 2's loader
/// (`_convert_rnn_weights`), kconv converts them on reading: LSTM sums the two biases, GRU keeps them as
/// the `(2, 3·units)` bias of `reset_after`. Activations are fixed: tanh, and sigmoid on the gates.

package class CuDNNRecurrent: Layer, RecurrentPass {
    package let settings: CellSettings
    package let returnSequences: Bool
    package let returnState: Bool
    package let goBackwards: Bool
    package let stateful: Bool

    package required init(_ context: LayerContext) throws {
        let config = context.config
        let units = try config.int("units")
        guard units > 0 else { throw config.error("units", expected: "a positive integer", found: config.object["units"]) }
        settings = CellSettings(cell: context.className == "CuDNNLSTM" ? .lstm : .gru(resetAfter: true), units: units,
                                activation: .tanh, recurrentActivation: .sigmoid, useBias: true)
        returnSequences = try config.bool("return_sequences", default: false)
        returnState = try config.bool("return_state", default: false)
        goBackwards = try config.bool("go_backwards", default: false)
        stateful = try config.bool("stateful", default: false)
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        guard let input = inputShapes.first else { throw ModelError(layer: label, "expected an input, found none") }
        try requireRank(input, 3...3, "a 3-D (batch, timesteps, features)")
        // Keras 3 keeps the LSTM/GRU it is written as under `cell/`; tf-keras keeps cuDNN's own weights on the layer.
        return settings.weights(of: self, features: try lastDimension(input), owner: "cell/", keras2Owner: "", legacyScope: nil)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        guard let input = inputShapes.first else { throw ModelError(layer: label, "expected an input, found none") }
        let state: TensorShape = [input.first ?? nil, settings.units]
        let output = returnSequences ? [input.first ?? nil, input.count > 1 ? input[1] : nil, settings.units] : state
        return [output] + (returnState ? Array(repeating: state, count: stateCount) : [])
    }

    package var stateCount: Int { settings.cell.stateCount }

    /// Keras counts cuDNN's two LSTM biases (`2·4·units`), which kconv holds summed as LSTM's one.
    override package var paramCount: Int { super.paramCount + (settings.cell == .lstm ? settings.cell.gates * settings.units : 0) }
    override package var trainableParamCount: Int {
        super.trainableParamCount + (settings.cell == .lstm ? settings.cell.gates * settings.units : 0)
    }

    package func recurrentOp(zeroOutputForMask: Bool) -> RecurrentOp {
        settings.pass(goBackwards: goBackwards, returnSequences: returnSequences, zeroOutputForMask: zeroOutputForMask)
    }

    /// cuDNN's `[kernel, recurrent_kernel, bias (2·gates·units)]` as LSTM/GRU weights; arrays already in
    /// that layout (a bias of LSTM's or GRU's shape) are kept, as Keras's loader tells them by the bias.
    package override func storedWeights(_ arrays: [WeightArray]) throws -> [WeightArray] {
        let gates = settings.cell.gates, units = settings.units, width = gates * units
        guard arrays.count == 3, arrays[2].shape == [2 * width], arrays[0].shape.count == 2, arrays[0].shape[1] == width,
              arrays[1].shape == [units, width] else { return arrays }
        let (kernel, recurrent, bias) = (arrays[0], arrays[1], arrays[2])
        let features = kernel.shape[0]
        let isLSTM = settings.cell == .lstm
        return [
            // Gate g's block k (features × units) read as cuDNN's row-major (units × features) matrix W: K[i, j] = W[j, i].
            WeightArray(name: kernel.name, shape: kernel.shape) {
                Self.perGate(try kernel.values(), rows: features, gates: gates, units: units) { block, i, j in
                    let flat = j * features + i
                    return block(flat / units, flat % units)
                }
            },
            WeightArray(name: recurrent.name, shape: recurrent.shape) {
                Self.perGate(try recurrent.values(), rows: units, gates: gates, units: units) { block, i, j in block(j, i) }
            },
            WeightArray(name: bias.name, shape: isLSTM ? [width] : [2, width]) {
                let values = try bias.values()
                return isLSTM ? (0 ..< width).map { values[$0] + values[width + $0] } : values
            },
        ]
    }

    /// A `[rows, gates·units]` kernel rebuilt gate by gate: entry `(i, j)` of a gate's block is
    /// `entry(block, i, j)`, where `block(r, c)` reads the same gate's source block.
    private static func perGate(_ values: [Float], rows: Int, gates: Int, units: Int,
                                _ entry: ((Int, Int) -> Float, Int, Int) -> Float) -> [Float] {
        let width = gates * units
        var result = [Float](repeating: 0, count: values.count)
        for gate in 0 ..< gates {
            let block = { (row: Int, column: Int) in values[row * width + gate * units + column] }
            for i in 0 ..< rows {
                for j in 0 ..< units { result[i * width + gate * units + j] = entry(block, i, j) }
            }
        }
        return result
    }

    package override var callSignature: CallSignature { .sequenceAndStates }

    /// Written as the LSTM or GRU it computes, with the activations and `reset_after` spelled out.
    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        try settings.exportConfig(&config, export, of: self)
        try exportTimeMajor(&config, export, false)
        export.note("\(label): written as \(Self.writtenClassNames[export.target] ?? className) with the weights Keras 2's loader converts it to (\(className) runs only on a GPU)")
    }

    /// Written as LSTM or GRU, it takes their folder and their `cell/` in both generations' files.
    package override var storageClassName: String { Self.writtenClassNames[.keras3] ?? className }
    package override func writtenObjectPath(_ spec: WeightSpec, for target: KerasDialect) -> String { spec.objectPath }

    override package var unsupportedReason: String? { sequenceUnsupportedReason(stateful: stateful, timeMajor: false) }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerPass(call, zeroOutputForMask: false, into: &graph)
    }
}

package final class CuDNNLSTM: CuDNNRecurrent {
    package override class var kerasClassNames: [String] { ["CuDNNLSTM"] }
    package override class var writtenClassNames: [KerasDialect: String] { [.keras2: "LSTM", .keras3: "LSTM"] }
    package override class var examples: [LayerExample] { [LayerExample("CuDNNLSTM", ["units": 2], inputs: [[3, 2]])] }
}

package final class CuDNNGRU: CuDNNRecurrent {
    package override class var kerasClassNames: [String] { ["CuDNNGRU"] }
    package override class var writtenClassNames: [KerasDialect: String] { [.keras2: "GRU", .keras3: "GRU"] }
    package override class var examples: [LayerExample] { [LayerExample("CuDNNGRU", ["units": 2], inputs: [[3, 2]])] }
}
