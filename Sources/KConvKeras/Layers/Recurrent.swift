import KConvGraph
import KConvIO
/// Recurrent layers: SimpleRNN, LSTM and GRU over `(batch, timesteps, features)` inputs.

/// One recurrent layer. Gate blocks in the kernels follow Keras: LSTM `[i f c o]`, GRU `[z r h]`.
/// Weights live on the layer's cell, so Keras 3 stores them under `cell/vars/`.
package final class Recurrent: Layer {
    package override class var kerasClassNames: [String] { ["SimpleRNN", "LSTM", "GRU"] }
    package override class var legacyClassNames: [String: String] { ["UnifiedLSTM": "LSTM", "LSTMV1": "LSTM", "UnifiedGRU": "GRU", "GRUV1": "GRU"] }
    package override class var examples: [LayerExample] { kerasClassNames.map { LayerExample($0, ["units": 2], inputs: [[3, 2]]) } }
    package typealias Cell = RecurrentCell

    /// The cell's maths and weights, as an RNN cell of the same kind holds them.
    package let settings: CellSettings
    package var cell: Cell { settings.cell }
    package var units: Int { settings.units }
    package var activation: Activation { settings.activation }
    package var recurrentActivation: Activation { settings.recurrentActivation }
    package var useBias: Bool { settings.useBias }
    package let returnSequences: Bool
    package let returnState: Bool
    package let goBackwards: Bool
    package let stateful: Bool
    package let timeMajor: Bool
    /// Masked steps output zeros rather than the previous output (Keras's `zero_output_for_mask`,
    /// saved only when set; Bidirectional overrides it).
    package let zeroOutputForMask: Bool

    package required init(_ context: LayerContext) throws {
        let config = context.config
        settings = try CellSettings(context, kind: context.className)
        returnSequences = try config.bool("return_sequences", default: false)
        returnState = try config.bool("return_state", default: false)
        goBackwards = try config.bool("go_backwards", default: false)
        stateful = try config.bool("stateful", default: false)
        timeMajor = try config.bool("time_major", default: false)
        zeroOutputForMask = try config.bool("zero_output_for_mask", default: false)
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        // tf-keras names the cell lstm_cell, gru_cell, simple_rnn_cell
        settings.weights(of: self, features: try lastDimension(singleSequence(inputShapes)), owner: "cell/",
                         legacyScope: snakeCase(className) + "_cell")
    }

    /// The sequence input; further inputs of the call are initial states.
    private func singleSequence(_ inputShapes: [TensorShape]) throws -> TensorShape {
        try firstInput(inputShapes, 3...3, "a 3-D (batch, timesteps, features)")
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleSequence(inputShapes)
        let (batch, steps) = timeMajor ? (input[1], input[0]) : (input[0], input[1])
        let sequence: TensorShape = timeMajor ? [steps, batch, units] : [batch, steps, units]
        let output = returnSequences ? sequence : [batch, units]
        let states = returnState ? Array(repeating: [batch, units] as TensorShape, count: cell.stateCount) : []
        return [output] + states
    }

    /// The cell and options of one pass; Bidirectional sets `zeroOutputForMask` for both its layers.
    package func recurrentOp(zeroOutputForMask: Bool) -> RecurrentOp {
        settings.pass(goBackwards: goBackwards, returnSequences: returnSequences, zeroOutputForMask: zeroOutputForMask)
    }

    package var stateCount: Int { cell.stateCount }

    /// Keras RNN call: `layer(x)`, with initial states as further positional inputs (Keras 2 records
    /// `[x, h0, c0]`) or by keyword `initial_state` (Keras 3).
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerPass(call, zeroOutputForMask: zeroOutputForMask, into: &graph)
    }

    // MARK: Calls and writing

    package override var callSignature: CallSignature { .sequenceAndStates }

    package override var versionOnlyKeys: [VersionOnlyKey] {
        CellSettings.versionOnlyKeys + [VersionOnlyKey("forget_bias_init", onlyIn: .keras1, value: "one", why: "Keras 2 and 3 always start the forget bias at one")]
    }

    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        try settings.exportConfig(&config, export, of: self)
        try exportTimeMajor(&config, export, timeMajor)
    }

    /// The gates whose pre-activation each function gets, as column blocks of kernel, recurrent kernel and
    /// bias (Keras orders LSTM gates i, f, c, o and GRU's z, r, h). An LSTM's `activation` also acts on the
    /// cell state, which no weight scales.
    package override func affineArguments(of key: String) -> [WeightScaling]? {
        let parts: [Int]
        switch (cell, key) {
        case (.simple, "activation"): return allWeightsScaled
        case (.lstm, "recurrent_activation"): parts = [0, 1, 3]
        case (.gru, "recurrent_activation"): parts = [0, 1]
        case (.gru, "activation"): parts = [2]
        default: return nil
        }
        return weightSpecs.indices.map { WeightScaling($0, blocks: cell.gates, parts: parts) }
    }

    /// Keras 1 stored LSTM and GRU weights per gate (12 and 9 arrays, `[W, U, b]` per gate, LSTM gates in
    /// the order i, c, f, o); Keras 2's `preprocess_weights_for_loading` joins them into kernel, recurrent
    /// kernel and bias with gates i, f, c, o.
    package override func keras1Weights(_ arrays: [WeightArray]) throws -> [WeightArray] {
        let gateOrder: [Int]
        switch (cell, arrays.count) {
        case (.lstm, 12): gateOrder = [0, 2, 1, 3]
        case (.gru, 9): gateOrder = [0, 1, 2]
        default: return arrays
        }
        return try (0..<3).map { part in
            try WeightArray.concatenatingLastAxis(gateOrder.map { arrays[$0 * 3 + part] }, name: ["kernel", "recurrent_kernel", "bias"][part])
        }
    }

    override package var unsupportedReason: String? {
        sequenceUnsupportedReason(stateful: stateful, timeMajor: timeMajor) ?? settings.unsupportedReason
    }
}

