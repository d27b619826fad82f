/// Where Keras's image layers sample their inputs, as TensorFlow defines it: the window each image is cut
/// or padded to before resizing, and the bicubic taps. The engine computes with them and the ONNX writer
/// writes them, so both follow one definition.
extension ResizeOp {
    /// The output's height and width for an input image of `height × width`.
    package func targetSize(height: Int, width: Int) -> (height: Int, width: Int) {
        switch target {
        case .size(let h, let w): (h, w)
        case .factors(let h, let w): (height * h, width * w)
        }
    }

    /// The window of each `height × width` image that is resized: its top left corner (negative where the
    /// image is padded with `fill`) and size; nil for the whole image. `isOutput`: the window is the output
    /// itself, not resized (CenterCrop of an image at least as large as the target).
    package func window(height: Int, width: Int) -> (top: Int, left: Int, height: Int, width: Int, isOutput: Bool)? {
        let (targetHeight, targetWidth) = targetSize(height: height, width: width)
        // `int(float32(width · th) / tw)`: the height of the target's aspect ratio at the image's width.
        let heightAtWidth = Int(Float(width * targetHeight) / Float(targetWidth))
        let widthAtHeight = Int(Float(height * targetWidth) / Float(targetHeight))
        switch fit {
        case .stretch:
            return nil
        case .centerCrop where height >= targetHeight && width >= targetWidth:
            // `h_diff // 2` (Keras 3) and `int(h_diff / 2)` (tf-keras) agree for a non-negative difference.
            return ((height - targetHeight) / 2, (width - targetWidth) / 2, targetHeight, targetWidth, true)
        case .cropToAspectRatio, .centerCrop:
            // `smart_resize` and `crop_to_aspect_ratio`: the largest centred window of the target's ratio.
            let cropHeight = max(min(height, heightAtWidth), 1), cropWidth = max(min(width, widthAtHeight), 1)
            return (Int(Float(height - cropHeight) / 2), Int(Float(width - cropWidth) / 2), cropHeight, cropWidth, false)
        case .padToAspectRatio:
            // Keras 3's `pad_to_aspect_ratio`: `int(float32(padded − size) / 2)` rows (or columns) on both
            // sides, so an odd difference leaves the image one short of the exact ratio, as Keras does.
            let top = Int(Float(max(height, heightAtWidth) - height) / 2), left = Int(Float(max(width, widthAtHeight) - width) / 2)
            return (-top, -left, height + 2 * top, width + 2 * left, false)
        }
    }

    /// The value padded cells hold.
    package var fill: Float {
        if case .padToAspectRatio(let fill) = fit { return fill }
        return 0
    }

    /// TensorFlow's bicubic sampling (ResizeBicubic with `half_pixel_centers=True`, `GetWeightsAndIndices`
    /// with Keys's cubic): for each output cell of one axis, the four input cells around
    /// `(i + ½)·in/out − ½` and their weights, read from TensorFlow's 1024-step coefficient table; taps
    /// outside the image weigh 0 and the four weights are renormalised.
    package static func bicubicTaps(input: Int, output: Int) -> [(indices: [Int], weights: [Float])] {
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
