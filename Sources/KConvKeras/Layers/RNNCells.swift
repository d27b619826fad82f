import KConvGraph
import KConvIO
/// Keras's recurrent cells, which an `RNN` layer runs over a sequence: SimpleRNNCell, LSTMCell, GRUCell and
/// StackedRNNCells (several cells, each reading the previous one's output at every step).

/// One cell: the maths of a SimpleRNN, LSTM or GRU layer for one step. Its weights are its own
/// (`vars/0…` in Keras 3, `lstm_cell/kernel:0` under the RNN layer in tf-keras).
package final class RNNCell: Layer {
    package override class var kerasClassNames: [String] { ["SimpleRNNCell", "LSTMCell", "GRUCell"] }
    package override class var examples: [LayerExample] { kerasClassNames.map { LayerExample($0, ["units": 2], inputs: [[3]]) } }

    package let settings: CellSettings

    package required init(_ context: LayerContext) throws {
        settings = try CellSettings(context, kind: context.className)
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        guard let input = inputShapes.first else { throw ModelError(layer: label, "expected an input, found none") }
        return settings.weights(of: self, features: try lastDimension(input), owner: "", legacyScope: nil)
    }

    /// A cell call `cell(x, states)` gives its output, then its new states.
    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try firstInput(inputShapes, 2...2, "a 2-D (batch, features)")
        return Array(repeating: [input[0], settings.units], count: 1 + settings.cell.stateCount)
    }

    package override var callSignature: CallSignature { .sequenceAndStates }
    package override var versionOnlyKeys: [VersionOnlyKey] { CellSettings.versionOnlyKeys }

    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        try settings.exportConfig(&config, export, of: self)
    }

    override package var unsupportedReason: String? { settings.unsupportedReason }

    /// One step: the input as a sequence of one, run from the given states.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerStep([self], call, into: &graph)
    }
}

/// Several cells run as one: at each step cell `k` reads cell `k − 1`'s output; the states are every
/// cell's states in order. Keras 3 keeps the cells' weights under `cells/<class>/`, tf-keras under
/// `stacked_rnn_cells/<cell name>/`.
package final class StackedRNNCells: Layer {
    package override class var kerasClassNames: [String] { ["StackedRNNCells"] }
    package override class var examples: [LayerExample] {
        [LayerExample("StackedRNNCells", ["cells": [["class_name": "LSTMCell", "config": ["units": 3, "name": "lstm_cell"]],
                                                    ["class_name": "GRUCell", "config": ["units": 2, "name": "gru_cell"]]]],
                      inputs: [[3]])]
    }

    package let cells: [RNNCell]

    package required init(_ context: LayerContext) throws {
        guard let entries = context.config.object["cells"]?.arrayValue, !entries.isEmpty else {
            throw context.config.error("cells", expected: "a non-empty list of cells", found: context.config.object["cells"])
        }
        cells = try entries.enumerated().map { index, entry in
            let cell = try locating(field: "config.cells[\(index)]") { () throws -> Layer in
                guard let object = entry.objectValue else { throw ModelError("expected a cell object, found \(ConfigReader.describe(entry))") }
                return try context.buildLayer(object)
            }
            guard let cell = cell as? RNNCell else {
                throw ModelError(field: "config.cells[\(index)]", "expected SimpleRNNCell, LSTMCell or GRUCell, found \(cell.className)")
            }
            return cell
        }
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        guard let input = inputShapes.first else { throw ModelError(layer: label, "expected an input, found none") }
        var features = input.last ?? nil
        var names = StorageNames()
        var specs: [WeightSpec] = []
        for cell in cells {
            try locating(layer: cell.label) { try cell.build([[input.first ?? nil, features]]) }
            let prefix = "cells/\(names.next(for: cell.className))/"
            specs += cell.weightSpecs.map { $0.adopted(objectPrefix: prefix, legacyScope: cell.name) }
            features = cell.settings.units
        }
        return specs
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        guard let input = inputShapes.first, let last = cells.last else { throw ModelError(layer: label, "expected an input, found none") }
        try requireRank(input, 2...2, "a 2-D (batch, features)")
        return [[input[0], last.settings.units]] + cells.flatMap { cell in
            Array(repeating: [input[0], cell.settings.units] as TensorShape, count: cell.settings.cell.stateCount)
        }
    }

    package override func bind(_ arrays: [WeightArray]) throws {
        try bind(arrays, handingOutTo: cells)
    }

    override package var sublayers: [Layer] { cells }
    package override var callSignature: CallSignature { .sequenceAndStates }

    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        config["cells"] = .array(try cells.map { .object(try export.layerEntry($0)) })
    }

    override package var unsupportedReason: String? { cells.lazy.compactMap(\.unsupportedReason).first }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerStep(cells, call, into: &graph)
    }
}