/// A layer that runs as one recurrent pass over its sequence: what Bidirectional wraps.
package protocol RecurrentPass: Layer {
    var returnSequences: Bool { get }
    var returnState: Bool { get }
    /// How many state tensors the pass carries (and returns with `returnState`).
    var stateCount: Int { get }
    func recurrentOp(zeroOutputForMask: Bool) -> RecurrentOp
}

extension Recurrent: RecurrentPass {}

extension RecurrentPass {
    /// The pass over the call's sequence: outputs `[output]`, plus the final states (`h`, LSTM `h, c`) with
    /// `return_state`. The output keeps the mask when it is a sequence.
    package func lowerPass(_ call: LoweringCall, zeroOutputForMask: Bool, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let sequence = call.inputs.first else { throw EngineError("expected an input, found none") }
        let mask = recurrentMask(call, into: &graph)
        let weights = try weightValues(&graph)
        let op = Op.recurrent(recurrentOp(zeroOutputForMask: zeroOutputForMask), weights: weights.count, returnState: returnState)
        let count = 1 + (returnState ? stateCount : 0)
        let types = (0 ..< count).map { index in ValueType(dtype: .float32, shape: call.outputShapes.flatMap { index < $0.count ? $0[index].dims : nil }) }
        let outputs = graph.add(op, inputs: [sequence.value, mask] + weights + initialStates(call).map(\.value), outputs: types, origin: label)
        return outputs.enumerated().map { index, value in LoweredTensor(value: value, mask: index == 0 && returnSequences ? mask : nil) }
    }
}

