import KConvGraph
/// Image resizing as TensorFlow computes it (`tf.image.resize`, which tf-keras and Keras 3's TensorFlow
/// backend both call), and the crops and pads Keras's image layers apply first.

extension ResizeOp {
    /// Runs on a `(batch, height, width, channels)` batch (channels_first moved there and back).
    package func run(_ input: Tensor) throws -> Tensor {
        let image = try channelsLastInput(input, rank: 2, channelsFirst: channelsFirst)
        let (height, width) = (image.shape[1], image.shape[2])
        let (targetHeight, targetWidth) = targetSize(height: height, width: width)
        guard targetHeight > 0, targetWidth > 0, height > 0, width > 0 else {
            throw EngineError("cannot resize an image of shape \(input.shape) to \(targetHeight)×\(targetWidth)")
        }
        var fitted = image
        if let window = window(height: height, width: width) {
            fitted = image.window(top: window.top, left: window.left, height: window.height, width: window.width, fill: fill)
            if window.isOutput { return channelsFirst ? toChannelsFirst(fitted) : fitted }
        }
        let output: Tensor
        switch interpolation {
        case .bilinear: output = fitted.resizedBilinear(height: targetHeight, width: targetWidth)
        case .nearest: output = fitted.resizedNearest(height: targetHeight, width: targetWidth)
        case .bicubic: output = fitted.resizedBicubic(height: targetHeight, width: targetWidth)
        }
        return channelsFirst ? toChannelsFirst(output) : output
    }
}

extension Tensor {
    /// The `height × width` window of each image whose top left corner is at (`top`, `left`); cells outside
    /// the image hold `fill`.
    package func window(top: Int, left: Int, height: Int, width: Int, fill: Float) -> Tensor {
        let (batch, inputHeight, inputWidth, channels) = (shape[0], shape[1], shape[2], shape[3])
        var output = Tensor(shape: [batch, height, width, channels], values: [Float](repeating: fill, count: batch * height * width * channels))
        let columns = max(0, min(width, inputWidth - left) - max(0, -left))
        guard columns > 0 else { return output }
        for sample in 0..<batch {
            for row in 0..<height where (0..<inputHeight).contains(top + row) {
                let source = ((sample * inputHeight + top + row) * inputWidth + max(0, left)) * channels
                let target = ((sample * height + row) * width + max(0, -left)) * channels
                output.values.replaceSubrange(target ..< target + columns * channels, with: values[source ..< source + columns * channels])
            }
        }
        return output
    }

    /// A channels_last image batch `(batch, height, width, channels)` resized bilinearly, as TensorFlow's
    /// ResizeBilinear with `half_pixel_centers=True`: output cell `i` samples input coordinate
    /// `(i + ½)·in/out − ½`, clamped to the edges.
    package func resizedBilinear(height: Int, width: Int) -> Tensor {
        let (batch, inputHeight, inputWidth, channels) = (shape[0], shape[1], shape[2], shape[3])
        let rows = Self.bilinearTaps(input: inputHeight, output: height)
        let columns = Self.bilinearTaps(input: inputWidth, output: width)
        var output = Tensor(zeros: [batch, height, width, channels])
        let values = self.values.span
        var result = output.values.mutableSpan
        var target = 0
        for sample in 0..<batch {
            let image = sample * inputHeight * inputWidth
            for row in rows {
                let top = (image + row.lower * inputWidth) * channels
                let bottom = (image + row.upper * inputWidth) * channels
                for column in columns {
                    let left = column.lower * channels, right = column.upper * channels
                    for channel in 0..<channels {
                        let topLeft = values[top + left + channel], topRight = values[top + right + channel]
                        let bottomLeft = values[bottom + left + channel], bottomRight = values[bottom + right + channel]
                        let upper = topLeft + (topRight - topLeft) * column.fraction
                        let lower = bottomLeft + (bottomRight - bottomLeft) * column.fraction
                        result[target] = upper + (lower - upper) * row.fraction
                        target += 1
                    }
                }
            }
        }
        return output
    }

