import KConvGraph
import ONNXProto

/// SimpleRNN, LSTM, GRU and Bidirectional as ONNX's RNN, LSTM and GRU operators. onnxruntime's CPU kernels
/// take time-major sequences (`layout=0`), so a Transpose goes in front. A Keras mask becomes
/// `sequence_lens` (the count of kept steps of each sample), which is what Keras computes when the padding
/// is at the end of each sequence.
extension ONNXTranslator {
    /// One recurrent layer: `[x, mask?, weights…, initial states…]` → `[output, states…]`.
    mutating func translateRecurrent(_ node: GraphNode, _ op: RecurrentOp, weightCount: Int, returnState: Bool) throws {
        guard let input = node.inputs[0] else { throw ModelError("expected an input sequence") }
        let weights = try node.inputs[2 ..< 2 + weightCount].map { try constantOf($0) }
        let initial = try initialStates(Array(node.inputs.dropFirst(2 + weightCount)), passes: 1, cell: op.cell)
        let (x, lengths) = try timeMajorInput(input, mask: node.inputs[1])
        let outputs = try recurrentNode(x, lengths: lengths, passes: [(op, weights)], initial: initial)
        // ONNX returns a reversed pass's steps in input order; Keras in the order it walked them.
        var output: String
        if op.returnSequences {
            output = batchMajor(squeeze(outputs.sequence, axes: [1]))
            if op.goBackwards {
                output = slice(output, starts: [-1], ends: [Int(Int64.min)], axes: [1], steps: [-1])
            } else if let lengths, !op.zeroOutputForMask {
                output = try repeatingLastKeptStep(output, lengths: lengths)
            }
        } else {
            output = squeeze(outputs.lastStates[0], axes: [0])
        }
        produce(node.outputs[0], output)
        guard returnState else { return }
        for (value, state) in zip(node.outputs.dropFirst(), outputs.lastStates) {
            produce(value, squeeze(state, axes: [0]))
        }
    }

    /// Keras Bidirectional: both passes in one ONNX node with `direction="bidirectional"` when their cells
    /// agree (else one node each, concatenated); the steps come back in input order for both, as
    /// Bidirectional aligns them, then merged.
    mutating func translateBidirectional(_ node: GraphNode, _ op: BidirectionalOp) throws {
        guard let input = node.inputs[0] else { throw ModelError("expected an input sequence") }
        let split = op.forward.weightCount, total = split + op.backward.weightCount
        let weights = try node.inputs[2 ..< 2 + total].map { try constantOf($0) }
        let stateCount = op.forward.cell.stateCount
        let initial = try initialStates(Array(node.inputs.dropFirst(2 + total)), passes: 2, cell: op.forward.cell)
        let (x, lengths) = try timeMajorInput(input, mask: node.inputs[1])
        let passes = [(op.forward, Array(weights.prefix(split))), (op.backward, Array(weights.dropFirst(split)))]
        let outputs: (sequence: String, lastStates: [String])
        if op.forward.sameCell(as: op.backward), op.forward.goBackwards != op.backward.goBackwards {
            // ONNX's bidirectional node runs its first direction forward: put the pass walking forward there.
            let swapped = op.forward.goBackwards
            let ordered = swapped ? passes.reversed() : passes
            let orderedInitial = initial.map { states in swapped ? states.map { reverseDirections($0, axis: 0) } : states }
            let result = try recurrentNode(x, lengths: lengths, passes: Array(ordered), initial: orderedInitial)
            outputs = swapped ? (reverseDirections(result.sequence, axis: 1), result.lastStates.map { reverseDirections($0, axis: 0) }) : result
        } else {
            let separate = try passes.enumerated().map { index, pass in
                try recurrentNode(x, lengths: lengths, passes: [pass],
                                  initial: initial.map { $0.map { slice($0, starts: [index], ends: [index + 1], axes: [0]) } })
            }
            outputs = (builder.add1("Concat", separate.map(\.sequence), [Attr.attribute("axis", int: 1)]),
                       (0 ..< stateCount).map { state in builder.add1("Concat", separate.map { $0.lastStates[state] }, [Attr.attribute("axis", int: 0)]) })
        }
        // Both directions side by side: [batch, (time,) 2, units].
        let directionAxis = op.forward.returnSequences ? 2 : 1
        let both = op.forward.returnSequences ? transpose(inKerasOrder(outputs.sequence, op), [2, 0, 1, 3]) : transpose(outputs.lastStates[0], [1, 0, 2])
        let direction = { (translator: inout ONNXTranslator, index: Int) -> String in
            translator.squeeze(translator.slice(both, starts: [index], ends: [index + 1], axes: [directionAxis]), axes: [directionAxis])
        }
        var merged: [String]
        switch op.mergeMode {
        case nil: merged = [direction(&self, 0), direction(&self, 1)]
        case .concat: merged = [reshape(both, Array(repeating: 0, count: directionAxis) + [-1])]
        case .sum: merged = [reduce("ReduceSum", both, axes: [directionAxis], keepDims: false)]
        case .ave: merged = [builder.add1("Div", [reduce("ReduceSum", both, axes: [directionAxis], keepDims: false), builder.scalar(2)])]
        case .mul: merged = [builder.add1("Mul", [direction(&self, 0), direction(&self, 1)])]
        }
        for (value, name) in zip(node.outputs, merged) { produce(value, name) }
        guard op.returnState else { return }
        // Forward states, then backward: each [batch, units] from its direction's slot.
        let states = (0 ..< 2).flatMap { pass in
            outputs.lastStates.map { squeeze(slice($0, starts: [pass], ends: [pass + 1], axes: [0]), axes: [0]) }
        }
        for (value, name) in zip(node.outputs.dropFirst(merged.count), states) { produce(value, name) }
    }

