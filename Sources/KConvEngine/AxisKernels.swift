import KConvGraph
/// Maths along chosen axes (softmax, normalisation): each group of elements that shares every other
/// index becomes one contiguous row, so the kernels only ever see `[rows, width]`.
extension Tensor {
    /// Applies `rowKernel` to every group of elements spanning `axes` (non-negative, any order), each laid
    /// out as one row in row-major order of the sorted axes. When the axes are already the trailing ones
    /// the rows are the tensor's own memory; otherwise the tensor is transposed there and back.
    package func mappingRows(over axes: [Int], _ rowKernel: (_ values: inout [Float], _ rows: Int, _ width: Int) throws -> Void) rethrows -> Tensor {
        let reduced = Set(axes).sorted()
        let kept = shape.indices.filter { !reduced.contains($0) }
        let width = reduced.reduce(1) { $0 * shape[$1] }
        let rows = width == 0 ? 0 : count / width
        if kept.allSatisfy({ $0 < (reduced.first ?? rank) }) {
            var result = self
            try rowKernel(&result.values, rows, width)
            return result
        }
        let permutation = kept + reduced
        var moved = permuted(permutation)
        try rowKernel(&moved.values, rows, width)
        var inverse = permutation
        for (position, axis) in permutation.enumerated() { inverse[axis] = position }
        return moved.permuted(inverse)
    }
}

/// Row kernels shared by the normalisation, softmax and dot layers.
package enum RowKernels {
    /// Mean and (biased) variance of one row, two-pass as `tf.nn.moments` computes them.
    package static func moments(_ values: [Float], start: Int, count: Int) -> (mean: Double, variance: Double) {
        let range = start ..< start + count
        let mean = sum(values, range) { $0 } / Double(count)
        let center = Float(mean)
        return (mean, sum(values, range) { ($0 - center) * ($0 - center) } / Double(count))
    }

    /// Mean of the squares of one row (Keras 3's RMSNormalization).
    package static func meanSquare(_ values: [Float], start: Int, count: Int) -> Double {
        sum(values, start ..< start + count) { $0 * $0 } / Double(count)
    }

    /// Divides each row by its L2 norm, floored at `normFloor` (`x / max(‖x‖, floor)`), as Keras's
    /// `l2_normalize` does: tf.keras floors the squared sum at 1e-12 (norm 1e-6), Keras 3 the norm at 1e-7.
    package static func l2Normalize(_ values: inout [Float], rows: Int, width: Int, normFloor: Double) {
        for row in 0..<rows {
            let range = row * width ..< (row + 1) * width
            let inverse = Float(1 / max(sum(values, range) { $0 * $0 }.squareRoot(), normFloor))
            for i in range { values[i] *= inverse }
        }
    }

    /// `Σ term(x)` over `values[range]`: eight Float lanes at a time, flushed into a Double every 256
    /// elements, which is fast and at least as accurate as TensorFlow's own float32 reductions.
    private static func sum(_ values: [Float], _ range: Range<Int>, _ term: (SIMD8<Float>) -> SIMD8<Float>) -> Double {
        var total = 0.0
        var start = range.lowerBound
        while start + 8 <= range.upperBound {
            let blockEnd = min(start + 256, range.upperBound)
            var lanes = SIMD8<Float>()
            while start + 8 <= blockEnd {
                lanes += term(SIMD8(values[start ..< start + 8]))
                start += 8
            }
            total += Double(lanes.sum())
        }
        let remaining = range.upperBound - start
        if remaining > 0 {
            // The last few elements go through the same term in a partly filled vector; only their lanes count.
            var tail = SIMD8<Float>()
            for lane in 0..<remaining { tail[lane] = values[start + lane] }
            let terms = term(tail)
            for lane in 0..<remaining { total += Double(terms[lane]) }
        }
        return total
    }
}
