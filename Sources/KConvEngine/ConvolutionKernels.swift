import KConvGraph
/// Convolutions over 1, 2 or 3 spatial axes, directly or as im2col + GEMM, and their transposes as GEMM + col2im.
/// Tensors are channels_last, `(batch, spatial..., channels)`; windows follow `WindowGeometry`. Every
/// geometry is handled as 3-D (missing leading axes of size 1), so one loop nest serves all ranks.
/// Inner loops run over `Span`s (SpanKernels.swift).

/// The most floats an im2col / col2im buffer holds (256 KB): larger problems run in blocks of rows small
/// enough that the block is still in cache when the GEMM packs it (measured ~25% faster than 16 MB blocks).
private let columnBufferBudget = 1 << 16

/// Keras's Conv1D/2D/3D with `groups`, a cross-correlation (no kernel flip):
///
///     y[n, o, g·F/G + f] = bias[g·F/G + f] + Σ_t Σ_c x[n, o·stride − pad + t·dilation, g·C/G + c] · w[t, c, g·F/G + f]
///
/// over taps `t` and the `C/G` channels `c` of group `g`; padded cells read zero. The method is chosen, and
/// the weights laid out for it, once per layer (when it is prepared):
/// - Winograd F(2×2, 3×3) for one group, a 2-D 3×3 window of stride and dilation 1 and at least
///   `winogradMinimumChannels` input channels (NativeKernels);
/// - for one group and few input channels and filters, a direct convolution in registers whose taps unroll
///   (`Method.directFewChannels`);
/// - otherwise, for one group, a direct convolution in registers: pointwise windows too (a plain matrix
///   product on the channels_last input, no im2col), and filter counts that leave the last block of 16
///   partly empty. On this machine's OpenBLAS (which takes its SSE3 kernels on CPUs it does not know by
///   model, README "Speed") im2col + GEMM was 2.5–3.5× slower on both;
/// - otherwise (groups) im2col + GEMM per group and block of output rows (a pointwise window reads the
///   input as its own im2col matrix).
///
/// Any of them gives way to oneDNN's convolution (DNNLConvolution.swift) where `usesOneDNN` says so.
/// A class: a plan's every call hands it on by one reference, not by its five arrays.
package final class ConvolutionKernel: Sendable {
    package enum Method {
        case winograd, direct, gemm
        /// The direct method on at most 4 input channels and 16 filters, a 1-D or 2-D window 3 wide of stride
        /// and dilation 1 along the last axis (a small first layer on an image), which the C kernel computes with
        /// each value's address a constant offset: kept off oneDNN (`usesOneDNN`). Measured per layer (AMD EPYC,
        /// 2 threads, oneDNN → this): cnn_bn_small's 1 → 16 channels on 16×16 at batch 32 57 → 30 µs, conv2d's
        /// 3 → 4 on 12×12 at batch 32 28 → 23 µs, at batch 1 3.0 → 2.7 µs. With more filters (cnn_large's 3 → 32)
        /// oneDNN, which keeps several blocks of 16 in registers, was as fast or faster.
        case directFewChannels
    }

    /// Input channels from which Winograd pays: with fewer, transforming every input and output tile costs
    /// more than the multiplies it saves.
    package static let winogradMinimumChannels = 8

    package let method: Method
    package let channels: Int
    package let filters: Int
    package let groups: Int
    /// The kernel in the method's layout: Winograd-transformed, padded to whole blocks of 16 filters, or as
    /// Keras stores it (`kernel_size + (C/G, F)`, a row-major `[taps·C/G, F]` matrix) for GEMM.
    private let weights: [Float]
    /// Padded like `weights`.
    private let bias: [Float]?
    /// The same convolution through oneDNN.
    private let oneDNN: DNNLConvolutions

    /// `kernel` laid out `kernelSize + (channels/groups, filters)` as Keras stores it.
    package init(kernel: [Float], kernelSize: [Int], strides: [Int], dilation: [Int], channels: Int, filters: Int, groups: Int,
         bias: [Float]?) {
        precondition(groups > 0 && channels % groups == 0 && filters % groups == 0, "groups must divide channels and filters")
        precondition(kernel.count == kernelSize.reduce(1, *) * (channels / groups) * filters, "kernel does not match its size")
        self.channels = channels
        self.filters = filters
        self.groups = groups
        if groups == 1, kernelSize == [3, 3], strides == [1, 1], dilation == [1, 1], channels >= Self.winogradMinimumChannels {
            method = .winograd
        } else if groups == 1, kernelSize.count <= 2, kernelSize[0] <= 16, kernelSize.last == 3, strides.last == 1, dilation.last == 1,
                  channels <= 4, filters <= NativeKernels.vectorLanes {
            method = .directFewChannels
        } else if groups == 1 {
            method = .direct
        } else {
            method = .gemm
        }
        let padded = NativeKernels.paddedFilters(filters)
        switch method {
        case .winograd: weights = NativeKernels.winogradKernel(kernel, channels: channels, filters: filters)
        case .direct, .directFewChannels: weights = paddingRows(kernel, from: filters, to: padded)
        case .gemm: weights = kernel
        }
        self.bias = method == .gemm ? bias : bias.map { paddingRows($0, from: filters, to: padded) }
        oneDNN = DNNLConvolutions(kernel: kernel, bias: bias, channels: channels, filters: filters, groups: groups)
    }

    /// Whether a convolution with `method` over `batch` samples of `geometry` runs on oneDNN (DNNLConvolutions):
    /// all but Winograd ones with at least `winogradMinimumTiles` output tiles and `directFewChannels` ones.
    /// Measured on this machine (AMD EPYC, AVX-512, 2 cores, oneDNN 2.6.3; shared, load average 9–13, so
    /// medians of `kconv bench`, ms per batch, with kconv's kernels → oneDNN for all but Winograd → oneDNN
    /// for all):
    ///
    ///                        batch 1                 batch 32
    ///     MobileNetV2 α0.35  0.68 → 0.55 → 0.55      37 → 13 → 13
    ///     cnn_large (3×3)    1.6 → 1.6 → 4.0         120 → 120 → 126–141
    ///     ResNet50 64×64     106 → 29–98 → 29        1336 → 668
    ///
    /// Per layer, oneDNN (one thread per part of the batch) beat kconv's direct kernel (both cores) on 1×1
    /// convolutions by 1.2–10×, most on deep layers (512–2048 channels), and on all but the smallest depthwise
    /// ones; kconv's Winograd F(2×2, 3×3) beat it on most 3×3 layers of cnn_large and ResNet50. oneDNN's fixed
    /// cost per call (~3 µs) loses to kconv on the tiniest layers (1×1 spatial), a few µs in all.
    ///
    /// Winograd's transformed kernel is 16/9 the size of the kernel: on few tiles, streaming it costs more than
    /// the multiplies it saves (ResNet50's deep 3×3 layers: 512 channels on one 2×2 tile at batch 1). Measured
    /// here (AMD EPYC, 2 cores; ms per batch, Winograd on every 3×3 layer → below 8, 32, 64, 128 tiles on
    /// oneDNN → none on Winograd): ResNet50 batch 1 13.2 → 8.1, 8.0, 7.7, 7.7, 7.9; batch 32 99 → 95 (64)
    /// → 102 (none); cnn_large batch 1 (256 tiles and more) 0.93 on Winograd, 1.19 on oneDNN.
    package static func usesOneDNN(_ method: Method, batch: Int, geometry: WindowGeometry) -> Bool {
        let tiles = geometry.outputSize.reduce(batch) { tiles, size in tiles * ((size + 1) / 2) }
        switch method {
        case .winograd: return tiles < winogradMinimumTiles
        case .direct, .gemm: return true
        case .directFewChannels: return false
        }
    }

    /// The convolution on oneDNN, `postOp` then `scaling` applied to each result as it is stored; nil where
    /// `usesOneDNN` keeps it on kconv's kernels or oneDNN refuses it.
    package func onOneDNN(_ input: Tensor, geometry: WindowGeometry, postOp: DNNLPostOp?, scaling: BatchNormFold? = nil) -> Tensor? {
        guard Self.usesOneDNN(method, batch: input.shape[0], geometry: geometry) else { return nil }
        return oneDNN(input, geometry: geometry, postOp: postOp, scaling: scaling)
    }

    /// The convolution on oneDNN added into `accumulator` in place, then `postOp` applied to each result (a fused
    /// Add and its activation); false, `accumulator` unchanged, where it does not run on oneDNN.
    package func accumulateOnOneDNN(_ input: Tensor, geometry: WindowGeometry, postOp: DNNLPostOp?, into accumulator: inout Tensor) throws -> Bool {
        guard Self.usesOneDNN(method, batch: input.shape[0], geometry: geometry) else { return false }
        return try oneDNN.accumulate(input, geometry: geometry, postOp: postOp, into: &accumulator)
    }

    /// Output tiles (2×2 cells each) below which a Winograd convolution runs on oneDNN instead.
    package static let winogradMinimumTiles = 64

    /// The convolution of a channels_last `input` over `geometry` (whose window is the kernel's), each result
    /// clamped to `clamp` (a fused ReLU or ReLU6), then scaled and shifted per filter by `scaling` (a fused
    /// BatchNormalization); in the Winograd and direct kernels as they store it.
    package func callAsFunction(_ input: Tensor, geometry: WindowGeometry, clamp: ClosedRange<Float>? = nil,
                                scaling: BatchNormFold? = nil) -> Tensor {
        let batch = input.shape[0]
        precondition(input.shape[input.rank - 1] == channels, "input does not have the kernel's channels")
        if let output = onOneDNN(input, geometry: geometry, postOp: clamp.map(DNNLPostOp.clamp), scaling: scaling) {
            return output
        }
        let shape = [batch] + geometry.outputSize + [filters]
        switch method {
        case .winograd:
            return Tensor(shape: shape, values: NativeKernels.convolveWinograd(
                input.values, window: geometry.threeDimensional, channels: channels, transformedKernel: weights,
                filters: filters, bias: bias, clamp: clamp, scaling: scaling))
        case .direct, .directFewChannels:
            return Tensor(shape: shape, values: NativeKernels.convolveDirect(
                input.values, window: geometry.threeDimensional, channels: channels, kernel: weights, filters: filters,
                bias: bias, clamp: clamp, scaling: scaling, rows: 0 ..< batch * geometry.outputPositions))
        case .gemm:
            var output = convolveByGEMM(input, geometry: geometry, kernel: weights, filters: filters, groups: groups, bias: bias)
            var values = output.values.mutableSpan
            if let clamp {
                for index in 0 ..< values.count { values[index] = min(max(values[index], clamp.lowerBound), clamp.upperBound) }
            }
            if let scaling {
                for index in 0 ..< values.count { values[index] = values[index] * scaling.scale[index % filters] + scaling.shift[index % filters] }
            }
            return output
        }
    }
}

