import KConvGraph
/// Max and average pooling over windows and over whole spatial extents, as TensorFlow computes them.

/// Windowed pooling of a channels_last batch `(batch, spatial..., channels)`, Keras's Max/AveragePooling:
/// each output cell reduces, per channel, the input cells of its window that lie inside the input.
/// Padded cells never count (TensorFlow's `max_pool` / `avg_pool`): max ignores them and average divides
/// by the number of real cells in the window.
package func pool(_ input: Tensor, geometry: WindowGeometry, reduction: PoolReduction) -> Tensor {
    let batch = input.shape[0], channels = input.shape[input.rank - 1]
    let values = NativeKernels.pool(input.values, channels: channels, window: geometry.threeDimensional,
                                    average: reduction == .average, rows: 0 ..< batch * geometry.outputPositions)
    return Tensor(shape: [batch] + geometry.outputSize + [channels], values: values)
}

/// Global pooling of `input` read as `(batch, positions, channels)` (channels_last) or
/// `(batch, channels, positions)` (channels_first): `(batch, channels)`, each channel reduced over
/// every position, Keras's GlobalMax/GlobalAveragePooling. With `keep`, a position counts only where
/// `keep[sample·positions + position]` is true (GlobalAveragePooling1D with a mask: the sum over kept
/// steps divided by their number, as Keras computes it — NaN when a sample keeps none).
package func globalPool(_ input: Tensor, positions: Int, channels: Int, channelsFirst: Bool, reduction: PoolReduction,
                keep: [Bool]? = nil) -> Tensor {
    let batch = input.shape[0]
    precondition(input.count == batch * positions * channels, "global pooling layout does not match the tensor")
    // channels_first reads each channel's positions as one run: reduce runs of a channels_last copy instead.
    let values = channelsFirst ? input.reshaped([batch, channels, positions]).permuted([0, 2, 1]).values : input.values
    if keep == nil, positions > 0, channels > 0 {
        // Every position counts: one window over them all, in the vectorised pooling kernel (the same sums in
        // the same order as below).
        let window = WindowGeometry(inputSize: [positions], outputSize: [1], kernel: [positions], strides: [1], dilation: [1], padding: "valid")
        return Tensor(shape: [batch, channels], values: NativeKernels.pool(values, channels: channels, window: window.threeDimensional,
                                                                          average: reduction == .average, rows: 0 ..< batch))
    }
    var output = Tensor(zeros: [batch, channels])
    let source = values.span
    var target = output.values.mutableSpan
    for sample in 0..<batch {
        let outputRow = sample * channels ..< (sample + 1) * channels
        var counted = 0
        for position in 0..<positions where keep?[sample * positions + position] ?? true {
            let start = (sample * positions + position) * channels
            let inputRow = source.extracting(start ..< start + channels)
            switch (reduction, counted) {
            case (_, 0): target.assign(outputRow, from: inputRow)
            case (.max, _): target.formMaximum(outputRow, inputRow)
            case (.average, _): target.add(outputRow, inputRow)
            }
            counted += 1
        }
        if reduction == .average {
            for index in outputRow { target[index] /= Float(counted) }
        }
    }
    return output
}

/// The engine's pooling operations.

extension PoolOp {
    package func run(_ input: Tensor) throws -> Tensor {
        let input = try channelsLastInput(input, rank: poolSize.count, channelsFirst: channelsFirst)
        let geometry = try WindowGeometry(inputSize: Array(input.shape[1...poolSize.count]), kernel: poolSize, strides: strides,
                                          dilation: Array(repeating: 1, count: poolSize.count), padding: padding)
        let output = pool(input, geometry: geometry, reduction: reduction)
        return channelsFirst ? toChannelsFirst(output) : output
    }
}

extension AdaptivePoolOp {
    /// Pools one spatial axis after the other, as Keras 3 does (a max of maxes, a mean of equal-width means).
    package func run(_ input: Tensor) throws -> Tensor {
        var output = try channelsLastInput(input, rank: outputSize.count, channelsFirst: channelsFirst)
        for (index, count) in outputSize.enumerated() {
            output = pooled(output, axis: index + 1, windows: Self.windows(length: output.shape[index + 1], count: count))
        }
        return channelsFirst ? toChannelsFirst(output) : output
    }

    /// `input` with `axis` replaced by one max or mean per window.
    private func pooled(_ input: Tensor, axis: Int, windows: [Range<Int>]) -> Tensor {
        let outer = input.shape[..<axis].reduce(1, *), inner = input.shape[(axis + 1)...].reduce(1, *), length = input.shape[axis]
        var shape = input.shape
        shape[axis] = windows.count
        var output = Tensor(zeros: shape)
        for block in 0..<outer {
            for (cell, window) in windows.enumerated() {
                let target = (block * windows.count + cell) * inner
                for position in 0..<inner {
                    let values = window.map { input.values[(block * length + $0) * inner + position] }
                    output.values[target + position] = reduction == .max ? values.max() ?? 0 : values.reduce(0, +) / Float(values.count)
                }
            }
        }
        return output
    }
}

extension GlobalPoolOp {
    /// Reduces every spatial axis; a mask (GlobalAveragePooling1D only) leaves padded steps out of the mean.
    package func run(_ input: Tensor, mask: Mask?) throws -> Tensor {
        guard input.rank == rank + 2 else {
            throw EngineError("expected a \(rank + 2)-D input (batch, \(rank) spatial axes and channels), found shape \(input.shape)")
        }
        let batch = input.shape[0]
        let channels = channelsFirst ? input.shape[1] : input.shape[rank + 1]
        let spatial = channelsFirst ? input.shape[2...] : input.shape[1...rank]
        let positions = spatial.reduce(1, *)
        var keep: [Bool]?
        if let mask {
            guard mask.shape == [batch, positions] else {
                throw EngineError("expected a mask of shape \([batch, positions]), found \(mask.shape)")
            }
            keep = mask.values
        }
        let pooled = globalPool(input, positions: positions, channels: channels, channelsFirst: channelsFirst,
                                reduction: reduction, keep: keep)
        guard keepDims else { return pooled }
        let ones = Array(repeating: 1, count: rank)
        return pooled.reshaped(channelsFirst ? [batch, channels] + ones : [batch] + ones + [channels])
    }
}
