import KConvGraph
/// Recurrent operations made ready to run: each pass's weights read once into its kernel.

extension RecurrentOp {
    /// The pass's kernel over `weights` (kernel, recurrent kernel, bias?).
    package func kernel(_ weights: [Tensor]) throws -> RecurrentKernel {
        try RecurrentKernel(cell: cell, units: units, activation: activation, recurrentActivation: recurrentActivation,
                            useBias: useBias, parameters: weights)
    }

    package var options: RecurrentKernel.Options {
        RecurrentKernel.Options(goBackwards: goBackwards, returnSequences: returnSequences, zeroOutputForMask: zeroOutputForMask)
    }
}

/// A recurrent layer's pass with its kernel prepared.
package struct PreparedRecurrent {
    package let kernel: RecurrentKernel
    package let options: RecurrentKernel.Options
    package let returnState: Bool

    package init(_ op: RecurrentOp, weights: [Tensor], returnState: Bool) throws {
        kernel = try op.kernel(weights)
        options = op.options
        self.returnState = returnState
    }

    /// The output, then the final states with `return_state`.
    package func run(_ sequence: Tensor, mask: Mask?, initialStates: [Tensor]) throws -> [Tensor] {
        let result = try kernel.run(sequence, initialStates: initialStates, mask: mask, options: options)
        return [result.output] + (returnState ? result.states : [])
    }
}

/// Keras Bidirectional with both passes' kernels prepared.
package struct PreparedBidirectional {
    package let op: BidirectionalOp
    package let kernels: [RecurrentKernel]

    package init(_ op: BidirectionalOp, weights: [Tensor]) throws {
        let split = op.forward.weightCount
        guard weights.count == split + op.backward.weightCount else {
            throw EngineError("expected \(split + op.backward.weightCount) weights, found \(weights.count)")
        }
        self.op = op
        kernels = [try op.forward.kernel(Array(weights.prefix(split))), try op.backward.kernel(Array(weights.dropFirst(split)))]
    }

    /// Both layers read the same sequence and mask (the backward one walks it in reverse); initial states,
    /// if given, are split in half, forward first. With `return_sequences` the backward output is flipped
    /// back to input order before merging. Returns the merged output(s), then the forward and backward states.
    package func run(_ input: Tensor, mask: Mask?, initialStates: [Tensor]) throws -> [Tensor] {
        let stateCount = op.forward.cell.stateCount + op.backward.cell.stateCount
        guard initialStates.isEmpty || initialStates.count == stateCount else {
            throw EngineError("expected \(stateCount) initial states (forward then backward), found \(initialStates.count)")
        }
        let half = initialStates.count / 2
        let initial = [Array(initialStates.prefix(half)), Array(initialStates.dropFirst(half))]
        var options = [op.forward.options, op.backward.options]
        // The two directions share no state: run them concurrently when the work pays for a thread (each
        // then on its whole batch, with the same arithmetic as one after the other).
        let work = input.rank == 3 ? kernels.reduce(0) { $0 + $1.multiplyAdds(input) } : 0
        let concurrent = Parallel.parts(work: work, rows: 2) == 2
        if concurrent { for index in options.indices { options[index].parallel = false } }
        let (kernels, passOptions) = (kernels, options)
        let direction = { @Sendable (index: Int) throws -> RecurrentKernel.Result in
            try kernels[index].run(input, initialStates: initial[index], mask: mask, options: passOptions[index])
        }
        let results = concurrent ? try Parallel.map(2, direction) : [try direction(0), try direction(1)]
        var backwardOutput = results[1].output
        if op.forward.returnSequences { backwardOutput = backwardOutput.reversedInTime() }
        let merged = try merge(results[0].output, backwardOutput)
        return merged + (op.returnState ? results[0].states + results[1].states : [])
    }

    /// concat (`[forward, backward]` on the last axis), sum, mul, ave, or both outputs apart (merge_mode None).
    private func merge(_ forwardOutput: Tensor, _ backwardOutput: Tensor) throws -> [Tensor] {
        guard forwardOutput.shape == backwardOutput.shape else {
            throw EngineError("forward output \(forwardOutput.shape) and backward output \(backwardOutput.shape) differ")
        }
        switch op.mergeMode {
        case nil: return [forwardOutput, backwardOutput]
        case .sum: return [try Tensor.broadcasting(forwardOutput, backwardOutput, .add)]
        case .mul: return [try Tensor.broadcasting(forwardOutput, backwardOutput, .multiply)]
        case .ave: return [try Tensor.broadcasting(forwardOutput, backwardOutput) { ($0 + $1) / 2 }]
        case .concat:
            let (rows, width) = forwardOutput.rowsAndLast
            var values = [Float](repeating: 0, count: 2 * forwardOutput.count)
            var target = values.mutableSpan
            let (forward, backward) = (forwardOutput.values.span, backwardOutput.values.span)
            for row in 0 ..< rows {
                let source = row * width ..< (row + 1) * width
                target.assign(2 * row * width ..< (2 * row + 1) * width, from: forward.extracting(source))
                target.assign((2 * row + 1) * width ..< (2 * row + 2) * width, from: backward.extracting(source))
            }
            return [Tensor(shape: forwardOutput.shape.dropLast() + [2 * width], values: values)]
        }
    }
}