/// How an RNN layer or a cell call runs `cells` one after the other.
package struct CellChain {
    package var cells: [RNNCell]
    package var goBackwards = false
    package var returnSequences = false
    package var returnState = false
    package var zeroOutputForMask = false

    /// Adds the passes over `sequence` (`[b, t, features]`) with `mask` from `states` (every cell's, in
    /// order; none: zeros). Returns the last cell's output, then (with `returnState`) every cell's final
    /// states. Backwards, the sequence and mask are reversed once and every cell runs forwards over them,
    /// which gives Keras's output in processed order.
    package func lower(_ sequence: ValueID, mask: ValueID?, states: [ValueID], origin: String, into graph: inout Graph) throws -> [ValueID] {
        let stateCounts = cells.map(\.settings.cell.stateCount)
        guard states.isEmpty || states.count == stateCounts.reduce(0, +) else {
            throw EngineError("expected \(stateCounts.reduce(0, +)) initial states (every cell's, in order), found \(states.count)")
        }
        let inputShape = graph.type(of: sequence).shape
        let reverse = goBackwards && cells.count > 1
        var x = reverse ? graph.add(.reverseTime, inputs: [sequence], outputs: [graph.type(of: sequence)], origin: origin)[0] : sequence
        let stepMask = reverse ? mask.map { graph.add(.reverseTime, inputs: [$0], outputs: [graph.type(of: $0)], origin: origin)[0] } : mask
        var finalStates: [ValueID] = []
        var remaining = states[...]
        for (index, cell) in cells.enumerated() {
            let last = index == cells.count - 1
            let sequences = !last || returnSequences
            let op = cell.settings.pass(goBackwards: goBackwards && !reverse, returnSequences: sequences, zeroOutputForMask: zeroOutputForMask)
            let units = Dim.size(cell.settings.units)
            let batch = inputShape?.first ?? .symbol("batch")
            let outputShape = sequences ? inputShape.map { Array($0.prefix(2)) + [units] } : [batch, units]
            let stateType = ValueType(dtype: .float32, shape: [batch, units])
            let types = [ValueType(dtype: .float32, shape: outputShape)] + (returnState ? Array(repeating: stateType, count: op.cell.stateCount) : [])
            let given = states.isEmpty ? [] : Array(remaining.prefix(op.cell.stateCount))
            remaining = remaining.dropFirst(op.cell.stateCount)
            let outputs = graph.add(.recurrent(op, weights: op.weightCount, returnState: returnState),
                                    inputs: [x, stepMask] + (try cell.weightValues(&graph)) + given, outputs: types, origin: origin)
            x = outputs[0]
            finalStates += outputs.dropFirst()
        }
        return [x] + finalStates
    }
}

extension Layer {
    /// A cell call `cell(x, states)` (one cell, or stacked ones): one step, the input as a sequence of one;
    /// outputs the last cell's output, then every cell's new states.
    fileprivate func lowerStep(_ cells: [RNNCell], _ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let input = call.inputs.first else { throw EngineError("expected an input, found none") }
        let step = graph.add(.expandDims(axis: 1), inputs: [input.value], outputs: [ValueType(dtype: .float32, shape: nil)], origin: label)[0]
        let chain = CellChain(cells: cells, returnState: true)
        let states = Array(call.inputs.dropFirst()) + (call.keywordInputs.first { $0.name == "states" }?.tensors ?? [])
        return try chain.lower(step, mask: nil, states: states.map(\.value), origin: label, into: &graph).map { LoweredTensor(value: $0, mask: nil) }
    }
}
