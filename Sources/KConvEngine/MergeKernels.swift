import KConvGraph
/// The engine's merge operations: elementwise merges, concatenation and batched dot products, with the
/// masks Keras gives their results.

extension MergeOp {
    /// Lower-rank inputs first gain axes of size 1 after the batch axis (Keras's `Merge.call` expands them at
    /// axis 1), then the inputs combine left to right with NumPy broadcasting; Average divides the sum by the
    /// input count. Keras 3's Multiply, Maximum and Minimum also look at the masks (`maskedMerge`).
    package func run(_ call: LayerCall) throws -> LayerOutput {
        let expected = operation == .subtract ? 2...2 : 1...Int.max
        guard expected.contains(call.inputs.count) else {
            throw EngineError("expects \(operation == .subtract ? "exactly 2" : "at least 1") inputs, found \(call.inputs.count)")
        }
        let rank = call.inputs.map(\.rank).max() ?? 0
        let inputs = call.inputs.map { input in
            input.rank == rank ? input : input.reshaped(input.shape.prefix(1) + Array(repeating: 1, count: rank - input.rank) + input.shape.dropFirst())
        }
        let output: Tensor
        if keras3Masks, [.multiply, .maximum, .minimum].contains(operation), call.masks.contains(where: { $0 != nil }) {
            output = try maskedMerge(inputs, call.masks)
        } else {
            var result = inputs[0]
            for next in inputs.dropFirst() {
                switch operation {
                case .add, .average: result = try Tensor.broadcasting(result, next, .add)
                case .subtract: result = try Tensor.broadcasting(result, next, .subtract)
                case .multiply: result = try Tensor.broadcasting(result, next, .multiply)
                case .maximum: result = try Tensor.broadcasting(result, next) { max($0, $1) }
                case .minimum: result = try Tensor.broadcasting(result, next) { min($0, $1) }
                }
            }
            if operation == .average {
                let count = Float(inputs.count)
                for index in result.values.indices { result.values[index] /= count }
            }
            output = result
        }
        return LayerOutput([output], masks: [mergedMask(call.masks, keras3Masks: keras3Masks)])
    }

    /// Keras 3's mask-aware merges, for inputs of one shape with masks over all but the last axis
    /// (`Multiply._merge_function` and `Merge._apply_merge_op_and_or_mask`): Multiply treats padded rows as 1
    /// and zeroes the rows every input pads; Maximum and Minimum take a padded row from the other operand.
    package func maskedMerge(_ inputs: [Tensor], _ masks: [Mask?]) throws -> Tensor {
        let shape = inputs[0].shape
        guard inputs.allSatisfy({ $0.shape == shape }) else {
            throw EngineError("masked inputs must share one shape, found \(inputs.map(\.shape))")
        }
        let keeps = try masks.map { mask -> [Bool]? in
            guard let mask else { return nil }
            guard mask.shape == Array(shape.dropLast()) else {
                throw EngineError("a mask of shape \(mask.shape) does not fit an input of shape \(shape)")
            }
            return mask.values
        }
        let width = shape.last ?? 1
        let rows = width == 0 ? 0 : inputs[0].count / width
        var output = inputs[0]
        if operation == .multiply {
            output.values = Array(repeating: 1, count: output.count)
            for (input, keep) in zip(inputs, keeps) {
                for row in 0..<rows where keep?[row] ?? true {
                    for i in row * width ..< (row + 1) * width { output.values[i] *= input.values[i] }
                }
            }
            if let kept = anyKept(keeps) {
                for (row, keep) in kept.enumerated() where !keep {
                    output.values.replaceSubrange(row * width ..< (row + 1) * width, with: repeatElement(0, count: width))
                }
            }
            return output
        }
        let pick: (Float, Float) -> Float = operation == .maximum ? { max($0, $1) } : { min($0, $1) }
        var outputKeep = keeps[0]
        for (input, keep) in zip(inputs, keeps).dropFirst() {
            for row in 0..<rows {
                let (inputKept, outputKept) = (keep?[row] ?? true, outputKeep?[row] ?? true)
                for i in row * width ..< (row + 1) * width {
                    let x = inputKept ? input.values[i] : output.values[i]
                    output.values[i] = pick(outputKept ? output.values[i] : x, x)
                }
            }
            outputKeep = anyKept([outputKeep, keep])
        }
        return output
    }
}