/// `ConvolutionKernel` as im2col + GEMM, in parts of rows when large.
private func convolveByGEMM(_ input: Tensor, geometry: WindowGeometry, kernel: [Float], filters: Int, groups: Int, bias: [Float]?) -> Tensor {
    let batch = input.shape[0], channels = input.shape[input.rank - 1]
    let rows = batch * geometry.outputPositions
    let shape = [batch] + geometry.outputSize + [filters]
    let parts = Parallel.parts(work: rows * geometry.taps * (channels / groups) * filters, rows: rows)
    guard parts > 1 else {
        return Tensor(shape: shape, values: convolveRows(0 ..< rows, input, geometry, kernel, filters, groups, bias, splitProducts: true))
    }
    // Output rows are independent: each part fills and multiplies its own rows (own im2col buffer, same
    // per-row arithmetic as one pass), and the parts' rows are joined in order.
    let ranges = Parallel.split(rows, into: parts)
    let values = Parallel.map(parts) { part in
        convolveRows(ranges[part], input, geometry, kernel, filters, groups, bias, splitProducts: false)
    }
    var output: [Float] = []
    output.reserveCapacity(rows * filters)
    for part in values { output.append(contentsOf: part) }
    return Tensor(shape: shape, values: output)
}

/// `values` read as rows of `width`, each followed by zeros up to `paddedWidth` (itself when equal).
private func paddingRows(_ values: [Float], from width: Int, to paddedWidth: Int) -> [Float] {
    guard paddedWidth != width else { return values }
    var padded = [Float](repeating: 0, count: values.count / width * paddedWidth)
    var target = padded.mutableSpan
    let source = values.span
    for row in 0 ..< values.count / width {
        target.assign(row * paddedWidth ..< row * paddedWidth + width, from: source.extracting(row * width ..< (row + 1) * width))
    }
    return padded
}

