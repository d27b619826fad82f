import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras

/// The recurrent kernel against a naive one-sample-at-a-time implementation of Keras's cell maths, and
/// the RNN layers and wrappers built from configs: masks, go_backwards, initial states, merging, folding.
@Suite struct RecurrentEngineTests {
    static let cells: [Recurrent.Cell] = [.simple, .lstm, .gru(resetAfter: true), .gru(resetAfter: false)]

    /// Every option combination on every cell, against the naive reference, with hard_sigmoid and with
    /// sigmoid gates (the fused native LSTM and GRU steps), on odd sizes: 3 units, and 19 (a vector and a remainder)
    /// over a single step.
    @Test(arguments: cells)
    func kernelMatchesNaiveCell(_ cell: Recurrent.Cell) throws {
        var random = SplitMix64(seed: 7)
        let sizes = [(batch: 3, steps: 5, features: 4, units: 3), (batch: 3, steps: 1, features: 3, units: 19)]
        for (useBias, goBackwards, returnSequences, masked, zeroOutput, withStates) in combinations() {
            for (batch, steps, features, units) in sizes {
                for recurrentActivation in [Activation.hardSigmoidLinear, .sigmoid] {
                    let weights = randomWeights(cell, features: features, units: units, useBias: useBias, &random)
                    let kernel = try RecurrentKernel(cell: cell, units: units, activation: .tanh, recurrentActivation: recurrentActivation,
                                                     useBias: useBias, parameters: weights)
                    let input = Tensor(shape: [batch, steps, features], values: random.values(batch * steps * features))
                    // Holes in the middle and at both ends, and one sample fully masked.
                    let holes = [true, false, true, true, false, false, false, false, false, false, false, true, true, false, true]
                    let mask = masked ? Mask(shape: [batch, steps], values: (0 ..< batch).flatMap { holes[5 * $0 ..< 5 * $0 + steps] }) : nil
                    let states = withStates
                        ? (0 ..< cell.stateCount).map { _ in Tensor(shape: [batch, units], values: random.values(batch * units)) } : []
                    let options = RecurrentKernel.Options(goBackwards: goBackwards, returnSequences: returnSequences, zeroOutputForMask: zeroOutput)
                    let fast = try kernel.run(input, initialStates: states, mask: mask, options: options)
                    let naive = NaiveRNN(cell: cell, units: units, weights: weights, useBias: useBias, sigmoidGates: recurrentActivation == .sigmoid)
                        .run(input, initialStates: states, mask: mask, options: options)
                    let label = "\(cell) \(recurrentActivation) units \(units) steps \(steps) bias \(useBias) backwards \(goBackwards) "
                        + "sequences \(returnSequences) mask \(masked) zero \(zeroOutput) states \(withStates)"
                    expectClose(fast.output, naive.output, label)
                    #expect(fast.states.count == cell.stateCount, "\(label)")
                    for (got, want) in zip(fast.states, naive.states) { expectClose(got, want, label + " state") }
                }
            }
        }
    }

    /// A masked step changes nothing: the final states equal those of the sequence with that step removed.
    @Test(arguments: cells)
    func maskedStepsCarryTheStates(_ cell: Recurrent.Cell) throws {
        var random = SplitMix64(seed: 11)
        let (steps, features, units) = (5, 2, 4)
        let weights = randomWeights(cell, features: features, units: units, useBias: true, &random)
        let kernel = try RecurrentKernel(cell: cell, units: units, activation: .tanh, recurrentActivation: .sigmoid,
                                         useBias: true, parameters: weights)
        let values = random.values(steps * features)
        let keep = [true, false, true, false, true]
        let kept = keep.indices.filter { keep[$0] }.flatMap { values[$0 * features ..< ($0 + 1) * features] }
        let masked = try kernel.run(Tensor(shape: [1, steps, features], values: values), initialStates: [],
                                    mask: Mask(shape: [1, steps], values: keep), options: .init())
        let shortened = try kernel.run(Tensor(shape: [1, kept.count / features, features], values: kept), initialStates: [],
                                       mask: nil, options: .init())
        for (got, want) in zip(masked.states + [masked.output], shortened.states + [shortened.output]) {
            expectClose(got, want, "\(cell)", tolerance: 1e-6)
        }
    }

