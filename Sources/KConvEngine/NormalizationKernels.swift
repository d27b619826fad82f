import KConvGraph
/// The engine's normalisation operations.

extension BatchNormOp {
    /// `x · scale[c] + shift[c]` with `scale = gamma / sqrt(moving_variance + epsilon)` and
    /// `shift = beta − moving_mean · scale` (`tf.nn.batch_normalization`'s form), one channel per position
    /// along `axes`.
    package func run(_ input: Tensor, gamma: Tensor?, beta: Tensor?, mean: Tensor, variance: Tensor) throws -> Tensor {
        try requireRank(input, rank)
        let scales = variance.values.indices.map { channel in
            Float(Double(gamma?.values[channel] ?? 1) / (Double(variance.values[channel]) + epsilon).squareRoot())
        }
        let shifts = mean.values.indices.map { channel in
            Float(Double(beta?.values[channel] ?? 0) - Double(mean.values[channel]) * Double(scales[channel]))
        }
        let channels = axes.reduce(1) { $0 * input.shape[$1] }
        guard channels == scales.count, shifts.count == scales.count else {
            throw EngineError("normalises \(scales.count) channels over axes \(axes), found shape \(input.shape)")
        }
        let sorted = axes.sorted()
        guard let first = sorted.first, let last = sorted.last, last - first == sorted.count - 1 else {
            // Channels spread over separate axes (tf.keras allows a list): gather them into rows.
            return input.mappingRows(over: axes) { values, rows, width in
                Self.applyChannels(&values, scales, shifts, outer: rows, inner: 1)
            }
        }
        var output = input
        let inner = input.shape[(last + 1)...].reduce(1, *)
        let block = channels * inner
        Self.applyChannels(&output.values, scales, shifts, outer: block == 0 ? 0 : input.count / block, inner: inner)
        return output
    }

    /// `x · scale[c] + shift[c]` over values laid out as `[outer, channels, inner]`.
    private static func applyChannels(_ values: inout [Float], _ scales: [Float], _ shifts: [Float], outer: Int, inner: Int) {
        var index = 0
        for _ in 0..<outer {
            if inner == 1 {
                for channel in scales.indices { values[index + channel] = values[index + channel] * scales[channel] + shifts[channel] }
                index += scales.count
                continue
            }
            for (scale, shift) in zip(scales, shifts) {
                for i in index ..< index + inner { values[i] = values[i] * scale + shift }
                index += inner
            }
        }
    }
}

extension LayerNormOp {
    /// Each sample's elements across `axes` normalised to mean 0 (unless RMS scaling) and variance 1, then
    /// scaled and shifted per element (row-major over the sorted axes, the order Keras lays gamma and beta out in).
    package func run(_ input: Tensor, gamma: Tensor?, beta: Tensor?) throws -> Tensor {
        try requireRank(input, rank)
        let width = axes.reduce(1) { $0 * input.shape[$1] }
        for weights in [gamma, beta].compactMap({ $0 }) where weights.count != width {
            throw EngineError("normalises \(weights.count) values over axes \(axes), found shape \(input.shape)")
        }
        let scales = gamma?.values ?? Array(repeating: 1, count: width), shifts = beta?.values ?? Array(repeating: 0, count: width)
        let (epsilon, subtractsMean) = (epsilon, subtractsMean)
        return input.mappingRows(over: axes) { values, rows, width in
            for row in 0..<rows {
                let start = row * width
                let (mean, variance) = RowKernels.moments(values, start: start, count: width)
                let inverse = Float(1 / (variance + epsilon).squareRoot())
                let offset = subtractsMean ? Float(mean) : 0
                for j in 0..<width {
                    values[start + j] = (values[start + j] - offset) * inverse * scales[j] + shifts[j]
                }
            }
        }
    }
}

/// Checks that an input has the rank the layer was built for, so that its axes mean what they meant then.
private func requireRank(_ input: Tensor, _ rank: Int) throws {
    guard input.rank == rank else {
        throw EngineError("built for inputs of rank \(rank), found shape \(input.shape)")
    }
}