/// The output rows `rows` (flat, batch-major output cells) of `convolve`, as a `[rows, filters]` array.
/// `splitProducts`: the GEMMs may split across threads.
private func convolveRows(_ rows: Range<Int>, _ input: Tensor, _ geometry: WindowGeometry, _ kernel: [Float], _ filters: Int,
                          _ groups: Int, _ bias: [Float]?, splitProducts: Bool) -> [Float] {
    let channels = input.shape[input.rank - 1]
    let groupChannels = channels / groups, groupFilters = filters / groups
    var output = startingRows(bias, width: filters, count: rows.count)
    // A column row holds, group after group, each tap's channels of that group.
    let rowWidth = geometry.taps * channels
    let groupWidth = geometry.taps * groupChannels
    let blockRows = max(1, geometry.isPointwise ? rows.count : min(rows.count, columnBufferBudget / max(rowWidth, 1)))
    var columns = [Float](repeating: 0, count: geometry.isPointwise ? 0 : blockRows * rowWidth)
    let window = geometry.threeDimensional
    for blockStart in stride(from: rows.lowerBound, to: rows.upperBound, by: blockRows) {
        let blockCount = min(blockRows, rows.upperBound - blockStart)
        // A pointwise window reads each input row as it is: the input is its own im2col matrix.
        if !geometry.isPointwise {
            fillColumns(&columns, from: input.values, channels: channels, groups: groups, window: window,
                        rows: blockStart ..< blockStart + blockCount)
        }
        let matrix = geometry.isPointwise ? input.values : columns
        let matrixOffset = geometry.isPointwise ? blockStart * rowWidth : 0
        for group in 0..<groups {
            BLAS.gemm(m: blockCount, n: groupFilters, k: groupWidth,
                      a: matrix, aOffset: matrixOffset + group * groupWidth, lda: rowWidth,
                      b: kernel, bOffset: group * groupFilters, ldb: filters,
                      c: &output, cOffset: (blockStart - rows.lowerBound) * filters + group * groupFilters, ldc: filters,
                      beta: bias == nil ? 0 : 1, splitRows: splitProducts)
        }
    }
    return output
}