    /// go_backwards is the forward pass over the time-reversed input, output left in processed order.
    @Test(arguments: cells)
    func goBackwardsRunsTheReversedSequence(_ cell: Recurrent.Cell) throws {
        var random = SplitMix64(seed: 13)
        let (batch, steps, features, units) = (2, 4, 3, 2)
        let weights = randomWeights(cell, features: features, units: units, useBias: true, &random)
        let kernel = try RecurrentKernel(cell: cell, units: units, activation: .tanh, recurrentActivation: .sigmoid,
                                         useBias: true, parameters: weights)
        let input = Tensor(shape: [batch, steps, features], values: random.values(batch * steps * features))
        let backwards = try kernel.run(input, initialStates: [], mask: nil, options: .init(goBackwards: true, returnSequences: true))
        let reversed = try kernel.run(input.reversedInTime(), initialStates: [], mask: nil, options: .init(returnSequences: true))
        #expect(backwards.output == reversed.output)
        #expect(backwards.states == reversed.states)
    }

    /// A pass large enough to split the batch across threads equals the pass on one thread (every option
    /// that touches rows: masks, initial states, both directions, sequences). Not bit for bit: BLAS may
    /// accumulate a row's products in another order for another row count (OpenBLAS's generic kernels do),
    /// so the weights are scaled as Keras initialises them, keeping the recurrence from amplifying rounding.
    @Test(arguments: cells)
    func batchSplitMatchesOneThread(_ cell: Recurrent.Cell) throws {
        var random = SplitMix64(seed: 41)
        let (batch, steps, features, units) = (7, 40, 64, 64)
        let weights = randomWeights(cell, features: features, units: units, useBias: true, scale: 0.125, &random)
        let kernel = try RecurrentKernel(cell: cell, units: units, activation: .tanh, recurrentActivation: .sigmoid,
                                         useBias: true, parameters: weights)
        let input = Tensor(shape: [batch, steps, features], values: random.values(batch * steps * features))
        #expect(Parallel.parts(work: kernel.multiplyAdds(input), rows: batch) > 1 || Parallel.workers == 1)
        let mask = Mask(shape: [batch, steps], values: (0 ..< batch * steps).map { $0 % 7 != 3 })
        let states = (0 ..< cell.stateCount).map { _ in Tensor(shape: [batch, units], values: random.values(batch * units)) }
        for goBackwards in [false, true] {
            var options = RecurrentKernel.Options(goBackwards: goBackwards, returnSequences: true, zeroOutputForMask: true)
            let split = try kernel.run(input, initialStates: states, mask: mask, options: options)
            options.parallel = false
            let single = try kernel.run(input, initialStates: states, mask: mask, options: options)
            expectClose(split.output, single.output, "\(cell) backwards \(goBackwards) output")
            #expect(split.states.count == single.states.count)
            for (got, want) in zip(split.states, single.states) { expectClose(got, want, "\(cell) backwards \(goBackwards) state") }
        }
    }

    // MARK: Layers built from configs

    @Test func lstmLayerTakesInitialStatesPositionallyOrByKeywordAndReturnsThem() throws {
        var random = SplitMix64(seed: 17)
        let lstm = try makeLayer(#"{"class_name": "LSTM", "config": {"trainable": true, "name": "lstm", "units": 3, "return_sequences": true, "return_state": true}}"#,
                                 input: [nil, 4, 2], &random)
        let x = Tensor(shape: [2, 4, 2], values: random.values(16))
        let h0 = Tensor(shape: [2, 3], values: random.values(6)), c0 = Tensor(shape: [2, 3], values: random.values(6))
        let mask = Mask(shape: [2, 4], values: [true, true, false, true, true, false, false, false])
        let positional = try lstm.forward(LayerCall(inputs: [x, h0, c0], masks: [mask, nil, nil]))
        let keyword = try lstm.forward(LayerCall(inputs: [x], masks: [mask], keywordInputs: ["initial_state": [h0, c0]]))
        let zeroStates = try lstm.forward(LayerCall(inputs: [x], masks: [mask]))
        #expect(positional.tensors == keyword.tensors)
        #expect(positional.tensors.map(\.shape) == [[2, 4, 3], [2, 3], [2, 3]])
        #expect(positional.tensors != zeroStates.tensors)
        // The sequence keeps the input mask; states have none.
        #expect(positional.masks == [mask, nil, nil])
        // Sample 1 is masked from step 1 on: its later outputs repeat step 0's, which is its final h.
        let h = positional.tensors[1].values
        #expect(Array(positional.tensors[0].values[21 ..< 24]) == Array(h[3 ..< 6]))
        #expect(Array(positional.tensors[0].values[15 ..< 18]) == Array(h[3 ..< 6]))
    }

