import KConvIO
/// Shared shape arithmetic for layers over 1-3 spatial axes (convolutions, pooling, padding, cropping).

/// A spatial input split into batch, spatial axes and channels according to `data_format`.
struct SpatialShape {
    var batch: Int?
    var spatial: [Int?]
    var channels: Int?
    let channelsFirst: Bool

    init(_ shape: TensorShape, rank: Int, channelsFirst: Bool, of layer: Layer) throws {
        guard shape.count == rank + 2 else {
            throw ModelError(layer: layer.label, "expected a \(rank + 2)-D input (batch, \(rank) spatial axes, channels), found \(shape.kerasDescription)")
        }
        batch = shape[0]
        self.channelsFirst = channelsFirst
        channels = channelsFirst ? shape[1] : shape[rank + 1]
        spatial = channelsFirst ? Array(shape[2...]) : Array(shape[1...rank])
    }

    var shape: TensorShape {
        channelsFirst ? [batch, channels] + spatial : [batch] + spatial + [channels]
    }
}

extension ConfigReader {
    /// `data_format`: true for channels_first.
    func channelsFirst() throws -> Bool {
        try choice("data_format", ["channels_last", "channels_first"], default: "channels_last") == "channels_first"
    }
}

/// Keras's `conv_output_length`: the length of a convolution or pooling output along one axis.
func convOutputLength(_ length: Int?, kernel: Int, padding: String, stride: Int, dilation: Int = 1) -> Int? {
    guard let length else { return nil }
    let dilatedKernel = kernel + (kernel - 1) * (dilation - 1)
    let covered: Int
    switch padding {
    case "same", "causal": covered = length
    case "full": covered = length + dilatedKernel - 1
    default: covered = length - dilatedKernel + 1
    }
    return max(0, (covered + stride - 1) / stride)
}

/// Keras's `deconv_output_length` for transposed convolutions.
func deconvOutputLength(_ length: Int?, kernel: Int, padding: String, outputPadding: Int?, stride: Int, dilation: Int) -> Int? {
    guard let length else { return nil }
    let dilatedKernel = kernel + (kernel - 1) * (dilation - 1)
    guard let outputPadding else {
        switch padding {
        case "valid": return length * stride + max(dilatedKernel - stride, 0)
        case "full": return length * stride - (stride + dilatedKernel - 2)
        default: return length * stride
        }
    }
    let pad = padding == "same" ? dilatedKernel / 2 : padding == "full" ? dilatedKernel - 1 : 0
    return (length - 1) * stride + dilatedKernel - 2 * pad + outputPadding
}

/// Reads a padding/cropping amount per spatial axis: `n`, `(a, b)` per axis, or `((a, b), (c, d))`.
func paddingPairs(_ config: ConfigReader, _ key: String, rank: Int) throws -> [[Int]] {
    let value = config.object[key] ?? .int(1)
    if let single = value.intValue { return Array(repeating: [single, single], count: rank) }
    guard let items = value.arrayValue else {
        throw config.error(key, expected: "an int or \(rank) pairs", found: value)
    }
    if rank == 1, items.count == 2, let a = items[0].intValue, let b = items[1].intValue { return [[a, b]] }
    guard items.count == rank else { throw config.error(key, expected: "an int or \(rank) pairs", found: value) }
    return try items.map { item in
        if let single = item.intValue { return [single, single] }
        guard let pair = item.arrayValue, pair.count == 2, let a = pair[0].intValue, let b = pair[1].intValue else {
            throw config.error(key, expected: "an int or \(rank) pairs", found: value)
        }
        return [a, b]
    }
}

/// Where a sliding window (a convolution or pooling kernel) reads along each spatial axis, as TensorFlow
/// places it: output cell `o` of an axis reads input cells `o·stride − padBefore + t·dilation` for the taps
/// `t` in `0..<kernel`; cells outside `0..<inputSize` are padding.
///
/// A transposed convolution uses the geometry of the forward convolution it is the adjoint of: from its
/// (larger) output, `inputSize`, to its input, `outputSize`.
struct WindowGeometry: Equatable {
    var inputSize: [Int]
    var outputSize: [Int]
    var kernel: [Int]
    var strides: [Int]
    var dilation: [Int]
    var padBefore: [Int]