/// Depthwise cross-correlation, Keras's DepthwiseConv1D/2D: each input channel `c` correlated with its
/// own `M` kernels,
///
///     y[n, o, c·M + m] = bias[c·M + m] + Σ_t x[n, o·stride − pad + t·dilation, c] · w[t, c, m]
///
/// with `kernel` laid out `kernel_size + (C, M)` as Keras stores it. This is `convolve` with one group
/// per channel, but every group's product is only `taps` long, so it runs on its own kernel
/// (NativeKernels.depthwise): per output cell and tap, one multiply-add over the contiguous channels.
/// Each result is clamped to `clamp` (a fused ReLU or ReLU6), then scaled and shifted by `scaling` (a fused
/// BatchNormalization), as it is stored. `oneDNN`, the same convolution (one group per channel), runs it
/// instead when given and able, `scaling` included: it was faster than this kernel on all but the smallest
/// depthwise layers measured (MobileNetV2, EfficientNetB0 at 64×64; `ConvolutionKernel.usesOneDNN`).
package func depthwiseConvolve(_ input: Tensor, geometry: WindowGeometry, kernel: [Float], multiplier: Int, bias: [Float]?,
                               clamp: ClosedRange<Float>? = nil, scaling: BatchNormFold? = nil, oneDNN: DNNLConvolutions? = nil) -> Tensor {
    let batch = input.shape[0], channels = input.shape[input.rank - 1]
    if let oneDNN, let output = oneDNN(input, geometry: geometry, postOp: clamp.map(DNNLPostOp.clamp), scaling: scaling) {
        return output
    }
    let rows = batch * geometry.outputPositions
    return Tensor(shape: [batch] + geometry.outputSize + [channels * multiplier],
                  values: NativeKernels.depthwise(input.values, window: geometry.threeDimensional, channels: channels, kernel: kernel,
                                                  multiplier: multiplier, bias: bias, clamp: clamp, scaling: scaling, rows: 0 ..< rows))
}

