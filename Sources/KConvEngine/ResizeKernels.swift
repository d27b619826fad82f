import KConvGraph
/// Image resizing as TensorFlow computes it (`tf.image.resize`, which tf-keras and Keras 3's TensorFlow
/// backend both call), and the crops and pads Keras's image layers apply first.

extension ResizeOp {
    /// Runs on a `(batch, height, width, channels)` batch (channels_first moved there and back).
    package func run(_ input: Tensor) throws -> Tensor {
        let image = try channelsLastInput(input, rank: 2, channelsFirst: channelsFirst)
        let (height, width) = (image.shape[1], image.shape[2])
        let (targetHeight, targetWidth): (Int, Int)
        switch target {
        case .size(let h, let w): (targetHeight, targetWidth) = (h, w)
        case .factors(let h, let w): (targetHeight, targetWidth) = (height * h, width * w)
        }
        guard targetHeight > 0, targetWidth > 0, height > 0, width > 0 else {
            throw EngineError("cannot resize an image of shape \(input.shape) to \(targetHeight)×\(targetWidth)")
        }
        let fitted: Tensor
        switch fit {
        case .stretch:
            fitted = image
        case .cropToAspectRatio:
            fitted = image.croppedToAspectRatio(targetHeight, targetWidth)
        case .padToAspectRatio(let fill):
            fitted = image.paddedToAspectRatio(targetHeight, targetWidth, fill: fill)
        case .centerCrop:
            if height >= targetHeight, width >= targetWidth {
                // `h_diff // 2` (Keras 3) and `int(h_diff / 2)` (tf-keras) agree for a non-negative difference.
                let output = image.window(top: (height - targetHeight) / 2, left: (width - targetWidth) / 2,
                                          height: targetHeight, width: targetWidth, fill: 0)
                return channelsFirst ? toChannelsFirst(output) : output
            }
            fitted = image.croppedToAspectRatio(targetHeight, targetWidth)
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
    /// The largest centred window with the aspect ratio of `targetHeight × targetWidth`, as `smart_resize`
    /// and `crop_to_aspect_ratio` compute it: sizes `int(float32(width · th) / tw)` (at least 1, at most the
    /// image's), start `int(float32(height − crop) / 2)`.
    fileprivate func croppedToAspectRatio(_ targetHeight: Int, _ targetWidth: Int) -> Tensor {
        let (height, width) = (shape[1], shape[2])
        let cropHeight = max(min(height, Int(Float(width * targetHeight) / Float(targetWidth))), 1)
        let cropWidth = max(min(width, Int(Float(height * targetWidth) / Float(targetHeight))), 1)
        return window(top: Int(Float(height - cropHeight) / 2), left: Int(Float(width - cropWidth) / 2),
                      height: cropHeight, width: cropWidth, fill: 0)
    }

    /// Keras 3's `pad_to_aspect_ratio`: `int(float32(padded − size) / 2)` rows (or columns) of `fill` added
    /// on both sides, so an odd difference leaves the image one short of the exact ratio, as Keras does.
    fileprivate func paddedToAspectRatio(_ targetHeight: Int, _ targetWidth: Int, fill: Float) -> Tensor {
        let (height, width) = (shape[1], shape[2])
        let padHeight = max(height, Int(Float(width * targetHeight) / Float(targetWidth)))
        let padWidth = max(width, Int(Float(height * targetWidth) / Float(targetHeight)))
        let top = Int(Float(padHeight - height) / 2), left = Int(Float(padWidth - width) / 2)
        return window(top: -top, left: -left, height: height + 2 * top, width: width + 2 * left, fill: fill)
    }

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
        let rows = Self.bicubicTaps(input: inputHeight, output: height)
        let columns = Self.bicubicTaps(input: inputWidth, output: width)
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

    /// TensorFlow's `GetWeightsAndIndices` with Keys's cubic: the four input cells around
    /// `(i + ½)·in/out − ½` and their weights.
    private static func bicubicTaps(input: Int, output: Int) -> [(indices: [Int], weights: [Float])] {
        let scale = Float(input) / Float(output)
        let table = keysCubicTable
        return (0..<output).map { cell in
            let position = (Float(cell) + 0.5) * scale - 0.5
            let start = Int(position.rounded(.down))
            let offset = Int(((position - Float(start)) * Float(keysTableSize)).rounded(.toNearestOrEven))
            let coefficients = [table[offset * 2 + 1], table[offset * 2], table[(keysTableSize - offset) * 2], table[(keysTableSize - offset) * 2 + 1]]
            var indices: [Int] = [], weights: [Float] = []
            for tap in 0..<4 {
                let index = start - 1 + tap
                let bounded = min(input - 1, max(0, index))
                indices.append(bounded)
                weights.append(bounded == index ? coefficients[tap] : 0)
            }
            let total = weights[0] + weights[1] + weights[2] + weights[3]
            if abs(total) >= 1000 * Float.leastNormalMagnitude {
                let inverse = 1 / total
                weights = weights.map { $0 * inverse }
            }
            return (indices, weights)
        }
    }

    private static let keysTableSize = 1024

    /// TensorFlow's `InitCoeffsTable(-0.5)`: for `x = i/1024`, the cubic's weight at distance `x` (entry
    /// `2i`) and at `x + 1` (entry `2i + 1`), computed in Double and stored as Float.
    private static let keysCubicTable: [Float] = {
        let a = -0.5
        return (0...keysTableSize).flatMap { i -> [Float] in
            let x = Double(Float(Double(i) / Double(keysTableSize)))
            let near = ((a + 2) * x - (a + 3)) * x * x + 1
            let far = x + 1
            return [Float(near), Float(((a * far - 5 * a) * far + 8 * a) * far - 4 * a)]
        }
    }()
}
