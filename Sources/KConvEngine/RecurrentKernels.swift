import KConvGraph
/// The maths of Keras's recurrent cells (SimpleRNN, LSTM, GRU) run over a whole sequence, shared by
/// `Recurrent` and, through it, `Bidirectional` and `TimeDistributed`.
///
/// One pass costs one GEMM for the input projection of every timestep (`[batch·steps, features] ×
/// [features, gates·units]`) and, per step, one recurrent GEMM (`[batch, units] × [units, gates·units]`;
/// two smaller ones for GRU with `reset_after=False`) plus elementwise gate maths. Every buffer is
/// allocated once per pass.
package struct RecurrentKernel {
    package let cell: RecurrentCell
    package let units: Int
    package let activation: Activation
    package let recurrentActivation: Activation
    /// `[features, gates·units]`, gate blocks in Keras order: LSTM `[i f c o]`, GRU `[z r h]`.
    package let kernel: Tensor
    /// `[units, gates·units]`, same blocks.
    package let recurrentKernel: Tensor
    /// Added to the input projection: the `[gates·units]` bias, or row 0 of GRU `reset_after`'s `[2, 3u]` bias.
    package let inputBias: [Float]?
    /// GRU `reset_after` only: row 1 of its bias, added to the recurrent product of every gate (zeros
    /// without bias).
    package let recurrentBias: [Float]

    /// Checks the weights against the cell (`[kernel, recurrent_kernel]` plus `bias` when `useBias`).
    package init(cell: RecurrentCell, units: Int, activation: Activation, recurrentActivation: Activation,
         useBias: Bool, parameters: [Tensor]) throws {
        let width = cell.gates * units
        guard parameters.count == (useBias ? 3 : 2) else {
            throw EngineError("expected \(useBias ? 3 : 2) weights (kernel, recurrent_kernel\(useBias ? ", bias" : "")), found \(parameters.count)")
        }
        let (kernel, recurrentKernel) = (parameters[0], parameters[1])
        guard kernel.rank == 2, kernel.shape[1] == width else {
            throw EngineError("expected kernel of shape [features, \(width)], found \(kernel.shape)")
        }
        guard recurrentKernel.shape == [units, width] else {
            throw EngineError("expected recurrent_kernel of shape [\(units), \(width)], found \(recurrentKernel.shape)")
        }
        self.cell = cell
        self.units = units
        self.activation = activation
        self.recurrentActivation = recurrentActivation
        self.kernel = kernel
        self.recurrentKernel = recurrentKernel
        let resetAfter = cell == .gru(resetAfter: true)
        if useBias {
            let bias = parameters[2]
            let expected = resetAfter ? [2, width] : [width]
            guard bias.shape == expected else {
                throw EngineError("expected bias of shape \(expected), found \(bias.shape)")
            }
            inputBias = Array(bias.values[0 ..< width])
            recurrentBias = resetAfter ? Array(bias.values[width ..< 2 * width]) : []
        } else {
            inputBias = nil
            recurrentBias = resetAfter ? [Float](repeating: 0, count: width) : []
        }
    }

    /// How a pass walks the sequence and what it returns.
    package struct Options {
        /// Process the timesteps last to first; the output sequence stays in that processed order, as Keras returns it.
        package var goBackwards = false
        /// Return the output of every step (`[batch, steps, units]`) rather than the last (`[batch, units]`).
        package var returnSequences = false
        /// A masked step outputs zeros instead of repeating the previous output (Keras's
        /// `zero_output_for_mask`, forced to `return_sequences` by Bidirectional).
        package var zeroOutputForMask = false
        /// May split the batch across threads (off when the caller already runs passes concurrently).
        package var parallel = true
    }

    /// The output and the final states (`[h]`, LSTM `[h, c]`, each `[batch, units]`).
    package struct Result {
        package var output: Tensor
        package var states: [Tensor]
    }

    /// Runs the cell over `sequence` (`[batch, steps, features]`) from `initialStates` (none: zeros).
    ///
    /// With a `mask` (`[batch, steps]`), a masked step leaves the states unchanged and outputs the previous
    /// step's output (zeros before the first) or, with `zeroOutputForMask`, zeros — Keras's `backend.rnn`.
    /// With `goBackwards` the mask is read in reverse with the input.
    package func run(_ sequence: Tensor, initialStates: [Tensor], mask: Mask?, options: Options) throws -> Result {
        guard sequence.rank == 3 else {
            throw EngineError("expected a 3-D (batch, timesteps, features) input, found shape \(sequence.shape)")
        }
        let (batch, steps, features) = (sequence.shape[0], sequence.shape[1], sequence.shape[2])
        guard features == kernel.shape[0] else {
            throw EngineError("expected inputs with \(kernel.shape[0]) features, found shape \(sequence.shape)")
        }
        guard steps > 0 else { throw EngineError("expected at least one timestep, found shape \(sequence.shape)") }
        if let mask, mask.shape != [batch, steps] {
            throw EngineError("expected a mask of shape \([batch, steps]), found \(mask.shape)")
        }
        guard initialStates.isEmpty || initialStates.count == cell.stateCount else {
            throw EngineError("expected \(cell.stateCount) initial state(s), found \(initialStates.count)")
        }
        for state in initialStates where state.shape != [batch, units] {
            throw EngineError("expected initial states of shape \([batch, units]), found \(state.shape)")
        }

        let parts = options.parallel ? Parallel.parts(work: multiplyAdds(sequence), rows: batch) : 1
        guard parts > 1 else {
            return try runRows(sequence, initialStates: initialStates, mask: mask, options: options, splitProducts: options.parallel)
        }
        // Samples never interact in a recurrence: each part runs the whole sequence for its own batch
        // rows, with the same per-row arithmetic as one pass over the batch, and the parts are stacked back.
        let ranges = Parallel.split(batch, into: parts)
        let results = try Parallel.map(parts) { [self] part in
            let rows = ranges[part]
            return try runRows(sequence.batchRows(rows), initialStates: initialStates.map { $0.batchRows(rows) },
                               mask: mask?.batchRows(rows), options: options, splitProducts: false)
        }
        return Result(output: Tensor(stackingBatches: results.map(\.output)),
                      states: results[0].states.indices.map { index in Tensor(stackingBatches: results.map { $0.states[index] }) })
    }

    /// Multiply-adds of one pass over `sequence` (`[batch, steps, features]`): the input projection and
    /// the recurrent products.
    package func multiplyAdds(_ sequence: Tensor) -> Int {
        sequence.shape[0] * sequence.shape[1] * (sequence.shape[2] + units) * cell.gates * units
    }

    /// One pass over checked inputs. `splitProducts`: the input projection may split across threads.
    private func runRows(_ sequence: Tensor, initialStates: [Tensor], mask: Mask?, options: Options,
                         splitProducts: Bool) throws -> Result {
        let (batch, steps, features) = (sequence.shape[0], sequence.shape[1], sequence.shape[2])
        let width = cell.gates * units
        // Rows (sample, time) in input order: step `time` of `sample` starts at (sample·steps + time)·width.
        var gates = inputBias.map { NativeKernels.repeating($0, count: batch * steps) }
            ?? [Float](repeating: 0, count: batch * steps * width)
        BLAS.gemm(m: batch * steps, n: width, k: features, a: sequence.values, b: kernel.values,
                  c: &gates, beta: inputBias == nil ? 0 : 1, splitRows: splitProducts)

        var state = StepState(batch: batch, units: units, cell: cell, initial: initialStates)
        var output = [Float](repeating: 0, count: batch * units)
        var outputs = [Float](repeating: 0, count: options.returnSequences ? batch * steps * units : 0)
        var keep = [Bool](repeating: true, count: batch)
        let zeros = [Float](repeating: 0, count: units)
        let sampleStride = steps * width
        for step in 0 ..< steps {
            let time = options.goBackwards ? steps - 1 - step : step
            if let mask {
                for sample in 0 ..< batch { keep[sample] = mask.values[sample * steps + time] }
            }
            let at = GateRows(offset: time * width, stride: sampleStride)
            switch cell {
            case .simple: try simpleStep(&gates, at, &state, keep)
            case .lstm: try lstmStep(&gates, at, &state, keep)
            case .gru(resetAfter: true): try gruResetAfterStep(&gates, at, &state, keep)
            case .gru(resetAfter: false): try gruResetBeforeStep(&gates, at, &state, keep)
            }
            var last = output.mutableSpan, sequence = outputs.mutableSpan
            let states = state.h.span
            for sample in 0 ..< batch {
                let row = sample * units ..< (sample + 1) * units
                if keep[sample] {
                    last.assign(row, from: states.extracting(row))
                } else if options.zeroOutputForMask {
                    last.assign(row, from: zeros.span)
                }
                if options.returnSequences {
                    let target = (sample * steps + step) * units
                    sequence.assign(target ..< target + units, from: last.span.extracting(row))
                }
            }
        }
        let result = options.returnSequences
            ? Tensor(shape: [batch, steps, units], values: outputs)
            : Tensor(shape: [batch, units], values: output)
        var states = [Tensor(shape: [batch, units], values: state.h)]
        if cell == .lstm { states.append(Tensor(shape: [batch, units], values: state.c)) }
        return Result(output: result, states: states)
    }

    /// Where one timestep's gate rows sit in the projection buffer: sample `s` at `offset + s·stride`.
    private struct GateRows {
        package let offset: Int
        package let stride: Int
        package func start(_ sample: Int) -> Int { offset + sample * stride }
    }

    /// The recurrent state and the scratch rows a step needs, allocated once per pass.
    private struct StepState {
        /// `[batch, units]`
        package var h: [Float]
        /// LSTM's carry `[batch, units]`; empty for the other cells.
        package var c: [Float]
        /// LSTM: `activation(c)` `[batch, units]`; GRU `reset_after`: `h·U` `[batch, 3u]`; GRU: `r ⊙ h` `[batch, units]`.
        package var scratch: [Float]

        package init(batch: Int, units: Int, cell: RecurrentCell, initial: [Tensor]) {
            let zeros = [Float](repeating: 0, count: batch * units)
            h = initial.first?.values ?? zeros
            c = cell == .lstm ? (initial.count > 1 ? initial[1].values : zeros) : []
            switch cell {
            case .simple: scratch = []
            case .lstm: scratch = zeros
            case .gru(resetAfter: true): scratch = [Float](repeating: 0, count: batch * 3 * units)
            case .gru(resetAfter: false): scratch = zeros
            }
        }
    }

    /// Keras's default sigmoid gates and tanh: the LSTM and GRU steps then run fused native kernels.
    private var defaultActivations: Bool { recurrentActivation == .sigmoid && activation == .tanh }

    /// Adds `h·U[:, columns]` to the gate rows of this step, in place (`beta = 1`).
    private func addRecurrentProduct(_ h: [Float], columns: Range<Int>, into gates: inout [Float], _ at: GateRows) {
        BLAS.gemm(m: h.count / units, n: columns.count, k: units,
                  a: h, b: recurrentKernel.values, bOffset: columns.lowerBound, ldb: recurrentKernel.shape[1],
                  c: &gates, cOffset: at.offset + columns.lowerBound, ldc: at.stride, beta: 1, splitRows: false)
    }

    /// Applies `function` to `columns` of this step's gate row of every sample (masked samples too: their
    /// gates are discarded), one call per step rather than one per sample.
    private func activate(_ function: Activation, _ gates: inout [Float], _ at: GateRows, columns: Range<Int>, samples: Int) throws {
        try function.apply(&gates, start: at.offset + columns.lowerBound, count: columns.count, rows: samples, stride: at.stride)
    }

    /// SimpleRNN: `h = activation(x·W + b + h·U)`.
    private func simpleStep(_ gates: inout [Float], _ at: GateRows, _ state: inout StepState, _ keep: [Bool]) throws {
        addRecurrentProduct(state.h, columns: 0 ..< units, into: &gates, at)
        try activate(activation, &gates, at, columns: 0 ..< units, samples: keep.count)
        for sample in keep.indices where keep[sample] {
            let g = at.start(sample), row = sample * units
            for j in 0 ..< units { state.h[row + j] = gates[g + j] }
        }
    }

    /// LSTM, gates `[i f c o]` of `z = x·W + b + h·U`: `c = f ⊙ c + i ⊙ activation(z_c)`,
    /// `h = o ⊙ activation(c)`, with `recurrent_activation` on i, f, o.
    private func lstmStep(_ gates: inout [Float], _ at: GateRows, _ state: inout StepState, _ keep: [Bool]) throws {
        addRecurrentProduct(state.h, columns: 0 ..< 4 * units, into: &gates, at)
        if defaultActivations {
            // Keras's defaults: the activations and state updates in one native pass over the gate rows.
            return NativeKernels.lstmCell(gates: gates, offset: at.offset, stride: at.stride, keep: keep, units: units,
                                          carry: &state.c, output: &state.h)
        }
        let u = units
        try activate(recurrentActivation, &gates, at, columns: 0 ..< 2 * u, samples: keep.count)
        try activate(activation, &gates, at, columns: 2 * u ..< 3 * u, samples: keep.count)
        try activate(recurrentActivation, &gates, at, columns: 3 * u ..< 4 * u, samples: keep.count)
        for sample in keep.indices where keep[sample] {
            Self.updateCarry(&state.c, row: sample * u, gates: gates, at.start(sample), units: u)
        }
        // activation(c) of every sample in one call; only unmasked samples take it into h.
        let carries = state.c
        var activated = state.scratch.mutableSpan
        activated.assign(0 ..< activated.count, from: carries.span)
        try activation.apply(&state.scratch, start: 0, count: state.scratch.count)
        for sample in keep.indices where keep[sample] {
            Self.multiply(&state.h, row: sample * u, gates: gates, at.start(sample) + 3 * u, by: state.scratch, units: u)
        }
    }

    /// LSTM: `c = f ⊙ c + i ⊙ c̃` for the `units` carries from `row`, reading the activated gates
    /// `[i f c̃]` from `gates[g...]`.
    private static func updateCarry(_ c: inout [Float], row: Int, gates: [Float], _ g: Int, units u: Int) {
        let gate = gates.span
        let input = gate.extracting(g ..< g + u), forget = gate.extracting(g + u ..< g + 2 * u)
        let candidate = gate.extracting(g + 2 * u ..< g + 3 * u)
        var carries = c.mutableSpan
        var carry = carries._mutatingExtracting(row ..< row + u)
        for j in 0 ..< min(u, carry.count, input.count, forget.count, candidate.count) {
            carry[j] = forget[j] * carry[j] + input[j] * candidate[j]
        }
    }

    /// `h[row + j] = gates[g + j] · factor[row + j]` for `j < units`.
    private static func multiply(_ h: inout [Float], row: Int, gates: [Float], _ g: Int, by factor: [Float], units: Int) {
        let gate = gates.span.extracting(g ..< g + units), scale = factor.span.extracting(row ..< row + units)
        var outputs = h.mutableSpan
        var run = outputs._mutatingExtracting(row ..< row + units)
        for j in 0 ..< min(run.count, gate.count, scale.count) { run[j] = gate[j] * scale[j] }
    }

    /// GRU `reset_after=True` (cuDNN form), with `r = h·U + b_r` (recurrent bias on every gate):
    /// `z = σ(x_z + r_z)`, `r = σ(x_r + r_r)`, `ĥ = activation(x_h + r ⊙ r_h)`, `h = z ⊙ h + (1 − z) ⊙ ĥ`.
    private func gruResetAfterStep(_ gates: inout [Float], _ at: GateRows, _ state: inout StepState, _ keep: [Bool]) throws {
        let u = units, width = 3 * units
        BLAS.gemm(m: keep.count, n: width, k: u, a: state.h, b: recurrentKernel.values, c: &state.scratch, splitRows: false)
        if defaultActivations {
            // The recurrent bias, activations and state update in one native pass over the gate rows.
            return NativeKernels.gruCell(gates: gates, offset: at.offset, stride: at.stride,
                                         recurrence: .init(product: state.scratch, bias: recurrentBias), keep: keep, units: u, state: &state.h)
        }
        for sample in keep.indices {
            let g = at.start(sample), recurrent = sample * width
            for j in 0 ..< 2 * u { gates[g + j] += state.scratch[recurrent + j] + recurrentBias[j] }
        }
        try activate(recurrentActivation, &gates, at, columns: 0 ..< 2 * u, samples: keep.count)
        for sample in keep.indices {
            let g = at.start(sample), recurrent = sample * width
            for j in 0 ..< u {
                gates[g + 2 * u + j] += gates[g + u + j] * (state.scratch[recurrent + 2 * u + j] + recurrentBias[2 * u + j])
            }
        }
        try activate(activation, &gates, at, columns: 2 * u ..< 3 * u, samples: keep.count)
        for sample in keep.indices where keep[sample] {
            updateGRUState(&state.h, row: sample * u, gates, at.start(sample))
        }
    }

    /// GRU `reset_after=False` (original form): `z`, `r` as above without a recurrent bias, then
    /// `ĥ = activation(x_h + (r ⊙ h)·U_h)`.
    private func gruResetBeforeStep(_ gates: inout [Float], _ at: GateRows, _ state: inout StepState, _ keep: [Bool]) throws {
        let u = units
        addRecurrentProduct(state.h, columns: 0 ..< 2 * u, into: &gates, at)
        // With the default activations, z is activated inside the fused step below.
        try activate(recurrentActivation, &gates, at, columns: (defaultActivations ? u : 0) ..< 2 * u, samples: keep.count)
        for sample in keep.indices {
            let g = at.start(sample), row = sample * u
            for j in 0 ..< u { state.scratch[row + j] = gates[g + u + j] * state.h[row + j] }
        }
        addRecurrentProduct(state.scratch, columns: 2 * u ..< 3 * u, into: &gates, at)
        if defaultActivations {
            return NativeKernels.gruCell(gates: gates, offset: at.offset, stride: at.stride, recurrence: nil, keep: keep, units: u,
                                         state: &state.h)
        }
        try activate(activation, &gates, at, columns: 2 * u ..< 3 * u, samples: keep.count)
        for sample in keep.indices where keep[sample] {
            updateGRUState(&state.h, row: sample * u, gates, at.start(sample))
        }
    }

    /// `h = z ⊙ h + (1 − z) ⊙ ĥ` for one sample, `z` and `ĥ` read from its activated gate row.
    private func updateGRUState(_ h: inout [Float], row: Int, _ gates: [Float], _ g: Int) {
        for j in 0 ..< units {
            let z = gates[g + j]
            h[row + j] = z * h[row + j] + (1 - z) * gates[g + 2 * units + j]
        }
    }
}