/// The transposed convolution (the gradient of `convolve` with respect to its input), TensorFlow's
/// `conv_transpose` and Keras's Conv1D/2D/3DTranspose:
///
///     y[n, i, f] = bias[f] + Σ_{(o, t): o·stride − pad + t·dilation = i} Σ_c x[n, o, c] · w[t, f, c]
///
/// `geometry` is that of the forward convolution from `y` (its `inputSize`) to `x` (its `outputSize`).
/// `kernel` is laid out `kernel_size + (F, C)`, a row-major `[taps·F, C]` matrix: one GEMM per block of
/// input rows gives every tap's contribution (`x · wᵀ`), which col2im adds into place. Large work is split
/// into parts of whole samples across threads (the taps of one sample's rows overlap in the output).
package func convolveTransposed(_ input: Tensor, geometry: WindowGeometry, kernel: [Float], filters: Int, bias: [Float]?) -> Tensor {
    let batch = input.shape[0], channels = input.shape[input.rank - 1]
    precondition(kernel.count == geometry.taps * filters * channels, "kernel does not match the geometry")
    let shape = [batch] + geometry.inputSize + [filters]
    // col2im adds each of the GEMM's results into place one float at a time (~2 cycles each, measured on
    // conv2d's Conv2DTranspose layers, where a GEMM does a multiply-add in 1/16 of a cycle): counted as 32
    // multiply-adds each, so that those layers at batch 32 use both cores (0.027 + 0.040 → 0.019 + 0.028 ms).
    let work = batch * geometry.outputPositions * geometry.taps * filters * (channels + 32)
    let parts = Parallel.parts(work: work, rows: batch)
    guard parts > 1 else {
        return Tensor(shape: shape, values: convolveTransposed(input.values, samples: 0 ..< batch, geometry: geometry, channels: channels,
                                                               kernel: kernel, filters: filters, bias: bias, splitProducts: true))
    }
    let ranges = Parallel.split(batch, into: parts)
    let values = Parallel.map(parts) { part in
        convolveTransposed(input.values, samples: ranges[part], geometry: geometry, channels: channels, kernel: kernel,
                           filters: filters, bias: bias, splitProducts: false)
    }
    var output: [Float] = []
    output.reserveCapacity(shape.reduce(1, *))
    for part in values { output.append(contentsOf: part) }
    return Tensor(shape: shape, values: output)
}

/// `convolveTransposed` of the input's `samples`, as their `[samples, inputPositions, filters]` output.
/// `splitProducts`: the GEMMs may split across threads.
private func convolveTransposed(_ input: [Float], samples: Range<Int>, geometry: WindowGeometry, channels: Int, kernel: [Float],
                                filters: Int, bias: [Float]?, splitProducts: Bool) -> [Float] {
    var output = startingRows(bias, width: filters, count: samples.count * geometry.inputPositions)
    let rows = samples.count * geometry.outputPositions, firstRow = samples.lowerBound * geometry.outputPositions
    let rowWidth = geometry.taps * filters
    let blockRows = max(1, min(rows, columnBufferBudget / max(rowWidth, 1)))
    var columns = [Float](repeating: 0, count: blockRows * rowWidth)
    let window = geometry.threeDimensional
    for blockStart in stride(from: 0, to: rows, by: blockRows) {
        let blockCount = min(blockRows, rows - blockStart)
        BLAS.gemm(m: blockCount, n: rowWidth, k: channels,
                  a: input, aOffset: (firstRow + blockStart) * channels,
                  b: kernel, transposeB: true, c: &columns, splitRows: splitProducts)
        NativeKernels.col2im(columns, into: &output, filters: filters, window: window, rows: blockStart ..< blockStart + blockCount)
    }
    return output
}