/// The maths of one recurrent cell as a config gives it: SimpleRNN, LSTM and GRU layers and their cells.
package struct CellSettings {
    package let cell: RecurrentCell
    package let units: Int
    package let activation: Activation
    package let recurrentActivation: Activation
    package let useBias: Bool

    package init(cell: RecurrentCell, units: Int, activation: Activation, recurrentActivation: Activation, useBias: Bool) {
        self.cell = cell
        self.units = units
        self.activation = activation
        self.recurrentActivation = recurrentActivation
        self.useBias = useBias
    }

    /// Reads the config of a layer or cell of `kind` (`SimpleRNN…`, `LSTM…`, `GRU…`).
    package init(_ context: LayerContext, kind: String) throws {
        let config = context.config
        units = try config.int("units")
        guard units > 0 else { throw config.error("units", expected: "a positive integer", found: config.object["units"]) }
        if kind.hasPrefix("SimpleRNN") {
            cell = .simple
        } else if kind.hasPrefix("LSTM") {
            cell = .lstm
        } else {
            // GRU's reset_after only exists from Keras 2.1.6; files without it use the original formulation.
            cell = .gru(resetAfter: try config.bool("reset_after", default: context.dialect >= .keras3))
        }
        activation = config.activation("activation", default: "tanh", dialect: context.dialect)
        // Keras 1 defaulted inner_activation to hard_sigmoid (normalised to recurrent_activation on import).
        let recurrentDefault = context.dialect == .keras1 ? "hard_sigmoid" : "sigmoid"
        recurrentActivation = config.activation("recurrent_activation", default: recurrentDefault, dialect: context.dialect)
        useBias = try config.bool("use_bias", default: true)
    }

    /// kernel, recurrent kernel and bias for inputs of `features`, kept under `owner` (Keras 3; `keras2Owner`
    /// in tf-keras's `.weights.h5` where it differs) and `legacyScope` (tf-keras names).
    package func weights(of layer: Layer, features: Int, owner: String, keras2Owner: String? = nil, legacyScope: String?) -> [WeightSpec] {
        let width = cell.gates * units
        var specs = [
            layer.weight("kernel", [features, width], index: 0, owner: owner, keras2Owner: keras2Owner, legacyScope: legacyScope),
            layer.weight("recurrent_kernel", [units, width], index: 1, owner: owner, keras2Owner: keras2Owner, legacyScope: legacyScope),
        ]
        if useBias {
            let biasShape = cell == .gru(resetAfter: true) ? [2, width] : [width]
            specs.append(layer.weight("bias", biasShape, index: 2, owner: owner, keras2Owner: keras2Owner, legacyScope: legacyScope))
        }
        return specs
    }

    package func pass(goBackwards: Bool, returnSequences: Bool, zeroOutputForMask: Bool) -> RecurrentOp {
        RecurrentOp(cell: cell, units: units, activation: activation, recurrentActivation: recurrentActivation, useBias: useBias,
                    goBackwards: goBackwards, returnSequences: returnSequences, zeroOutputForMask: zeroOutputForMask)
    }

    package static let versionOnlyKeys = [
        VersionOnlyKey("seed", onlyIn: .keras3, value: .null, why: "Keras 2 RNNs take no dropout seed"),
        VersionOnlyKey("implementation", onlyIn: .keras2, why: "a speed setting with the same maths"),
    ]

    /// Activations and `reset_after` are written explicitly: Keras 1's defaults (hard_sigmoid, GRU without
    /// reset_after) differ from Keras 2/3's.
    package func exportConfig(_ config: inout JSONObject, _ export: ConfigExport, of layer: Layer) throws {
        try export.setActivation(&config, "activation", activation, of: layer)
        if cell != .simple { try export.setActivation(&config, "recurrent_activation", recurrentActivation, of: layer) }
        if case .gru(let resetAfter) = cell { config["reset_after"] = .bool(resetAfter) }
    }

    package var unsupportedReason: String? { activation.inPlaceUnsupportedReason ?? recurrentActivation.inPlaceUnsupportedReason }
}

extension Layer {
    /// tf-keras has `time_major`, Keras 3 refuses it.
    package func exportTimeMajor(_ config: inout JSONObject, _ export: ConfigExport, _ timeMajor: Bool) throws {
        if export.target == .keras2 {
            config["time_major"] = .bool(timeMajor)
        } else if timeMajor {
            throw ModelError(field: "config.time_major", "Keras 3 has no time-major RNNs, found true")
        } else {
            config["time_major"] = nil
        }
    }

    /// Why kconv cannot run an RNN layer with these options, or nil.
    package func sequenceUnsupportedReason(stateful: Bool, timeMajor: Bool) -> String? {
        if stateful { return "stateful=True (state carried across batches)" }
        return timeMajor ? "time_major=True" : nil
    }

    /// An RNN call's initial states: the positional inputs after the sequence (Keras 2 nodes) followed by
    /// the keyword `initial_state` ones (Keras 3).
    package func initialStates(_ call: LoweringCall) -> [LoweredTensor] {
        Array(call.inputs.dropFirst()) + (call.keywordInputs.first { $0.name == "initial_state" }?.tensors ?? [])
    }

    /// The timestep mask an RNN call uses: an explicit `mask=` tensor (non-zero = keep) overrides the mask
    /// flowing with the sequence, as in Keras.
    package func recurrentMask(_ call: LoweringCall, into graph: inout Graph) -> ValueID? {
        guard let explicit = call.keywordInputs.first(where: { $0.name == "mask" })?.tensors.first else { return call.inputs.first?.mask }
        return notZero(explicit.value, into: &graph)
    }
}