    @Test func lastOutputHasNoMask() throws {
        var random = SplitMix64(seed: 19)
        let gru = try makeLayer(#"{"class_name": "GRU", "config": {"trainable": true, "name": "gru", "units": 2}}"#, input: [nil, 3, 2], &random)
        let output = try gru.forward(LayerCall(inputs: [Tensor(shape: [1, 3, 2], values: random.values(6))],
                                               masks: [Mask(shape: [1, 3], values: [true, true, false])]))
        #expect(output.tensors.map(\.shape) == [[1, 2]])
        #expect(output.masks == [nil])
    }

    @Test func statefulAndTimeMajorAreRefused() throws {
        var random = SplitMix64(seed: 23)
        for flag in ["stateful", "time_major"] {
            let layer = try makeLayer(#"{"class_name": "SimpleRNN", "config": {"trainable": true, "name": "rnn", "units": 2, "\#(flag)": true}}"#,
                                      input: [4, 3, 2], &random)
            let error = #expect(throws: EngineError.self) {
                try layer.forward(LayerCall(inputs: [Tensor(zeros: [4, 3, 2])]))
            }
            #expect(error?.message.contains(flag + "=True") == true, "\(String(describing: error))")
        }
    }

    @Test func wrongFeatureCountIsAnError() throws {
        var random = SplitMix64(seed: 29)
        let layer = try makeLayer(#"{"class_name": "LSTM", "config": {"trainable": true, "name": "lstm", "units": 2}}"#, input: [nil, 3, 2], &random)
        let error = #expect(throws: EngineError.self) { try layer.forward(LayerCall(inputs: [Tensor(zeros: [1, 3, 5])])) }
        #expect(error?.message == "expected inputs with 2 features, found shape [1, 3, 5]")
    }

    /// concat = [forward, backward flipped to input order]; masked steps output zeros with return_sequences.
    @Test func bidirectionalMergesAndZeroesMaskedSteps() throws {
        var random = SplitMix64(seed: 31)
        let entry = #"{"class_name": "Bidirectional", "config": {"trainable": true, "name": "bi", "merge_mode": "concat", "layer": {"class_name": "GRU", "config": {"trainable": true, "name": "gru", "units": 2, "return_sequences": true, "return_state": true}}}}"#
        let bidirectional = try makeLayer(entry, input: [nil, 4, 3], &random)
        guard let layer = bidirectional as? Bidirectional else { Issue.record("not a Bidirectional"); return }
        let x = Tensor(shape: [1, 4, 3], values: random.values(12))
        let mask = Mask(shape: [1, 4], values: [true, true, true, false])
        let output = try layer.forward(LayerCall(inputs: [x], masks: [mask]))
        let forward = try layer.forward.run(x, initialStates: [], mask: mask, zeroOutputForMask: true)
        let backward = try layer.backward.run(x, initialStates: [], mask: mask, zeroOutputForMask: true)
        let flipped = backward.output.reversedInTime().values
        var expected: [Float] = []
        for step in 0 ..< 4 {
            expected += forward.output.values[step * 2 ..< step * 2 + 2]
            expected += flipped[step * 2 ..< step * 2 + 2]
        }
        #expect(output.tensors[0] == Tensor(shape: [1, 4, 4], values: expected))
        #expect(Array(output.tensors[0].values[12 ..< 16]) == [0, 0, 0, 0])
        #expect(output.tensors.dropFirst().map(\.values) == [forward.states[0].values, backward.states[0].values])
        #expect(output.masks == [mask, nil, nil])
    }

    /// Initial states split in half: forward `[h, c]` first, then backward `[h, c]`.
    @Test func bidirectionalSplitsInitialStates() throws {
        var random = SplitMix64(seed: 33)
        let entry = #"{"class_name": "Bidirectional", "config": {"trainable": true, "name": "bi", "merge_mode": null, "layer": {"class_name": "LSTM", "config": {"trainable": true, "name": "lstm", "units": 2, "return_state": true}}}}"#
        guard let layer = try makeLayer(entry, input: [nil, 3, 2], &random) as? Bidirectional else { Issue.record("not a Bidirectional"); return }
        let x = Tensor(shape: [1, 3, 2], values: random.values(6))
        let states = (0 ..< 4).map { _ in Tensor(shape: [1, 2], values: random.values(2)) }
        let output = try layer.forward(LayerCall(inputs: [x] + states))
        let forward = try layer.forward.run(x, initialStates: Array(states[0 ..< 2]), mask: nil, zeroOutputForMask: false)
        let backward = try layer.backward.run(x, initialStates: Array(states[2 ..< 4]), mask: nil, zeroOutputForMask: false)
        #expect(output.tensors == [forward.output, backward.output] + forward.states + backward.states)
        let keyword = try layer.forward(LayerCall(inputs: [x], keywordInputs: ["initial_state": states]))
        #expect(keyword.tensors == output.tensors)
        #expect(throws: EngineError.self) { try layer.forward(LayerCall(inputs: [x] + states.prefix(3))) }
    }

    /// Directions large enough to run concurrently give exactly the two passes run one after the other.
    @Test func bidirectionalConcurrentDirectionsMatchSeparatePasses() throws {
        var random = SplitMix64(seed: 43)
        let entry = #"{"class_name": "Bidirectional", "config": {"trainable": true, "name": "bi", "merge_mode": null, "layer": {"class_name": "LSTM", "config": {"trainable": true, "name": "lstm", "units": 32, "return_sequences": true}}}}"#
        guard let layer = try makeLayer(entry, input: [nil, 40, 16], &random) as? Bidirectional else { Issue.record("not a Bidirectional"); return }
        let x = Tensor(shape: [4, 40, 16], values: random.values(4 * 40 * 16))
        let output = try layer.forward(LayerCall(inputs: [x]))
        let forward = try layer.forward.run(x, initialStates: [], mask: nil, zeroOutputForMask: true)
        let backward = try layer.backward.run(x, initialStates: [], mask: nil, zeroOutputForMask: true)
        #expect(output.tensors == [forward.output, backward.output.reversedInTime()])
    }

    @Test(arguments: ["sum", "mul", "ave", nil] as [String?])
    func bidirectionalMergeModes(_ mode: String?) throws {
        var random = SplitMix64(seed: 37)
        let modeJSON = mode.map { "\"\($0)\"" } ?? "null"
        let entry = #"{"class_name": "Bidirectional", "config": {"trainable": true, "name": "bi", "merge_mode": \#(modeJSON), "layer": {"class_name": "SimpleRNN", "config": {"trainable": true, "name": "rnn", "units": 2}}}}"#
        guard let layer = try makeLayer(entry, input: [nil, 3, 2], &random) as? Bidirectional else { Issue.record("not a Bidirectional"); return }
        let x = Tensor(shape: [2, 3, 2], values: random.values(12))
        let output = try layer.forward(LayerCall(inputs: [x]))
        let forward = try layer.forward.run(x, initialStates: [], mask: nil, zeroOutputForMask: false).output.values
        let backward = try layer.backward.run(x, initialStates: [], mask: nil, zeroOutputForMask: false).output.values
        let combined: [[Float]] = switch mode {
        case "sum": [zip(forward, backward).map { $0 + $1 }]
        case "mul": [zip(forward, backward).map { $0 * $1 }]
        case "ave": [zip(forward, backward).map { ($0 + $1) / 2 }]
        default: [forward, backward]
        }
        #expect(output.tensors.map(\.values) == combined)
        #expect(output.tensors.allSatisfy { $0.shape == [2, 2] })
    }

    /// TimeDistributed(LSTM) over `[b, t, s, f]` is the LSTM on each `[b, s, f]` slice.
    @Test func timeDistributedFoldsTimeIntoBatch() throws {
        var random = SplitMix64(seed: 41)
        let entry = #"{"class_name": "TimeDistributed", "config": {"trainable": true, "name": "td", "layer": {"class_name": "LSTM", "config": {"trainable": true, "name": "lstm", "units": 2}}}}"#
        guard let layer = try makeLayer(entry, input: [nil, 3, 4, 2], &random) as? TimeDistributed,
              let lstm = layer.inner as? Recurrent else { Issue.record("not a TimeDistributed(LSTM)"); return }
        let x = Tensor(shape: [2, 3, 4, 2], values: random.values(48))
        let output = try layer.forward(LayerCall(inputs: [x]))
        #expect(output.tensors[0].shape == [2, 3, 2])
        for sample in 0 ..< 2 {
            for step in 0 ..< 3 {
                let start = (sample * 3 + step) * 8
                let slice = Tensor(shape: [1, 4, 2], values: Array(x.values[start ..< start + 8]))
                let alone = try lstm.run(slice, initialStates: [], mask: nil, zeroOutputForMask: false).output.values
                let got = Array(output.tensors[0].values[(sample * 3 + step) * 2 ..< (sample * 3 + step + 1) * 2])
                expectClose(Tensor(shape: [2], values: got), Tensor(shape: [2], values: alone), "sample \(sample) step \(step)", tolerance: 1e-6)
            }
        }
    }

    /// A `[b, t, s]` mask reaches the inner RNN per step; Keras 3 passes the input mask on, tf.keras
    /// reduces it to `[b, t]` (any position kept) when the inner layer returns none.
    @Test(arguments: [KerasDialect.keras2, .keras3])
    func timeDistributedMasks(_ dialect: KerasDialect) throws {
        var random = SplitMix64(seed: 43)
        let entry = #"{"class_name": "TimeDistributed", "config": {"trainable": true, "name": "td", "layer": {"class_name": "SimpleRNN", "config": {"trainable": true, "name": "rnn", "units": 2}}}}"#
        guard let layer = try makeLayer(entry, input: [nil, 2, 3, 2], dialect: dialect, &random) as? TimeDistributed,
              let rnn = layer.inner as? Recurrent else { Issue.record("not a TimeDistributed(SimpleRNN)"); return }
        let x = Tensor(shape: [1, 2, 3, 2], values: random.values(12))
        let mask = Mask(shape: [1, 2, 3], values: [true, false, true, false, false, false])
        let output = try layer.forward(LayerCall(inputs: [x], masks: [mask]))
        let first = try rnn.run(Tensor(shape: [1, 3, 2], values: Array(x.values[0 ..< 6])), initialStates: [],
                                mask: Mask(shape: [1, 3], values: [true, false, true]), zeroOutputForMask: false)
        // Close, not equal: the product kernel oneDNN picks (and so the order of a row's sum) depends on the row count.
        expectClose(Tensor(shape: first.output.shape, values: Array(output.tensors[0].values[0 ..< 2])), first.output, "first step", tolerance: 1e-6)
        #expect(Array(output.tensors[0].values[2 ..< 4]) == [0, 0], "a fully masked step keeps the zero initial state")
        let expectedMask = dialect == .keras3 ? mask : Mask(shape: [1, 2], values: [true, false])
        #expect(output.masks == [expectedMask])
    }
}

// MARK: Helpers

private func combinations() -> [(Bool, Bool, Bool, Bool, Bool, Bool)] {
    let flags = [false, true]
    return flags.flatMap { a in flags.flatMap { b in flags.flatMap { c in flags.flatMap { d in flags.flatMap { e in
        flags.map { f in (a, b, c, d, e, f) } } } } } }
}

/// `[kernel, recurrent_kernel, bias?]` with Keras's shapes, values in [-1, 1).
private func randomWeights(_ cell: Recurrent.Cell, features: Int, units: Int, useBias: Bool, scale: Float = 1,
                           _ random: inout SplitMix64) -> [Tensor] {
    let width = cell.gates * units
    var weights = [Tensor(shape: [features, width], values: random.values(features * width, scale: scale)),
                   Tensor(shape: [units, width], values: random.values(units * width, scale: scale))]
    if useBias {
        let shape = cell == .gru(resetAfter: true) ? [2, width] : [width]
        weights.append(Tensor(shape: shape, values: random.values(shape.reduce(1, *))))
    }
    return weights
}

private func expectClose(_ got: Tensor, _ want: Tensor, _ label: String, tolerance: Float = 1e-5,
                         sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.shape == want.shape, "\(label)", sourceLocation: sourceLocation)
    let worst = zip(got.values, want.values).map { abs($0 - $1) }.max() ?? 0
    #expect(worst <= tolerance, "\(label): max error \(worst)", sourceLocation: sourceLocation)
}