/// `count` rows of `width` floats to accumulate into: each a copy of `bias`, or zeros.
private func startingRows(_ bias: [Float]?, width: Int, count: Int) -> [Float] {
    guard let bias else { return [Float](repeating: 0, count: width * count) }
    return NativeKernels.repeating(bias, count: count)
}

extension WindowGeometry {
    /// For a three-dimensional window: sets `cells[tap]` to the flat, batch-major index of the input cell
    /// that each tap of output cell `row` (a flat, batch-major index over the output positions) reads,
    /// or to -1 where the tap falls in the padding.
    package func inputCells(of row: Int, into cells: inout [Int]) {
        let (out0, out1, out2) = (outputSize[0], outputSize[1], outputSize[2])
        let (in0, in1, in2) = (inputSize[0], inputSize[1], inputSize[2])
        let o2 = row % out2, o1 = row / out2 % out1, o0 = row / (out2 * out1) % out0, sample = row / (out2 * out1 * out0)
        let start0 = o0 * strides[0] - padBefore[0]
        let start1 = o1 * strides[1] - padBefore[1]
        let start2 = o2 * strides[2] - padBefore[2]
        var tap = 0
        for t0 in 0..<kernel[0] {
            let i0 = start0 + t0 * dilation[0]
            for t1 in 0..<kernel[1] {
                let i1 = start1 + t1 * dilation[1]
                for t2 in 0..<kernel[2] {
                    let i2 = start2 + t2 * dilation[2]
                    let inside = i0 >= 0 && i0 < in0 && i1 >= 0 && i1 < in1 && i2 >= 0 && i2 < in2
                    cells[tap] = inside ? ((sample * in0 + i0) * in1 + i1) * in2 + i2 : -1
                    tap += 1
                }
            }
        }
    }
}

/// im2col: writes the window of each output cell in `rows` as one row of `columns` (from row 0), laid
/// out `[groups][taps][channels / groups]`; padded taps are zeros.
private func fillColumns(_ columns: inout [Float], from input: [Float], channels: Int, groups: Int,
                         window: WindowGeometry, rows: Range<Int>) {
    guard groups == 1, window.dilation[2] == 1 else {
        fillColumnsTapByTap(&columns, from: input, channels: channels, groups: groups, window: window, rows: rows)
        return
    }
    NativeKernels.im2col(&columns, from: input, channels: channels, window: window, rows: rows)
}

/// im2col one tap and one group at a time: grouped convolutions and dilation along the last axis.
private func fillColumnsTapByTap(_ columns: inout [Float], from input: [Float], channels: Int, groups: Int,
                                 window: WindowGeometry, rows: Range<Int>) {
    let groupChannels = channels / groups
    let taps = window.taps
    var cells = [Int](repeating: 0, count: taps)
    let source = input.span
    var target = columns.mutableSpan
    for row in rows {
        window.inputCells(of: row, into: &cells)
        let rowStart = (row - rows.lowerBound) * taps * channels
        for (tap, cell) in cells.enumerated() {
            for group in 0..<groups {
                let columnStart = rowStart + (group * taps + tap) * groupChannels
                let run = columnStart ..< columnStart + groupChannels
                if cell >= 0 {
                    let cellStart = cell * channels + group * groupChannels
                    target.assign(run, from: source.extracting(cellStart ..< cellStart + groupChannels))
                } else {
                    target.fill(run, with: 0)
                }
            }
        }
    }
}
