import KConvGraph
/// The engine's computations for core operations: dense products, table lookups, masks.

/// `x·W (+ b)` over the last axis of `x`, for any number of leading axes: one GEMM.
package func denseProduct(_ input: Tensor, kernel: Tensor, bias: Tensor?) throws -> Tensor {
    let (rows, width) = input.rowsAndLast
    let units = kernel.shape[1]
    guard width == kernel.shape[0] else {
        throw EngineError("expected inputs with \(kernel.shape[0]) features, found shape \(input.shape)")
    }
    if let bias, bias.count != units {
        throw EngineError("expected a bias of \(units) values, found shape \(bias.shape)")
    }
    var output = Tensor(shape: input.shape.dropLast() + [units],
                        values: bias.map { NativeKernels.repeating($0.values, count: rows) } ?? [Float](repeating: 0, count: rows * units))
    BLAS.gemm(m: rows, n: units, k: width, a: input.values, b: kernel.values, c: &output.values, beta: bias == nil ? 0 : 1)
    return output
}

/// `x · scale + offset`, elementwise, `scale` and `offset` each one value or a block repeating along the
/// leading axes of `x`, which must fill its last axes exactly (a per-channel list holds as many values as
/// the last axis).
/// The input is consumed: its values are updated in place when nothing else holds them.
func scaleShift(_ input: consuming Tensor, scale: [Float], offset: [Float]) throws -> Tensor {
    for (name, block) in [("scale", scale), ("offset", offset)] {
        var trailing = 1
        var axis = input.rank
        while trailing < block.count, axis > 0 {
            axis -= 1
            trailing *= input.shape[axis]
        }
        guard trailing == block.count || input.count == 0 else {
            throw EngineError("a \(name) of \(block.count) values does not fill the last axes of an input of shape \(input.shape)")
        }
    }
    var output = consume input
    if scale.count == 1, offset.count == 1 {
        let (a, b) = (scale[0], offset[0])
        for index in output.values.indices { output.values[index] = output.values[index] * a + b }
        return output
    }
    // Both blocks span whole last axes, so the longer one's length is a multiple of the shorter one's.
    let period = max(scale.count, offset.count)
    output.values.withUnsafeMutableBufferPointer { values in
        for start in stride(from: 0, to: values.count, by: period) {
            for index in 0 ..< period {
                values[start + index] = values[start + index] * scale[index % scale.count] + offset[index % offset.count]
            }
        }
    }
    return output
}

/// Rows of `table` (`[rows, width]`) picked by `indices`, which must be whole numbers in `[0, rows)`
/// (float indices, as a float32 model input carries them); the result has shape `indices.shape + [width]`.
package func gather(_ table: Tensor, _ indices: Tensor) throws -> Tensor {
    let rows = table.shape.first ?? 0
    let picked = try indices.values.enumerated().map { position, value in
        guard value >= 0, value < Float(rows), value.rounded(.towardZero) == value else {
            throw EngineError("index \(value) at flat position \(position) is not a whole number in [0, \(rows)) (input_dim)")
        }
        return Int(value)
    }
    return try gather(table, rows: picked, shape: indices.shape)
}

/// Rows of `table` picked by exact integer indices in `[0, rows)`: an integer model input, at any size.
package func gather(_ table: Tensor, _ indices: IndexTensor) throws -> Tensor {
    let rows = table.shape.first ?? 0
    let picked = try indices.values.enumerated().map { position, value in
        guard value >= 0, value < Int64(rows) else {
            throw EngineError("index \(value) at flat position \(position) is not in [0, \(rows)) (input_dim)")
        }
        return Int(value)
    }
    return try gather(table, rows: picked, shape: indices.shape)
}

/// The table's `rows`, checked in range, laid out as `shape + [width]`.
private func gather(_ table: Tensor, rows: [Int], shape: [Int]) throws -> Tensor {
    guard table.rank == 2 else { throw EngineError("expected a 2-D table, found shape \(table.shape)") }
    let width = table.shape[1]
    var values = [Float](repeating: 0, count: rows.count * width)
    var target = values.mutableSpan
    let source = table.values.span
    for (position, row) in rows.enumerated() {
        target.assign(position * width ..< (position + 1) * width, from: source.extracting(row * width ..< (row + 1) * width))
    }
    return Tensor(shape: shape + [width], values: values)
}

/// Keras Masking: a position (every axis but the last) is kept when any feature differs from `value`;
/// dropped positions are zeroed, as in Keras.
package func masking(_ input: Tensor, value: Float) -> (Tensor, Mask) {
    var output = input
    let (rows, width) = output.rowsAndLast
    var keep = [Bool](repeating: false, count: rows)
    for row in 0..<rows {
        let range = row * width ..< (row + 1) * width
        keep[row] = output.values[range].contains { $0 != value }
        if !keep[row] { output.values.replaceSubrange(range, with: repeatElement(0, count: width)) }
    }
    return (output, Mask(shape: Array(output.shape.dropLast()), values: keep))
}

/// Keras 3 `ops.any(x, axis, keepdims)`: true where any element along `axes` is non-zero; nil axes reduce
/// every axis (the batch too) to one value. `keepDims` keeps the reduced axes as size 1.
package func anyAlong(_ input: Tensor, axes: [Int]?, keepDims: Bool) throws -> Mask {
    let reduced = try Set((axes ?? Array(input.shape.indices)).map { axis in
        let resolved = axis < 0 ? axis + input.rank : axis
        guard input.shape.indices.contains(resolved) else {
            throw EngineError("any: axis \(axis) does not exist in an input of shape \(input.shape)")
        }
        return resolved
    }).sorted()
    let kept = input.shape.indices.filter { !reduced.contains($0) }
    let width = reduced.reduce(1) { $0 * input.shape[$1] }
    let rows = kept.reduce(1) { $0 * input.shape[$1] }
    let moved = kept.allSatisfy { $0 < (reduced.first ?? input.rank) } ? input : input.permuted(kept + reduced)
    let values = (0 ..< rows).map { row in moved.values[row * width ..< (row + 1) * width].contains { $0 != 0 } }
    let shape = keepDims ? input.shape.indices.map { reduced.contains($0) ? 1 : input.shape[$0] } : kept.map { input.shape[$0] }
    return Mask(shape: shape, values: values)
}