    /// ONNX's steps (`[time, 2, batch, units]`, in input order) in the order Bidirectional merges them: a
    /// pass's own order, the backward pass's flipped back. A forward pass that goes backwards (and so a
    /// backward pass that goes forwards) comes out in reverse.
    private mutating func inKerasOrder(_ sequence: String, _ op: BidirectionalOp) -> String {
        let reversed = [op.forward.goBackwards, !op.backward.goBackwards]
        if reversed == [false, false] { return sequence }
        if reversed == [true, true] { return slice(sequence, starts: [-1], ends: [Int(Int64.min)], axes: [0], steps: [-1]) }
        let directions = (0 ..< 2).map { index in
            let one = slice(sequence, starts: [index], ends: [index + 1], axes: [1])
            return reversed[index] ? slice(one, starts: [-1], ends: [Int(Int64.min)], axes: [0], steps: [-1]) : one
        }
        return builder.add1("Concat", directions, [Attr.attribute("axis", int: 1)])
    }

    /// One ONNX LSTM, GRU or RNN node over a time-major sequence, one direction per pass (the second, when
    /// there are two, walks backward). Returns `Y` ([time, directions, batch, units]) and the last states
    /// (`Y_h`, and `Y_c` for an LSTM; each [directions, batch, units]).
    private mutating func recurrentNode(_ x: String, lengths: String?, passes: [(RecurrentOp, [Constant])], initial: [String]?) throws -> (sequence: String, lastStates: [String]) {
        let op = passes[0].0
        let gates = op.cell.gates, units = op.units
        var w: [Float] = [], r: [Float] = [], b: [Float] = []
        var biasRearranged = true
        for (pass, weights) in passes {
            guard weights.count == pass.weightCount else { throw ModelError("expected \(pass.weightCount) weights, found \(weights.count)") }
            let kernel = try weights[0].read(), recurrent = try weights[1].read()
            let inputWidth = weights[0].shape.first ?? 0
            guard kernel.count == inputWidth * gates * units, recurrent.count == units * gates * units else {
                throw ModelError("expected kernels of \(gates * units) columns, found shapes \(weights[0].shape) and \(weights[1].shape)")
            }
            w += gateRows(kernel, rows: inputWidth, cell: pass.cell, units: units)
            r += gateRows(recurrent, rows: units, cell: pass.cell, units: units)
            let bias = pass.useBias ? try weights[2].read() : []
            switch (pass.cell, bias.count) {
            case (.gru(resetAfter: true), 2 * gates * units):
                // Keras keeps the input and recurrent biases as two rows, as ONNX does.
                b += gateRows(Array(bias[..<(gates * units)]), rows: 1, cell: pass.cell, units: units)
                    + gateRows(Array(bias[(gates * units)...]), rows: 1, cell: pass.cell, units: units)
            case (_, gates * units):
                b += gateRows(bias, rows: 1, cell: pass.cell, units: units) + Array(repeating: 0, count: gates * units)
                biasRearranged = false
            case (_, 0):
                b += Array(repeating: 0, count: 2 * gates * units)
                biasRearranged = false
            default:
                throw ModelError("expected a bias of \(gates * units) values, found \(bias.count)")
            }
        }
        let directions = passes.count
        let inputWidth = passes[0].1[0].shape.first ?? 0
        let sources = passes.flatMap(\.1)
        let wName = builder.floats(w, shape: [directions, gates * units, inputWidth], name: "\(builder.scope)/W", source: .rearranged(sources.enumerated().filter { $0.offset % op.weightCount == 0 }.map(\.element)))
        let rName = builder.floats(r, shape: [directions, gates * units, units], name: "\(builder.scope)/R", source: .rearranged(sources.enumerated().filter { $0.offset % op.weightCount == 1 }.map(\.element)))
        let bName = builder.floats(b, shape: [directions, 2 * gates * units], name: "\(builder.scope)/B",
                                   source: biasRearranged ? .rearranged(sources.enumerated().filter { $0.offset % op.weightCount == 2 }.map(\.element)) : .derived)
        let functions = try passes.flatMap { pass, _ -> [Activation] in
            switch pass.cell {
            case .simple: [pass.activation]
            case .gru: [pass.recurrentActivation, pass.activation]
            case .lstm: [pass.recurrentActivation, pass.activation, pass.activation]
            }
        }.map(recurrentActivation)
        var attributes = [Attr.attribute("hidden_size", int: units),
                          Attr.attribute("activations", strings: functions.map(\.name)),
                          Attr.attribute("direction", string: directions == 2 ? "bidirectional" : op.goBackwards ? "reverse" : "forward")]
        // onnxruntime reads one coefficient for each function that takes one, in order.
        let alphas = functions.compactMap(\.alpha), betas = functions.compactMap(\.beta)
        if !alphas.isEmpty { attributes.append(Attr.attribute("activation_alpha", floats: alphas)) }
        if !betas.isEmpty { attributes.append(Attr.attribute("activation_beta", floats: betas)) }
        let opType: String
        switch op.cell {
        case .simple: opType = "RNN"
        case .lstm: opType = "LSTM"
        case .gru(let resetAfter):
            opType = "GRU"
            attributes.append(Attr.attribute("linear_before_reset", int: resetAfter ? 1 : 0))
        }
        let stateCount = op.cell.stateCount
        let inputs = [x, wName, rName, bName, lengths ?? ""] + (initial ?? [])
        let outputs = builder.add(opType, trimmedInputs(inputs), outputs: 1 + stateCount, attributes)
        return (outputs[0], Array(outputs.dropFirst()))
    }

