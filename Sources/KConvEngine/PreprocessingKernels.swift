import KConvGraph
/// The engine's preprocessing operations on whole numbers: bucketing, categorical encodings and
/// vocabulary lookups. Whole numbers travel as `IndexTensor`s so that lookups stay exact.

extension IndexTensor {
    /// Float values as whole numbers (truncated, as `tf.cast` does); a NaN or infinite value, which has
    /// no index, becomes `Int64.min` so that every lookup and encoding treats it as out of range.
    package init(truncating tensor: Tensor) {
        self.init(shape: tensor.shape, values: tensor.values.map { value in
            value.isFinite ? Int64(max(min(value, 9.2e18), -9.2e18)) : .min
        })
    }
}

/// How many of the ascending `boundaries` are at or below each value (`tf.raw_ops.Bucketize`, C++'s
/// `upper_bound`; a NaN compares below nothing and lands in the last bucket).
package func bucketize(_ input: Tensor, boundaries: [Float]) -> IndexTensor {
    IndexTensor(shape: input.shape, values: input.values.map { value in
        var (low, high) = (0, boundaries.count)
        while low < high {
            let middle = (low + high) / 2
            if value < boundaries[middle] { high = middle } else { low = middle + 1 }
        }
        return Int64(low)
    })
}

extension CategoryEncodingOp {
    /// One-hot rows (a trailing axis of 1 replaced by `depth`, else `depth` appended), or for a 2-D input a
    /// `depth`-wide row per sample of flags (multi-hot) or counts; values outside `[0, depth)` set nothing.
    package func run(_ input: IndexTensor) throws -> Tensor {
        switch mode {
        case .oneHot:
            let shape = (input.shape.count > 1 && input.shape.last == 1 ? Array(input.shape.dropLast()) : input.shape) + [depth]
            var output = Tensor(zeros: shape)
            for (position, value) in input.values.enumerated() where value >= 0 && value < depth {
                output.values[position * depth + Int(value)] = 1
            }
            return output
        case .multiHot, .count:
            guard input.shape.count == 2 else {
                throw EngineError("\(mode.rawValue) encodes a 2-D input (batch, values), found shape \(input.shape)")
            }
            let (rows, width) = (input.shape[0], input.shape[1])
            var output = Tensor(zeros: [rows, depth])
            for row in 0..<rows {
                for value in input.values[row * width ..< (row + 1) * width] where value >= 0 && value < depth {
                    output.values[row * depth + Int(value)] = mode == .count ? output.values[row * depth + Int(value)] + 1 : 1
                }
            }
            return output
        }
    }
}

extension IntegerLookupOp {
    /// Every value looked up, or with `invert` every index mapped back (see `LookupOp`); several OOV indices
    /// take an out-of-vocabulary value by floormod.
    package func run(_ input: IndexTensor) throws -> IndexTensor {
        guard !invert else { return IndexTensor(shape: input.shape, values: tokens(input.values)) }
        let count = Int64(oovIndices)
        return IndexTensor(shape: input.shape, values: try indices(input.values) { ($0 % count + count) % count })
    }
}
