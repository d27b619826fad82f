import KConvGraph
/// Kernels that move values without arithmetic (transposes, repeats, padding and cropping) and the image
/// resize of UpSampling2D.
extension Tensor {
    /// The tensor with its axes reordered: output axis `i` is input axis `axes[i]` (NumPy's `transpose`).
    package func permuted(_ axes: [Int]) -> Tensor {
        precondition(axes.sorted() == Array(0..<rank), "permutation \(axes) does not fit rank \(rank)")
        guard axes != Array(0..<rank), count > 0 else { return Tensor(shape: axes.map { shape[$0] }, values: values) }
        let outputShape = axes.map { shape[$0] }
        var inputStrides = [Int](repeating: 1, count: rank)
        for axis in stride(from: rank - 2, through: 0, by: -1) { inputStrides[axis] = inputStrides[axis + 1] * shape[axis + 1] }
        // The input stride of each output axis; the output is written in order, one last-axis run at a time.
        let strides = axes.map { inputStrides[$0] }
        let runLength = outputShape[rank - 1], runStride = strides[rank - 1]
        var output = [Float](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: rank)
        var source = 0
        let input = values.span
        var target = output.mutableSpan
        for runStart in stride(from: 0, to: count, by: runLength) {
            for offset in 0..<runLength { target[runStart + offset] = input[source + offset * runStride] }
            // Advance the odometer over the output's leading axes, keeping `source` in step.
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                source += strides[axis]
                if index[axis] < outputShape[axis] { break }
                source -= strides[axis] * outputShape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return Tensor(shape: outputShape, values: output)
    }

    /// Each slice along `axis` repeated `times` times in place (`[a, b]` → `[a, a, b, b]`): NumPy's
    /// `repeat`, Keras's `repeat_elements` (UpSampling, and RepeatVector on an axis of length 1).
    package func repeatingElements(along axis: Int, times: Int) -> Tensor {
        let inner = shape[(axis + 1)...].reduce(1, *)
        var output = [Float]()
        output.reserveCapacity(count * times)
        for slice in 0..<(inner == 0 ? 0 : count / inner) {
            let run = values[slice * inner ..< (slice + 1) * inner]
            for _ in 0..<times { output.append(contentsOf: run) }
        }
        var outputShape = shape
        outputShape[axis] *= times
        return Tensor(shape: outputShape, values: output)
    }

    /// The tensor grown by `before[a]` zeros at the start and `after[a]` at the end of each axis `a`; a
    /// negative amount removes that many entries instead (ZeroPadding and Cropping). Every resulting
    /// size must be ≥ 0.
    package func padded(before: [Int], after: [Int]) -> Tensor {
        let outputShape = shape.indices.map { shape[$0] + before[$0] + after[$0] }
        precondition(outputShape.allSatisfy { $0 >= 0 }, "cropping \(before), \(after) removes more than \(shape)")
        var output = Tensor(zeros: outputShape)
        guard output.count > 0, count > 0 else { return output }
        let last = rank - 1
        // Along the last axis the kept output columns are one contiguous run.
        let firstColumn = max(before[last], 0)
        let endColumn = min(outputShape[last], shape[last] + before[last])
        guard firstColumn < endColumn else { return output }
        let outputRows = output.count / outputShape[last]
        rows: for row in 0..<outputRows {
            // The input row this output row comes from, axis by axis from the innermost leading axis.
            var remainder = row, sourceRow = 0, sourceScale = 1
            for axis in stride(from: last - 1, through: 0, by: -1) {
                let sourceIndex = remainder % outputShape[axis] - before[axis]
                remainder /= outputShape[axis]
                guard sourceIndex >= 0, sourceIndex < shape[axis] else { continue rows }
                sourceRow += sourceIndex * sourceScale
                sourceScale *= shape[axis]
            }
            let source = sourceRow * shape[last] + firstColumn - before[last]
            let target = row * outputShape[last] + firstColumn
            output.values.replaceSubrange(target ..< target + endColumn - firstColumn,
                                          with: values[source ..< source + endColumn - firstColumn])
        }
        return output
    }
}

extension Tensor {
    /// The first `keeping` axes kept and the rest laid out as `target`, whose one -1 entry is inferred.
    package func reshaped(keeping: Int, to target: [Int]) throws -> Tensor {
        guard rank >= keeping else { throw EngineError("cannot keep \(keeping) axes of an input of shape \(shape)") }
        let kept = Array(shape.prefix(keeping))
        let features = shape.dropFirst(keeping).reduce(1, *)
        var resolved = target
        let known = target.filter { $0 != -1 }.reduce(1, *)
        if let slot = resolved.firstIndex(of: -1), known > 0, features % known == 0 { resolved[slot] = features / known }
        guard resolved.allSatisfy({ $0 >= 0 }), resolved.reduce(1, *) == features else {
            throw EngineError("cannot reshape input \(shape) (\(features) values per sample) to \(target)")
        }
        return reshaped(kept + resolved)
    }

    /// `before`/`after` rows added per axis (negative: removed), checking nothing removes more than there is.
    package func checkedPadded(before: [Int], after: [Int]) throws -> Tensor {
        guard before.count == rank, after.count == rank else {
            throw EngineError("padding for \(before.count) axes does not fit an input of shape \(shape)")
        }
        for axis in shape.indices where shape[axis] + before[axis] + after[axis] < 0 {
            throw EngineError("cropping \([-before[axis], -after[axis]]) removes more than the \(shape[axis]) rows of axis \(axis)")
        }
        return padded(before: before, after: after)
    }
}

/// TimeDistributed's folding of time into the batch and back.
package enum TimeFolding {
    package static func fold(_ input: Tensor) throws -> Tensor {
        guard input.rank >= 3 else {
            throw EngineError("expected an at least 3-D (batch, timesteps, ...) input, found shape \(input.shape)")
        }
        return input.reshaped([input.shape[0] * input.shape[1]] + input.shape.dropFirst(2))
    }

    package static func stepMask(_ input: Tensor, _ mask: Mask) throws -> Mask? {
        let (batch, steps) = (input.shape[0], input.shape[1])
        guard Array(mask.shape.prefix(2)) == [batch, steps] else {
            throw EngineError("expected a mask of shape [\(batch), \(steps), ...], found \(mask.shape)")
        }
        return mask.shape.count > 2 ? Mask(shape: [batch * steps] + mask.shape.dropFirst(2), values: mask.values) : nil
    }

    package static func unfold(_ output: Tensor, like input: Tensor) throws -> Tensor {
        let (batch, steps) = (input.shape[0], input.shape[1])
        guard output.shape.first == batch * steps else {
            throw EngineError("the wrapped layer returned shape \(output.shape) for \(batch * steps) folded steps")
        }
        return output.reshaped([batch, steps] + output.shape.dropFirst())
    }

    package static func outputMask(_ input: Tensor, inputMask: Mask?, innerMask: Mask?, keras3: Bool) -> Mask? {
        guard !keras3 else { return inputMask }
        let (batch, steps) = (input.shape[0], input.shape[1])
        if let innerMask, innerMask.shape.first == batch * steps {
            return Mask(shape: [batch, steps] + innerMask.shape.dropFirst(), values: innerMask.values)
        }
        guard let inputMask else { return nil }
        let perStep = inputMask.values.count / max(batch * steps, 1)
        let keep = (0 ..< batch * steps).map { step in inputMask.values[step * perStep ..< (step + 1) * perStep].contains(true) }
        return Mask(shape: [batch, steps], values: keep)
    }
}