    /// ONNX drops trailing optional inputs, and names an absent one in the middle "".
    private func trimmedInputs(_ inputs: [String]) -> [String] {
        Array(inputs.reversed().drop { $0.isEmpty }.reversed())
    }

    /// A kernel's columns (`rows × gates·units`, Keras's gate order) as ONNX's rows (`gates·units × rows`,
    /// ONNX's order: an LSTM's Keras i,f,c,o become i,o,f,c; GRU's z,r,h stay).
    private func gateRows(_ kernel: [Float], rows: Int, cell: RecurrentCell, units: Int) -> [Float] {
        let order = cell == .lstm ? [0, 3, 1, 2] : Array(0 ..< cell.gates)
        let width = cell.gates * units
        var result: [Float] = []
        result.reserveCapacity(kernel.count)
        for gate in order {
            for unit in 0 ..< units {
                let column = gate * units + unit
                for row in 0 ..< rows { result.append(kernel[row * width + column]) }
            }
        }
        return result
    }

    /// The sequence as `[time, batch, features]`, and each sample's count of kept steps when masked.
    private mutating func timeMajorInput(_ input: ValueID, mask: ValueID?) throws -> (String, String?) {
        guard try knownRank(of: input) == 3 else { throw ModelError("expected a sequence of rank 3") }
        let x = transpose(try name(input), [1, 0, 2])
        let lengths = try mask.map { reduce("ReduceSum", cast(try name($0, dtype: .bool), to: .int32), axes: [1], keepDims: false) }
        if lengths != nil { maskedLayers.append(builder.scope) }
        return (x, lengths)
    }

