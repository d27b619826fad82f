import KConvGraph

/// Where a sliding window (a convolution or pooling kernel) reads along each spatial axis, as TensorFlow
/// places it: output cell `o` of an axis reads input cells `o·stride − padBefore + t·dilation` for the taps
/// `t` in `0..<kernel`; cells outside `0..<inputSize` are padding.
///
/// A transposed convolution uses the geometry of the forward convolution it is the adjoint of: from its
/// (larger) output, `inputSize`, to its input, `outputSize`.
package struct WindowGeometry: Hashable {
    /// The six per-axis arrays.
    private struct Fields: Hashable {
        var inputSize: [Int], outputSize: [Int], kernel: [Int], strides: [Int], dilation: [Int], padBefore: [Int]
    }

    /// The fields behind one reference, never changed, with their three-axis form made once: a plan hands a
    /// layer's geometry from call to call, where copying it cost six reference counts and every native kernel
    /// lifted it to three axes (six arrays) again.
    private final class Axes: Sendable {
        let fields: Fields
        /// The fields with leading axes of size 1 added up to three; nil when there are three (or more).
        let lifted: Axes?

        init(_ fields: Fields) {
            self.fields = fields
            let missing = 3 - fields.inputSize.count
            guard missing > 0 else { lifted = nil; return }
            func lead(_ values: [Int], _ fill: Int) -> [Int] { Array(repeating: fill, count: missing) + values }
            lifted = Axes(Fields(inputSize: lead(fields.inputSize, 1), outputSize: lead(fields.outputSize, 1),
                                 kernel: lead(fields.kernel, 1), strides: lead(fields.strides, 1),
                                 dilation: lead(fields.dilation, 1), padBefore: lead(fields.padBefore, 0)))
        }
    }

    private var axes: Axes

    private init(_ axes: Axes) { self.axes = axes }

    /// Sets one field (in new axes: others may share these).
    private mutating func set(_ field: WritableKeyPath<Fields, [Int]>, _ value: [Int]) {
        var fields = axes.fields
        fields[keyPath: field] = value
        axes = Axes(fields)
    }

    package var inputSize: [Int] { get { axes.fields.inputSize } set { set(\.inputSize, newValue) } }
    package var outputSize: [Int] { get { axes.fields.outputSize } set { set(\.outputSize, newValue) } }
    package var kernel: [Int] { get { axes.fields.kernel } set { set(\.kernel, newValue) } }
    package var strides: [Int] { get { axes.fields.strides } set { set(\.strides, newValue) } }
    package var dilation: [Int] { get { axes.fields.dilation } set { set(\.dilation, newValue) } }
    package var padBefore: [Int] { get { axes.fields.padBefore } set { set(\.padBefore, newValue) } }

    package static func == (a: WindowGeometry, b: WindowGeometry) -> Bool { a.axes === b.axes || a.axes.fields == b.axes.fields }

    package func hash(into hasher: inout Hasher) { hasher.combine(axes.fields) }

    /// The geometry between two known sizes. Padding before each axis, as TensorFlow computes it:
    /// `same` pads `max((out − 1)·stride + dilatedKernel − in, 0)` in total, the smaller half before;
    /// `causal` (Conv1D) and Keras 1's `full` pad `dilatedKernel − 1` before; `valid` pads nothing.
    package init(inputSize: [Int], outputSize: [Int], kernel: [Int], strides: [Int], dilation: [Int], padding: String) {
        let padBefore = inputSize.indices.map { axis in
            let dilatedKernel = (kernel[axis] - 1) * dilation[axis] + 1
            switch padding {
            case "same": return max((outputSize[axis] - 1) * strides[axis] + dilatedKernel - inputSize[axis], 0) / 2
            case "causal", "full": return dilatedKernel - 1
            default: return 0
            }
        }
        axes = Axes(Fields(inputSize: inputSize, outputSize: outputSize, kernel: kernel, strides: strides, dilation: dilation,
                           padBefore: padBefore))
    }

    /// The geometry of a convolution or pooling over `inputSize`, its output sized by Keras's
    /// `conv_output_length`; throws when the window does not fit (a valid window larger than the input).
    package init(inputSize: [Int], kernel: [Int], strides: [Int], dilation: [Int], padding: String) throws {
        let outputSize = inputSize.indices.map { axis in
            convOutputLength(inputSize[axis], kernel: kernel[axis], padding: padding, stride: strides[axis], dilation: dilation[axis]) ?? 0
        }
        guard outputSize.allSatisfy({ $0 > 0 }) else {
            throw EngineError("a \(padding) window of size \(kernel) (dilation \(dilation)) does not fit spatial input \(inputSize)")
        }
        self.init(inputSize: inputSize, outputSize: outputSize, kernel: kernel, strides: strides, dilation: dilation, padding: padding)
    }

    /// The geometry of a convolution over `inputSize` with `zeros` added around it first (a
    /// ZeroPadding the plan folded into it): the window placed over the padded size, the added cells read as
    /// padding, so that no padded copy is made.
    package init(inputSize: [Int], adding zeros: SpatialPadding, kernel: [Int], strides: [Int], dilation: [Int],
                 padding mode: String) throws {
        let padded = inputSize.indices.map { inputSize[$0] + zeros.before[$0] + zeros.after[$0] }
        try self.init(inputSize: padded, kernel: kernel, strides: strides, dilation: dilation, padding: mode)
        self.inputSize = inputSize
        padBefore = zip(padBefore, zeros.before).map(+)
    }

    package var taps: Int { kernel.reduce(1, *) }
    package var inputPositions: Int { inputSize.reduce(1, *) }
    package var outputPositions: Int { outputSize.reduce(1, *) }

    /// True when every output cell reads exactly the input cell at its own position (a 1×1 window with
    /// unit strides and no padding): the input already is the im2col matrix.
    package var isPointwise: Bool { taps == 1 && inputSize == outputSize && padBefore.allSatisfy { $0 == 0 } }

    /// The part of this geometry that computes output rows `rows` of the first spatial axis: the input rows it
    /// reads and the geometry over them alone (its padding before and after that axis what the part's windows
    /// reach past them). Nil when the part's windows read padding only.
    package func slicing(outputRows rows: Range<Int>) -> (geometry: WindowGeometry, inputRows: Range<Int>)? {
        let first = rows.lowerBound * strides[0] - padBefore[0]
        let end = (rows.upperBound - 1) * strides[0] - padBefore[0] + (kernel[0] - 1) * dilation[0] + 1
        let lower = max(0, first), upper = min(inputSize[0], end)
        guard !rows.isEmpty, upper > lower else { return nil }
        let inputRows = lower ..< upper
        var part = self
        part.inputSize[0] = inputRows.count
        part.outputSize[0] = rows.count
        part.padBefore[0] = inputRows.lowerBound - first
        return (part, inputRows)
    }

    /// The same geometry over exactly three axes, with leading axes of size 1 added, so that the kernels
    /// handle 1-, 2- and 3-D windows with one loop nest (made once, with the geometry).
    package var threeDimensional: WindowGeometry {
        precondition(inputSize.count <= 3, "windows have at most 3 spatial axes")
        return axes.lifted.map(WindowGeometry.init) ?? self
    }
}