extension Tensor {
    /// Samples `rows` of the batch (axis 0).
    package func batchRows(_ rows: Range<Int>) -> Tensor {
        let sampleSize = shape.dropFirst().reduce(1, *)
        return Tensor(shape: [rows.count] + shape.dropFirst(), values: Array(values[rows.lowerBound * sampleSize ..< rows.upperBound * sampleSize]))
    }

    /// `parts` (same shape but for the batch) stacked along the batch axis.
    package init(stackingBatches parts: [Tensor]) {
        var values: [Float] = []
        values.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        for part in parts { values.append(contentsOf: part.values) }
        self.init(shape: [parts.reduce(0) { $0 + $1.shape[0] }] + parts[0].shape.dropFirst(), values: values)
    }

    /// The sequence with its time axis (axis 1 of `[batch, steps, ...]`) reversed: how Bidirectional
    /// puts a backward layer's output sequence back in input order.
    package func reversedInTime() -> Tensor {
        precondition(rank >= 2, "reversedInTime needs a [batch, steps, ...] tensor")
        let (batch, steps) = (shape[0], shape[1])
        let width = batch * steps == 0 ? 0 : count / (batch * steps)
        var reversed = [Float](repeating: 0, count: count)
        var target = reversed.mutableSpan
        let source = values.span
        for sample in 0 ..< batch {
            for time in 0 ..< steps {
                let from = (sample * steps + time) * width, to = (sample * steps + steps - 1 - time) * width
                target.assign(to ..< to + width, from: source.extracting(from ..< from + width))
            }
        }
        return Tensor(shape: shape, values: reversed)
    }
}

/// The value with its time axis (axis 1) reversed; a mask stays a mask.
package func reversingTime(_ slot: Plan.Slot) throws -> Plan.Slot {
    guard slot.shape.count >= 2 else { throw EngineError("expected a [batch, steps, ...] value, found shape \(slot.shape)") }
    guard case .mask(let mask) = slot else { return .tensor(slot.asTensor.reversedInTime()) }
    let reversed = Tensor(shape: mask.shape, values: mask.values.map { $0 ? 1 : 0 }).reversedInTime()
    return .mask(Mask(shape: mask.shape, values: reversed.values.map { $0 != 0 }))
}

extension Mask {
    /// Samples `rows` of the batch (axis 0).
    package func batchRows(_ rows: Range<Int>) -> Mask {
        let sampleSize = shape.dropFirst().reduce(1, *)
        return Mask(shape: [rows.count] + shape.dropFirst(), values: Array(values[rows.lowerBound * sampleSize ..< rows.upperBound * sampleSize]))
    }
}
