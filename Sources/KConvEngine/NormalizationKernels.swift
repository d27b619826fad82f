import KConvGraph
/// The engine's normalisation operations.

extension BatchNormOp {
    /// `x · scale[c] + shift[c]` with `scale = gamma / sqrt(moving_variance + epsilon)` and
    /// `shift = beta − moving_mean · scale` (`tf.nn.batch_normalization`'s form), one channel per position
    /// along `axes`.
    /// The input is consumed: its values are updated in place when nothing else holds them.
    package func run(_ input: consuming Tensor, gamma: Tensor?, beta: Tensor?, mean: Tensor, variance: Tensor) throws -> Tensor {
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
        let inner = input.shape[(last + 1)...].reduce(1, *)
        let block = channels * inner
        let outer = block == 0 ? 0 : input.count / block
        Self.applyChannels(&input.values, scales, shifts, outer: outer, inner: inner)
        return input
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
    /// Each sample's elements across `axes` normalised to mean 0 (unless RMS scaling) and variance 1 (or, with
    /// `rootMeanSquare`, divided by `sqrt(mean(x²) + epsilon)`), then scaled and shifted per element (row-major
    /// over the sorted axes, the order Keras lays gamma and beta out in).
    package func run(_ input: Tensor, gamma: Tensor?, beta: Tensor?) throws -> Tensor {
        try requireRank(input, rank)
        let width = axes.reduce(1) { $0 * input.shape[$1] }
        for weights in [gamma, beta].compactMap({ $0 }) where weights.count != width {
            throw EngineError("normalises \(weights.count) values over axes \(axes), found shape \(input.shape)")
        }
        let scales = gamma?.values ?? Array(repeating: 1, count: width), shifts = beta?.values ?? Array(repeating: 0, count: width)
        let (epsilon, subtractsMean, rootMeanSquare) = (epsilon, subtractsMean, rootMeanSquare)
        return input.mappingRows(over: axes) { values, rows, width in
            for row in 0..<rows {
                let start = row * width
                let (mean, variance) = rootMeanSquare ? (0, RowKernels.meanSquare(values, start: start, count: width))
                    : RowKernels.moments(values, start: start, count: width)
                let inverse = Float(1 / (variance + epsilon).squareRoot())
                let offset = subtractsMean ? Float(mean) : 0
                for j in 0..<width {
                    values[start + j] = (values[start + j] - offset) * inverse * scales[j] + shifts[j]
                }
            }
        }
    }
}

extension GroupNormOp {
    /// Each sample's channels along `axis` split into `groups` runs of consecutive channels; each group's
    /// elements (its channels at every position of the other non-batch axes) normalised to mean 0 and
    /// variance 1, then `x · inv + (beta − mean · inv)` with `inv = gamma[c] / sqrt(variance + epsilon)`,
    /// the form of both Keras versions (`tf.nn.batch_normalization` in tf-keras).
    package func run(_ input: Tensor, gamma: Tensor?, beta: Tensor?) throws -> Tensor {
        try requireRank(input, rank)
        guard axis > 0, axis < rank else { throw EngineError("cannot group axis \(axis) of shape \(input.shape)") }
        let channels = input.shape[axis]
        for weights in [gamma, beta].compactMap({ $0 }) where weights.count != channels {
            throw EngineError("normalises \(weights.count) channels, found shape \(input.shape)")
        }
        guard groups > 0, channels % groups == 0 else {
            throw EngineError("cannot split \(channels) channels into \(groups) groups")
        }
        let batch = input.shape[0]
        let before = input.shape[1..<axis].reduce(1, *), after = input.shape[(axis + 1)...].reduce(1, *)
        let perGroup = channels / groups
        var output = input
        var row = [Float](repeating: 0, count: before * perGroup * after)
        for sample in 0..<batch {
            let base = sample * before * channels * after
            for group in 0..<groups {
                // The group's elements, gathered into one row.
                var index = 0
                for outer in 0..<before {
                    let start = base + (outer * channels + group * perGroup) * after
                    for i in start ..< start + perGroup * after { row[index] = input.values[i]; index += 1 }
                }
                let (mean, variance) = RowKernels.moments(row, start: 0, count: row.count)
                let root = Float(1 / (variance + epsilon).squareRoot())
                for channel in group * perGroup ..< (group + 1) * perGroup {
                    let inverse = root * (gamma?.values[channel] ?? 1)
                    let shift = (beta?.values[channel] ?? 0) - Float(mean) * inverse
                    for outer in 0..<before {
                        let start = base + (outer * channels + channel) * after
                        for i in start ..< start + after { output.values[i] = input.values[i] * inverse + shift }
                    }
                }
            }
        }
        return output
    }
}

extension StandardizeOp {
    /// `(x − mean) / max(sqrt(variance), floor)` per position along `keptAxes` (or its inverse), in Float as
    /// Keras computes it.
    package func run(_ input: Tensor, mean: Tensor, variance: Tensor) throws -> Tensor {
        try requireRank(input, rank)
        let width = keptAxes.reduce(1) { $0 * input.shape[$1] }
        guard mean.count == width, variance.count == width else {
            throw EngineError("holds \(mean.count) means and \(variance.count) variances for axes \(keptAxes), found shape \(input.shape)")
        }
        let divisors = variance.values.map { max($0.squareRoot(), floor) }
        let (means, invert) = (mean.values, invert)
        return input.mappingRows(over: keptAxes) { values, rows, width in
            for row in 0..<rows {
                let start = row * width
                for j in 0..<width {
                    let x = values[start + j]
                    values[start + j] = invert ? means[j] + x * divisors[j] : (x - means[j]) / divisors[j]
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