    /// For each output cell of one axis: the two input cells it blends and the weight of the upper one,
    /// computed in Float as TensorFlow's `HalfPixelScaler` and `compute_interpolation_weights` do.
    private static func bilinearTaps(input: Int, output: Int) -> [(lower: Int, upper: Int, fraction: Float)] {
        let scale = Float(input) / Float(output)
        return (0..<output).map { cell in
            let position = (Float(cell) + 0.5) * scale - 0.5
            let floor = position.rounded(.down)
            return (max(Int(floor), 0), min(Int(position.rounded(.up)), input - 1), position - floor)
        }
    }

    /// Nearest-neighbour resizing as ResizeNearestNeighbor with `half_pixel_centers=True`: output cell `i`
    /// takes input cell `floor((i + ½)·in/out)` (Float), clamped to the image.
    package func resizedNearest(height: Int, width: Int) -> Tensor {
        let (batch, inputHeight, inputWidth, channels) = (shape[0], shape[1], shape[2], shape[3])
        func taps(_ input: Int, _ output: Int) -> [Int] {
            let scale = Float(input) / Float(output)
            return (0..<output).map { cell in min(max(Int(((Float(cell) + 0.5) * scale).rounded(.down)), 0), input - 1) }
        }
        let rows = taps(inputHeight, height), columns = taps(inputWidth, width)
        var output = Tensor(zeros: [batch, height, width, channels])
        var target = 0
        for sample in 0..<batch {
            for row in rows {
                for column in columns {
                    let source = ((sample * inputHeight + row) * inputWidth + column) * channels
                    output.values.replaceSubrange(target ..< target + channels, with: values[source ..< source + channels])
                    target += channels
                }
            }
        }
        return output
    }

    /// Bicubic resizing as ResizeBicubic with `half_pixel_centers=True`: Keys's cubic kernel (a = −0.5)
    /// read from TensorFlow's 1024-step coefficient table, taps outside the image weighted 0 and the four
    /// weights renormalised; each output is interpolated along the rows first, then down the column.
    package func resizedBicubic(height: Int, width: Int) -> Tensor {
        let (batch, inputHeight, inputWidth, channels) = (shape[0], shape[1], shape[2], shape[3])
        let rows = ResizeOp.bicubicTaps(input: inputHeight, output: height)
        let columns = ResizeOp.bicubicTaps(input: inputWidth, output: width)
        var output = Tensor(zeros: [batch, height, width, channels])
        var target = 0
        for sample in 0..<batch {
            let image = sample * inputHeight
            for row in rows {
                for column in columns {
                    for channel in 0..<channels {
                        var across = [Float](repeating: 0, count: 4)
                        for k in 0..<4 {
                            let line = (image + row.indices[k]) * inputWidth
                            func value(_ tap: Int) -> Float { values[(line + column.indices[tap]) * channels + channel] }
                            across[k] = value(0) * column.weights[0] + value(1) * column.weights[1]
                                + value(2) * column.weights[2] + value(3) * column.weights[3]
                        }
                        output.values[target] = across[0] * row.weights[0] + across[1] * row.weights[1]
                            + across[2] * row.weights[2] + across[3] * row.weights[3]
                        target += 1
                    }
                }
            }
        }
        return output
    }
}

extension AutoContrastOp {
    /// In Float, in Keras's order of operations (see `AutoContrastOp`).
    package func run(_ input: Tensor) throws -> Tensor {
        guard input.rank == 4 else { throw EngineError("AutoContrast takes a 4-D image batch, found shape \(input.shape)") }
        let (batch, rows, columns, channels) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let (low, high, mapsRange) = (low, high, mapsRange)
        let mapped = mapsRange ? input.values.map { (($0 - low) / (high - low)) * 255 } : input.values
        var output = input
        for sample in 0..<batch {
            for channel in 0..<channels {
                let positions = (0 ..< rows * columns).map { (sample * rows * columns + $0) * channels + channel }
                let values = positions.map { mapped[$0] }
                let minimum = values.min() ?? 0, maximum = values.max() ?? 0
                let scale = 255 / (maximum - minimum), offset = -minimum * scale
                for position in positions {
                    let stretched = mapped[position] * scale + offset
                    guard !stretched.isNaN else { continue }
                    let clipped = min(max(stretched, 0), 255)
                    output.values[position] = mapsRange ? (clipped / 255) * (high - low) + low : clipped
                }
            }
        }
        return output
    }
}