/// Keras's RNN maths written out one sample and one scalar at a time (`backend.rnn` and the cells'
/// `call`), with tanh activation and Keras 2's hard_sigmoid recurrent activation or, with `sigmoidGates`, sigmoid.
private struct NaiveRNN {
    let cell: Recurrent.Cell
    let units: Int
    let weights: [Tensor]
    let useBias: Bool
    var sigmoidGates = false

    func run(_ x: Tensor, initialStates: [Tensor], mask: Mask?, options: RecurrentKernel.Options) -> RecurrentKernel.Result {
        let (batch, steps, features) = (x.shape[0], x.shape[1], x.shape[2])
        let width = cell.gates * units
        let kernel = weights[0].values, recurrent = weights[1].values
        let bias = useBias ? Array(weights[2].values[0 ..< width]) : [Float](repeating: 0, count: width)
        let recurrentBias = useBias && cell == .gru(resetAfter: true)
            ? Array(weights[2].values[width ..< 2 * width]) : [Float](repeating: 0, count: width)
        var outputs: [Float] = [], lastOutputs: [Float] = [], finalH: [Float] = [], finalC: [Float] = []
        var sequence = [[Float]](repeating: [], count: batch)
        for sample in 0 ..< batch {
            var h = initialStates.first.map { Array($0.values[sample * units ..< (sample + 1) * units]) } ?? zeros(units)
            var c = initialStates.count > 1 ? Array(initialStates[1].values[sample * units ..< (sample + 1) * units]) : zeros(units)
            var output = zeros(units)
            for step in 0 ..< steps {
                let time = options.goBackwards ? steps - 1 - step : step
                if mask?.values[sample * steps + time] ?? true {
                    let input = Array(x.values[(sample * steps + time) * features ..< (sample * steps + time + 1) * features])
                    let xw = (0 ..< width).map { g in bias[g] + (0 ..< features).reduce(Float(0)) { $0 + input[$1] * kernel[$1 * width + g] } }
                    let hu = (0 ..< width).map { g in recurrentBias[g] + (0 ..< units).reduce(Float(0)) { $0 + h[$1] * recurrent[$1 * width + g] } }
                    switch cell {
                    case .simple:
                        h = (0 ..< units).map { tanh(xw[$0] + hu[$0]) }
                    case .lstm:
                        for j in 0 ..< units {
                            let i = gate(xw[j] + hu[j]), f = gate(xw[units + j] + hu[units + j])
                            let o = gate(xw[3 * units + j] + hu[3 * units + j])
                            c[j] = f * c[j] + i * tanh(xw[2 * units + j] + hu[2 * units + j])
                            h[j] = o * tanh(c[j])
                        }
                    case .gru(let resetAfter):
                        let z = (0 ..< units).map { gate(xw[$0] + hu[$0]) }
                        let r = (0 ..< units).map { gate(xw[units + $0] + hu[units + $0]) }
                        let candidate = (0 ..< units).map { j in
                            let recurrentPart = resetAfter
                                ? r[j] * hu[2 * units + j]
                                : (0 ..< units).reduce(Float(0)) { $0 + r[$1] * h[$1] * recurrent[$1 * width + 2 * units + j] }
                            return tanh(xw[2 * units + j] + recurrentPart)
                        }
                        h = (0 ..< units).map { z[$0] * h[$0] + (1 - z[$0]) * candidate[$0] }
                    }
                    output = h
                } else if options.zeroOutputForMask {
                    output = zeros(units)
                }
                sequence[sample] += output
            }
            lastOutputs += output
            finalH += h
            finalC += c
        }
        outputs = sequence.flatMap { $0 }
        let output = options.returnSequences
            ? Tensor(shape: [batch, steps, units], values: outputs) : Tensor(shape: [batch, units], values: lastOutputs)
        var states = [Tensor(shape: [batch, units], values: finalH)]
        if cell == .lstm { states.append(Tensor(shape: [batch, units], values: finalC)) }
        return RecurrentKernel.Result(output: output, states: states)
    }