extension ConcatenateOp {
    package func run(_ call: LayerCall) throws -> LayerOutput {
        let inputs = call.inputs
        guard let first = inputs.first else { throw EngineError("expects at least one input, found none") }
        let axis = self.axis < 0 ? self.axis + first.rank : self.axis
        let fits = (0..<first.rank).contains(axis) && inputs.allSatisfy { input in
            input.rank == first.rank && input.shape.indices.allSatisfy { $0 == axis || input.shape[$0] == first.shape[$0] }
        }
        guard fits else {
            throw EngineError("cannot concatenate shapes \(inputs.map(\.shape)) along axis \(self.axis)")
        }
        var shape = first.shape
        shape[axis] = inputs.reduce(0) { $0 + $1.shape[axis] }
        let output = Tensor(shape: shape, values: joined(inputs.map { ($0.values, $0.shape) }, axis: axis))
        return LayerOutput([output], masks: [try joinedMask(inputs, call.masks, axis: axis)])
    }

    /// The mask of the result (Keras's `Concatenate.compute_mask`), masks covering every axis but the last.
    /// Along a masked axis the masks join like the tensors, an unmasked input counting as all kept. Along the
    /// feature axis each position keeps one entry: tf.keras ANDs the masks present, Keras 3 ORs all of them
    /// (so an unmasked input keeps everything).
    package func joinedMask(_ inputs: [Tensor], _ masks: [Mask?], axis: Int) throws -> Mask? {
        guard masks.contains(where: { $0 != nil }) else { return nil }
        let full = try zip(inputs, masks).map { input, mask in
            let shape = Array(input.shape.dropLast())
            guard let mask else { return Mask(shape: shape, values: Array(repeating: true, count: shape.reduce(1, *))) }
            guard mask.shape == shape else {
                throw EngineError("a mask of shape \(mask.shape) does not fit an input of shape \(input.shape)")
            }
            return mask
        }
        guard axis == inputs[0].rank - 1 else {
            var shape = full[0].shape
            shape[axis] = full.reduce(0) { $0 + $1.shape[axis] }
            return Mask(shape: shape, values: joined(full.map { ($0.values, $0.shape) }, axis: axis))
        }
        guard keras3Masks else { return Mask.all(masks) }
        return anyKept(full.map(\.values)).map { Mask(shape: full[0].shape, values: $0) }
    }
}

extension DotOp {
    /// Keras's `batch_dot`: for each sample, the sum over the contracted axes of `x · y`; the result's axes
    /// are x's other axes then y's (a lone batch axis gains a 1). With `normalize`, each input is first
    /// L2-normalised along its contracted axis, making the products cosine similarities. No mask comes out.
    package func run(_ call: LayerCall) throws -> LayerOutput {
        guard call.inputs.count == 2 else { throw EngineError("expects 2 inputs, found \(call.inputs.count)") }
        var (x, y) = (call.inputs[0], call.inputs[1])
        let axes = zip(self.axes, [x.rank, y.rank]).map { axis, rank in axis < 0 ? axis + rank : axis }
        guard x.rank >= 2, y.rank >= 2, (1..<x.rank).contains(axes[0]), (1..<y.rank).contains(axes[1]),
              x.shape[0] == y.shape[0], x.shape[axes[0]] == y.shape[axes[1]] else {
            throw EngineError("cannot take the dot product of shapes \(x.shape) and \(y.shape) along axes \(self.axes)")
        }
        if normalize {
            x = x.mappingRows(over: [axes[0]]) { RowKernels.l2Normalize(&$0, rows: $1, width: $2, normFloor: normFloor) }
            y = y.mappingRows(over: [axes[1]]) { RowKernels.l2Normalize(&$0, rows: $1, width: $2, normFloor: normFloor) }
        }
        let left = DotOperand(x, axis: axes[0]), right = DotOperand(y, axis: axes[1])
        var shape = x.shape
        shape.remove(at: axes[0])
        shape += y.shape.enumerated().filter { $0.offset != 0 && $0.offset != axes[1] }.map(\.element)
        var output = Tensor(zeros: shape.count == 1 ? shape + [1] : shape)
        let (rows, columns, depth) = (left.others, right.others, left.depth)
        guard depth > 0 else { return LayerOutput([output]) }  // a sum over nothing
        for sample in 0 ..< x.shape[0] {
            for rowBlock in 0 ..< left.blocks {
                for columnBlock in 0 ..< right.blocks {
                    BLAS.gemm(m: left.blockSize, n: right.blockSize, k: depth,
                              a: x.values, aOffset: sample * left.sampleSize + rowBlock * left.blockStride,
                              lda: left.leadingDimension, transposeA: left.transposed,
                              b: y.values, bOffset: sample * right.sampleSize + columnBlock * right.blockStride,
                              ldb: right.leadingDimension, transposeB: !right.transposed,
                              c: &output.values,
                              cOffset: sample * rows * columns + rowBlock * left.blockSize * columns + columnBlock * right.blockSize,
                              ldc: columns)
                }
            }
        }
        return LayerOutput([output])
    }
}