    /// Keras's initial states, `[h, (c)]` per pass, as ONNX's `initial_h` (and `initial_c`), `[passes, batch, units]`.
    private mutating func initialStates(_ values: [ValueID?], passes: Int, cell: RecurrentCell) throws -> [String]? {
        let states = values.compactMap { $0 }
        guard !states.isEmpty else { return nil }
        guard states.count == passes * cell.stateCount else {
            throw ModelError("expected \(passes * cell.stateCount) initial states, found \(states.count)")
        }
        return try (0 ..< cell.stateCount).map { state in
            let perPass = try (0 ..< passes).map { pass in unsqueeze(try name(states[pass * cell.stateCount + state]), axes: [0]) }
            return perPass.count == 1 ? perPass[0] : builder.add1("Concat", perPass, [Attr.attribute("axis", int: 0)])
        }
    }

    /// `[time, batch, units]` as `[batch, time, units]`.
    private mutating func batchMajor(_ sequence: String) -> String { transpose(sequence, [1, 0, 2]) }

    /// The two directions of a bidirectional result swapped along `axis`.
    private mutating func reverseDirections(_ value: String, axis: Int) -> String {
        slice(value, starts: [-1], ends: [Int(Int64.min)], axes: [axis], steps: [-1])
    }

    /// A masked step repeats the last kept step's output (Keras without `zero_output_for_mask`); onnxruntime
    /// wrote zeros there. Gathers step `min(t, length − 1)` for each step t.
    private mutating func repeatingLastKeptStep(_ sequence: String, lengths: String) throws -> String {
        let shape = builder.add1("Shape", [sequence])
        let steps = squeeze(slice(shape, starts: [1], ends: [2], axes: [0]), axes: [0])
        let positions = builder.add1("Range", [builder.int64Scalar(0), steps, builder.int64Scalar(1)])
        let last = builder.add1("Sub", [unsqueeze(cast(lengths, to: .int64), axes: [1]), builder.int64Scalar(1)])
        let clamped = builder.add1("Max", [builder.add1("Min", [positions, last]), builder.int64Scalar(0)])
        let indices = builder.add1("Expand", [unsqueeze(clamped, axes: [2]), shape])
        return builder.add1("GatherElements", [sequence, indices], [Attr.attribute("axis", int: 1)])
    }

    private func constantOf(_ value: ValueID?) throws -> Constant {
        guard let value, let constant = constant(value) else { throw ModelError("expected the layer's weights as constants") }
        return constant
    }
}

extension RecurrentOp {
    /// Whether two passes compute with the same cell, so one bidirectional ONNX node holds both.
    func sameCell(as other: RecurrentOp) -> Bool {
        cell == other.cell && units == other.units && activation == other.activation
            && recurrentActivation == other.recurrentActivation && useBias == other.useBias
            && returnSequences == other.returnSequences
    }
}