    private func zeros(_ count: Int) -> [Float] { [Float](repeating: 0, count: count) }
    private func gate(_ x: Float) -> Float { sigmoidGates ? 1 / (1 + exp(-x)) : min(max(0.2 * x + 0.5, 0), 1) }
}

/// The vectorised sigmoid, tanh and swish (NativeKernels) against double-precision libm over a dense sweep.
@Test func vectorActivationsMatchLibm() throws {
    let xs = (-200_000 ... 200_000).map { Float($0) * 5e-4 } + [.nan, .infinity, -.infinity]  // [-100, 100]
    func applied(_ function: Activation) throws -> [Float] {
        var values = xs
        try function.apply(&values, start: 0, count: values.count)
        return values
    }
    let (sigmoid, tanh, swish) = (try applied(.sigmoid), try applied(.tanh), try applied(.swish))
    var worst = (sigmoid: 0.0, tanh: 0.0, swish: 0.0)
    for (index, x) in xs.enumerated() where x.isFinite {
        let d = Double(x), exactSigmoid = 1 / (1 + Foundation.exp(-d)), exactTanh = Foundation.tanh(d)
        worst.sigmoid = max(worst.sigmoid, abs(Double(sigmoid[index]) - exactSigmoid))
        worst.tanh = max(worst.tanh, abs(Double(tanh[index]) - exactTanh) / max(abs(exactTanh), 1e-30))
        worst.swish = max(worst.swish, abs(Double(swish[index]) - d * exactSigmoid) / max(abs(d * exactSigmoid), 1e-30))
    }
    #expect(worst.sigmoid < 2e-7, "sigmoid absolute error \(worst.sigmoid)")
    #expect(worst.tanh < 3e-7, "tanh relative error \(worst.tanh)")
    #expect(worst.swish < 5e-7, "swish relative error \(worst.swish)")
    let last = xs.count - 3
    #expect(tanh[last].isNaN && sigmoid[last].isNaN && swish[last].isNaN)
    #expect(tanh[last + 1] == 1 && tanh[last + 2] == -1)
    #expect(sigmoid[last + 1] == 1 && sigmoid[last + 2] < 1e-38)
}