/// Rows kept by any of the masks when every one is present (Keras 3's OR of merge masks), else nil.
package func anyKept(_ keeps: [[Bool]?]) -> [Bool]? {
    guard var result = keeps.first ?? nil else { return nil }
    for keep in keeps.dropFirst() {
        guard let keep, keep.count == result.count else { return nil }
        for index in result.indices where keep[index] { result[index] = true }
    }
    return result
}

/// The mask of an elementwise merge: tf.keras ANDs the masks present (`Merge.compute_mask`); Keras 3 ORs
/// them, and gives none unless every input has one.
package func mergedMask(_ masks: [Mask?], keras3Masks: Bool) -> Mask? {
    guard keras3Masks else { return Mask.all(masks) }
    guard let first = masks.first ?? nil, let kept = anyKept(masks.map { $0?.values }) else { return nil }
    return Mask(shape: first.shape, values: kept)
}

/// Arrays laid out in row-major `shape`s that agree on every axis but `axis`, joined along it: for each
/// position before the axis, each part's block from the axis on, in turn.
package func joined<Element>(_ parts: [(values: [Element], shape: [Int])], axis: Int) -> [Element] {
    let outer = parts.first.map { $0.shape[..<axis].reduce(1, *) } ?? 0
    let blocks = parts.map { $0.shape[axis...].reduce(1, *) }
    var result: [Element] = []
    result.reserveCapacity(parts.reduce(0) { $0 + $1.values.count })
    for position in 0..<outer {
        for (part, block) in zip(parts, blocks) {
            result.append(contentsOf: part.values[position * block ..< (position + 1) * block])
        }
    }
    return result
}

/// One sample of a `Dot` input seen as `[before, depth, after]` around its contracted axis, cut into
/// blocks that are plain (possibly transposed) matrices for GEMM without copying: `[before, depth]` rows
/// when nothing follows the axis, otherwise one `[depth, after]` slab per index before it.
private struct DotOperand {
    /// Elements of one sample, the contracted axis's size, and the count of the other positions.
    package let sampleSize: Int, depth: Int, others: Int
    package let blocks: Int, blockSize: Int, blockStride: Int
    /// Row stride in memory, and whether memory holds the block as `[depth, blockSize]` rather than
    /// `[blockSize, depth]`.
    package let leadingDimension: Int, transposed: Bool

    package init(_ tensor: Tensor, axis: Int) {
        let before = tensor.shape[1..<axis].reduce(1, *)
        let after = tensor.shape[(axis + 1)...].reduce(1, *)
        depth = tensor.shape[axis]
        sampleSize = before * depth * after
        others = before * after
        if after == 1 {
            (blocks, blockSize, blockStride, leadingDimension, transposed) = (1, before, 0, depth, false)
        } else {
            (blocks, blockSize, blockStride, leadingDimension, transposed) = (before, after, depth * after, after, true)
        }
    }
}