/// Zeros added before and after each spatial axis of a convolution's input (ZeroPadding1D/2D/3D).
package struct SpatialPadding: Equatable {
    package var before: [Int]
    package var after: [Int]

    /// The spatial part of `Op.pad`'s amounts over the input of `op`, a regular, depthwise or separable
    /// convolution; nil unless they only add zeros, only along the spatial axes.
    init?(before: [Int], after: [Int], of op: ConvolutionOp) {
        if case .transposed = op.kind { return nil }
        let spatial = op.channelsFirst ? 2 ..< op.rank + 2 : 1 ..< op.rank + 1
        guard before.count == op.rank + 2, after.count == op.rank + 2, (before + after).allSatisfy({ $0 >= 0 }),
              before.indices.allSatisfy({ spatial.contains($0) || before[$0] == 0 && after[$0] == 0 }) else { return nil }
        self.before = Array(before[spatial])
        self.after = Array(after[spatial])
    }
}

/// A spatial layer's input as `(batch, spatial..., channels)`, after checking it has `rank` spatial axes;
/// a channels_first input is moved to channels_last, the layout every spatial kernel works in (as Keras's
/// TensorFlow backend does on CPU).
package func channelsLastInput(_ input: Tensor, rank: Int, channelsFirst: Bool) throws -> Tensor {
    guard input.rank == rank + 2 else {
        let layout = channelsFirst ? "batch, channels, \(rank) spatial axes" : "batch, \(rank) spatial axes, channels"
        throw EngineError("expected a \(rank + 2)-D input (\(layout)), found shape \(input.shape)")
    }
    return channelsFirst ? toChannelsLast(input) : input
}

/// Moves a channels_first tensor `(batch, channels, spatial...)` to channels_last `(batch, spatial..., channels)`.
package func toChannelsLast(_ tensor: Tensor) -> Tensor {
    tensor.permuted([0] + Array(2..<tensor.rank) + [1])
}

/// Moves a channels_last tensor back to channels_first.
package func toChannelsFirst(_ tensor: Tensor) -> Tensor {
    tensor.permuted([0, tensor.rank - 1] + Array(1..<tensor.rank - 1))
}