/// Softmax (NativeKernels) against double precision, rows of mixed scales; a NaN spreads over its row only.
@Test func softmaxMatchesDoublePrecision() throws {
    var random = SplitMix64(seed: 21)
    for width in [1, 3, 16, 17, 100] {
        let rows = 4
        var values = (0 ..< rows * width).map { index in (random.nextUnit() * 2 - 1) * [1, 10, 80, 0.01][index / width] }
        let original = values
        try Activation.softmax.apply(&values, start: 0, count: width, rows: rows, stride: width)
        for row in 0..<rows {
            let x = original[row * width ..< (row + 1) * width].map(Double.init), top = x.max() ?? 0
            let total = x.reduce(0) { $0 + Foundation.exp($1 - top) }
            for (column, value) in x.enumerated() {
                let want = Foundation.exp(value - top) / total
                #expect(abs(Double(values[row * width + column]) - want) <= 1e-6 * max(want, 1e-30) + 1e-9, "width \(width) row \(row)")
            }
        }
    }
    var withNaN: [Float] = [1, .nan, 2, 0.5, 0.5, 0.5]
    try Activation.softmax.apply(&withNaN, start: 0, count: 3, rows: 2, stride: 3)
    #expect(withNaN[0 ..< 3].allSatisfy(\.isNaN) && withNaN[3 ..< 6].allSatisfy { abs($0 - 1.0 / 3) < 1e-7 })
}

/// A strided apply changes exactly its runs: `rows` runs of `count` values, `stride` apart.
@Test func stridedActivationTouchesOnlyItsRuns() throws {
    let original = (0..<40).map { Float($0) / 10 - 2 }
    for function in [Activation.sigmoid, .tanh, .relu, .softmax] {
        var values = original
        try function.apply(&values, start: 3, count: 4, rows: 5, stride: 7)
        for row in 0..<5 {
            var run = Array(original[3 + row * 7 ..< 7 + row * 7])
            try function.apply(&run, start: 0, count: 4)
            #expect(Array(values[3 + row * 7 ..< 7 + row * 7]) == run, "\(function) row \(row)")
        }
        let untouched = Set(0..<40).subtracting((0..<5).flatMap { row in 3 + row * 7 ..< 7 + row * 7 })
        #expect(untouched.allSatisfy { values[$0] == original[$0] }, "\(function) wrote outside its runs")
    }
}