    /// The geometry between two known sizes. Padding before each axis, as TensorFlow computes it:
    /// `same` pads `max((out − 1)·stride + dilatedKernel − in, 0)` in total, the smaller half before;
    /// `causal` (Conv1D) and Keras 1's `full` pad `dilatedKernel − 1` before; `valid` pads nothing.
    init(inputSize: [Int], outputSize: [Int], kernel: [Int], strides: [Int], dilation: [Int], padding: String) {
        self.inputSize = inputSize
        self.outputSize = outputSize
        self.kernel = kernel
        self.strides = strides
        self.dilation = dilation
        padBefore = inputSize.indices.map { axis in
            let dilatedKernel = (kernel[axis] - 1) * dilation[axis] + 1
            switch padding {
            case "same": return max((outputSize[axis] - 1) * strides[axis] + dilatedKernel - inputSize[axis], 0) / 2
            case "causal", "full": return dilatedKernel - 1
            default: return 0
            }
        }
    }

    /// The geometry of a convolution or pooling over `inputSize`, its output sized by Keras's
    /// `conv_output_length`; throws when the window does not fit (a valid window larger than the input).
    init(inputSize: [Int], kernel: [Int], strides: [Int], dilation: [Int], padding: String) throws {
        let outputSize = inputSize.indices.map { axis in
            convOutputLength(inputSize[axis], kernel: kernel[axis], padding: padding, stride: strides[axis], dilation: dilation[axis]) ?? 0
        }
        guard outputSize.allSatisfy({ $0 > 0 }) else {
            throw EngineError("a \(padding) window of size \(kernel) (dilation \(dilation)) does not fit spatial input \(inputSize)")
        }
        self.init(inputSize: inputSize, outputSize: outputSize, kernel: kernel, strides: strides, dilation: dilation, padding: padding)
    }

    var taps: Int { kernel.reduce(1, *) }
    var inputPositions: Int { inputSize.reduce(1, *) }
    var outputPositions: Int { outputSize.reduce(1, *) }

    /// True when every output cell reads exactly the input cell at its own position (a 1×1 window with
    /// unit strides and no padding): the input already is the im2col matrix.
    var isPointwise: Bool { taps == 1 && inputSize == outputSize && padBefore.allSatisfy { $0 == 0 } }

    /// The same geometry over exactly three axes, with leading axes of size 1 added, so that the kernels
    /// handle 1-, 2- and 3-D windows with one loop nest.
    var threeDimensional: WindowGeometry {
        let missing = 3 - inputSize.count
        precondition(missing >= 0, "windows have at most 3 spatial axes")
        func lead(_ values: [Int], _ fill: Int) -> [Int] { Array(repeating: fill, count: missing) + values }
        var geometry = self
        geometry.inputSize = lead(inputSize, 1)
        geometry.outputSize = lead(outputSize, 1)
        geometry.kernel = lead(kernel, 1)
        geometry.strides = lead(strides, 1)
        geometry.dilation = lead(dilation, 1)
        geometry.padBefore = lead(padBefore, 0)
        return geometry
    }
}

/// A spatial layer's input as `(batch, spatial..., channels)`, after checking it has `rank` spatial axes;
/// a channels_first input is moved to channels_last, the layout every spatial kernel works in (as Keras's
/// TensorFlow backend does on CPU).
func channelsLastInput(_ input: Tensor, rank: Int, channelsFirst: Bool) throws -> Tensor {
    guard input.rank == rank + 2 else {
        let layout = channelsFirst ? "batch, channels, \(rank) spatial axes" : "batch, \(rank) spatial axes, channels"
        throw EngineError("expected a \(rank + 2)-D input (\(layout)), found shape \(input.shape)")
    }
    return channelsFirst ? toChannelsLast(input) : input
}

/// Moves a channels_first tensor `(batch, channels, spatial...)` to channels_last `(batch, spatial..., channels)`.
func toChannelsLast(_ tensor: Tensor) -> Tensor {
    tensor.permuted([0] + Array(2..<tensor.rank) + [1])
}

/// Moves a channels_last tensor back to channels_first.
func toChannelsFirst(_ tensor: Tensor) -> Tensor {
    tensor.permuted([0, tensor.rank - 1] + Array(1..<tensor.rank - 1))
}
