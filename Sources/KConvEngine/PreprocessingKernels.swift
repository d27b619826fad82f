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
    /// Every value looked up (see `IntegerLookupOp`); an out-of-vocabulary value with no OOV index to go to
    /// is an error, as Keras asserts.
    package func run(_ input: IndexTensor) throws -> IndexTensor {
        let table = Dictionary(vocabulary.enumerated().map { ($1, Int64(tokenStart + $0)) }, uniquingKeysWith: { first, _ in first })
        let values = try input.values.map { value -> Int64 in
            if invert {
                if let maskToken, value == 0 { return maskToken }
                let position = value - Int64(tokenStart)
                return position >= 0 && position < vocabulary.count ? vocabulary[Int(position)] : oovToken
            }
            if let maskToken, value == maskToken { return maskIndex }
            if let index = table[value] { return index }
            switch oovIndices {
            case 0: throw EngineError("value \(value) is not in the vocabulary, and the layer has no out-of-vocabulary index (num_oov_indices=0)")
            case 1: return Int64(oovStart)
            default:
                let count = Int64(oovIndices)
                return Int64(oovStart) + ((value % count) + count) % count  // floormod
            }
        }
        return IndexTensor(shape: input.shape, values: values)
    }
}

extension HashingOp {
    /// Each value's bin; `floats`, when the input held floats, decides which values equal the mask value.
    package func run(_ input: IndexTensor, floats: Tensor?) -> IndexTensor {
        let values = input.values.enumerated().map { position, value -> Int64 in
            guard let maskValue else { return Self.bin(value, bins) }
            let masked = floats.map { $0.values[position] == Float(maskValue) } ?? (value == maskValue)
            return masked ? 0 : Self.bin(value, bins) + 1
        }
        return IndexTensor(shape: input.shape, values: values)
    }

    /// `Fingerprint64(as_string(value)) mod bins`, the fingerprint read as unsigned.
    private static func bin(_ value: Int64, _ bins: Int) -> Int64 {
        Int64(FarmHash.fingerprint64(Array(String(value).utf8)) % UInt64(bins))
    }
}
