import KConvGraph
/// Keras's ConvLSTM1D/2D/3D made ready to run, over the convolution kernels: the input convolution of every
/// step at once (time folded into the batch), then per step the recurrent convolution of the previous output
/// and the LSTM gate maths at every position, as Keras's `ConvLSTMCell` computes it.
package struct PreparedConvLSTM {
    package let op: ConvLSTMOp
    private let input: PreparedConvolution
    private let recurrent: PreparedConvolution

    /// `weights`: kernel `kernel_size + (channels, 4·filters)`, recurrent kernel `kernel_size + (filters,
    /// 4·filters)`, bias `[4·filters]` when used.
    package init(_ op: ConvLSTMOp, weights: [Tensor]) throws {
        guard weights.count == op.weightCount else { throw EngineError("expected \(op.weightCount) weights, found \(weights.count)") }
        let width = 4 * op.filters
        guard weights[0].rank == op.input.rank + 2, weights[0].shape.last == width else {
            throw EngineError("expected kernel of shape \(op.input.kernelSize) + [channels, \(width)], found \(weights[0].shape)")
        }
        guard weights[1].shape == op.input.kernelSize + [op.filters, width] else {
            throw EngineError("expected recurrent_kernel of shape \(op.input.kernelSize + [op.filters, width]), found \(weights[1].shape)")
        }
        if op.input.useBias, weights[2].shape != [width] {
            throw EngineError("expected bias of shape [\(width)], found \(weights[2].shape)")
        }
        self.op = op
        input = try PreparedConvolution(op.input, weights: [weights[0]] + (op.input.useBias ? [weights[2]] : []))
        recurrent = try PreparedConvolution(op.recurrent, weights: [weights[1]])
    }

    /// Runs over `sequence` (`[batch, steps, spatial…, channels]`) from `initialStates` (none, or `[h, c]`).
    /// A masked step (`mask` `[batch, steps]`) keeps the states and outputs the previous output (or zeros
    /// with `zeroOutputForMask`), as Keras's `backend.rnn`. Returns the output, then `h, c` with `returnState`.
    package func run(_ sequence: Tensor, mask: Mask?, initialStates: [Tensor]) throws -> [Tensor] {
        let rank = op.input.rank
        guard sequence.rank == rank + 3 else {
            throw EngineError("expected a \(rank + 3)-D (batch, timesteps, spatial…, channels) input, found shape \(sequence.shape)")
        }
        let (batch, steps) = (sequence.shape[0], sequence.shape[1])
        guard steps > 0 else { throw EngineError("expected at least one timestep, found shape \(sequence.shape)") }
        if let mask, mask.shape != [batch, steps] {
            throw EngineError("expected a mask of shape \([batch, steps]), found \(mask.shape)")
        }
        let projected = try input.run(sequence.reshaped([batch * steps] + sequence.shape.dropFirst(2)))
        let stateShape = [batch] + projected.shape[1...rank] + [op.filters]
        guard initialStates.isEmpty || initialStates.count == 2 else {
            throw EngineError("expected 2 initial states (h, c), found \(initialStates.count)")
        }
        for state in initialStates where state.shape != stateShape {
            throw EngineError("expected initial states of shape \(stateShape), found \(state.shape)")
        }
        let f = op.filters, width = 4 * f
        let positions = stateShape.dropFirst().dropLast().reduce(1, *)
        let sampleSize = positions * f, stepWidth = positions * width
        var h = initialStates.first ?? Tensor(zeros: stateShape)
        var c = initialStates.count > 1 ? initialStates[1].values : [Float](repeating: 0, count: batch * sampleSize)
        var output = [Float](repeating: 0, count: batch * sampleSize)
        var outputs = [Float](repeating: 0, count: op.returnSequences ? batch * steps * sampleSize : 0)
        var activated = c
        for step in 0 ..< steps {
            let time = op.goBackwards ? steps - 1 - step : step
            var gates = try recurrent.run(h).values
            for sample in 0 ..< batch {
                let source = (sample * steps + time) * stepWidth, target = sample * stepWidth
                for j in 0 ..< stepWidth { gates[target + j] += projected.values[source + j] }
            }
            let rows = batch * positions
            try op.recurrentActivation.apply(&gates, start: 0, count: 2 * f, rows: rows, stride: width)
            try op.activation.apply(&gates, start: 2 * f, count: f, rows: rows, stride: width)
            try op.recurrentActivation.apply(&gates, start: 3 * f, count: f, rows: rows, stride: width)
            let keep = (0 ..< batch).map { sample in mask?.values[sample * steps + time] ?? true }
            for sample in 0 ..< batch where keep[sample] {
                for position in sample * positions ..< (sample + 1) * positions {
                    let g = position * width, s = position * f
                    for j in 0 ..< f { c[s + j] = gates[g + f + j] * c[s + j] + gates[g + j] * gates[g + 2 * f + j] }
                }
            }
            for index in activated.indices { activated[index] = c[index] }
            try op.activation.apply(&activated, start: 0, count: activated.count)
            for sample in 0 ..< batch {
                let row = sample * sampleSize
                if keep[sample] {
                    for position in sample * positions ..< (sample + 1) * positions {
                        let g = position * width + 3 * f, s = position * f
                        for j in 0 ..< f { h.values[s + j] = gates[g + j] * activated[s + j] }
                    }
                    for j in row ..< row + sampleSize { output[j] = h.values[j] }
                } else if op.zeroOutputForMask {
                    for j in row ..< row + sampleSize { output[j] = 0 }
                }
                if op.returnSequences {
                    let target = (sample * steps + step) * sampleSize
                    for j in 0 ..< sampleSize { outputs[target + j] = output[row + j] }
                }
            }
        }
        let result = op.returnSequences
            ? Tensor(shape: [batch, steps] + stateShape.dropFirst(), values: outputs)
            : Tensor(shape: stateShape, values: output)
        return [result] + (op.returnState ? [h, Tensor(shape: stateShape, values: c)] : [])
    }
}
