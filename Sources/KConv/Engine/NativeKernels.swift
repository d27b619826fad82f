import CKernels

/// Safe entry points to the C kernels in CKernels: the innermost loops that the Swift compiler, which
/// builds for the baseline instruction set only, cannot make fast. Every call checks the bounds the C code
/// relies on. This file is the only caller of CKernels.
enum NativeKernels {
    enum Function {
        case sigmoid, tanh, swish
        /// Row-wise: each run is one row.
        case softmax
    }

    /// Applies `function` in place to `rows` runs of `count` floats of `region`, run `r` starting at
    /// `r · stride`. Built for the CPU's widest vectors.
    static func apply(_ function: Function, to region: inout MutableSpan<Float>, rows: Int, stride: Int, count: Int) {
        guard rows > 0, count > 0 else { return }
        precondition(stride >= 0 && (rows - 1) * stride + count <= region.count, "strided runs outside their region")
        region.withUnsafeMutableBufferPointer { buffer in
            switch function {
            case .sigmoid: kconv_sigmoid(buffer.baseAddress, rows, stride, count)
            case .tanh: kconv_tanh(buffer.baseAddress, rows, stride, count)
            case .swish: kconv_swish(buffer.baseAddress, rows, stride, count)
            case .softmax: kconv_softmax(buffer.baseAddress, rows, stride, count)
            }
        }
    }

    /// im2col for one group and no dilation along the last axis: the window of each output cell in `rows`
    /// (flat, batch-major) as one row of `columns` from row 0, laid out `[taps][channels]`, padding zero.
    static func im2col(_ columns: inout [Float], from input: [Float], channels: Int, window: WindowGeometry, rows: Range<Int>) {
        guard !rows.isEmpty else { return }
        checkWindow(window, channels: channels, over: input.count, rows: rows, "im2col")
        precondition(window.dilation[2] == 1, "im2col runs need no dilation along the last axis")
        precondition(columns.count >= rows.count * window.taps * channels, "im2col buffer too small")
        var geometry = cWindow(window, channels: channels)
        columns.withUnsafeMutableBufferPointer { target in
            input.withUnsafeBufferPointer { source in
                kconv_im2col(target.baseAddress, source.baseAddress, &geometry, rows.lowerBound, rows.count)
            }
        }
    }

    /// col2im: adds each tap's `filters` values of the column rows `rows` (from row 0 of `columns`, laid out
    /// `[taps][filters]`) into `output` (channels_last over `window.inputSize`) at the cell the tap lands on;
    /// taps in the padding are dropped.
    static func col2im(_ columns: [Float], into output: inout [Float], filters: Int, window: WindowGeometry, rows: Range<Int>) {
        guard !rows.isEmpty else { return }
        checkWindow(window, channels: filters, over: output.count, rows: rows, "col2im")
        precondition(columns.count >= rows.count * window.taps * filters, "col2im buffer too small")
        var geometry = cWindow(window, channels: filters)
        output.withUnsafeMutableBufferPointer { target in
            columns.withUnsafeBufferPointer { source in
                kconv_col2im(target.baseAddress, source.baseAddress, &geometry, filters, rows.lowerBound, rows.count)
            }
        }
    }

    /// Max or average pooling of output cells `rows` (flat, batch-major) as `[rows, channels]`: per channel,
    /// the max or mean of the window's input cells inside the input. Large work is split by rows across
    /// threads, each writing its own rows of the one output buffer.
    static func pool(_ input: [Float], channels: Int, window: WindowGeometry, average: Bool, rows: Range<Int>) -> [Float] {
        guard !rows.isEmpty else { return [] }
        checkWindow(window, channels: channels, over: input.count, rows: rows, "pooling")
        let geometry = cWindow(window, channels: channels)
        return filledByParts(rows: rows.count, width: channels, work: rows.count * window.taps * channels) { target, part in
            input.withUnsafeBufferPointer { source in
                var geometry = geometry
                kconv_pool(target, source.baseAddress, &geometry, average ? 1 : 0, rows.lowerBound + part.lowerBound, part.count)
            }
        }
    }

    /// Filters of a direct convolution come in blocks of this many.
    static let directFilterBlock = 16

    /// `filters` rounded up to whole blocks: the filter axis of a direct convolution's kernel and bias.
    static func directFilterStride(_ filters: Int) -> Int {
        (filters + directFilterBlock - 1) / directFilterBlock * directFilterBlock
    }

    /// Direct convolution, one group: output cells `rows` (flat, batch-major) as `[rows, filters]`, each
    /// `bias` (or zero) plus the window's taps × channels of `input` times `kernel` (`[taps, channels,
    /// directFilterStride(filters)]`, bias likewise, the extra filters zero); taps in the padding read zero.
    /// With `relu`, negative results are stored as zero. Large work is split by rows across threads, each
    /// writing its own rows of the one output buffer; every value is computed the same way whatever the split.
    static func convolveDirect(_ input: [Float], window: WindowGeometry, channels: Int, kernel: [Float], filters: Int,
                               bias: [Float]?, relu: Bool, rows: Range<Int>) -> [Float] {
        guard !rows.isEmpty else { return [] }
        checkWindow(window, channels: channels, over: input.count, rows: rows, "direct convolution")
        let stride = directFilterStride(filters)
        precondition(filters > 0 && kernel.count == window.taps * channels * stride && (bias?.count ?? stride) == stride,
                     "direct convolution weights do not match")
        let geometry = cWindow(window, channels: channels)
        return filledByParts(rows: rows.count, width: filters, work: rows.count * window.taps * channels * filters) { target, part in
            input.withUnsafeBufferPointer { source in
                kernel.withUnsafeBufferPointer { weights in
                    (bias ?? []).withUnsafeBufferPointer { biasValues in
                        var geometry = geometry
                        kconv_convolve_direct(target, source.baseAddress, weights.baseAddress, bias == nil ? nil : biasValues.baseAddress,
                                              &geometry, filters, rows.lowerBound + part.lowerBound, part.count, relu ? 1 : 0)
                    }
                }
            }
        }
    }

    /// Checks what the C kernels rely on to stay in bounds: a 3-D window with positive sizes, over `count`
    /// values that hold whole samples of `channels`-wide cells, and output cells `rows` inside that batch.
    private static func checkWindow(_ window: WindowGeometry, channels: Int, over count: Int, rows: Range<Int>, _ kernel: String) {
        precondition(window.inputSize.count == 3 && channels > 0, "\(kernel) needs a 3-D window and channels")
        precondition([window.kernel, window.strides, window.dilation, window.outputSize].joined().allSatisfy { $0 > 0 },
                     "\(kernel) needs positive window sizes")
        let sampleSize = window.inputPositions * channels
        precondition(sampleSize > 0 && count % sampleSize == 0, "\(kernel) data does not hold whole samples")
        precondition(rows.lowerBound >= 0 && rows.upperBound <= count / sampleSize * window.outputPositions,
                     "\(kernel) rows outside the batch")
    }

    /// A `[rows, width]` buffer filled part by part, concurrently when `work` is large: `fill(target, part)`
    /// must write every value of rows `part`, `target` pointing at the first. Parts are disjoint.
    private static func filledByParts(rows: Int, width: Int, work: Int,
                                      _ fill: @Sendable (UnsafeMutablePointer<Float>?, Range<Int>) -> Void) -> [Float] {
        let parts = Parallel.parts(work: work, rows: rows)
        let ranges = Parallel.split(rows, into: parts)
        // Every value is written by `fill`, so the buffer starts uninitialised.
        return [Float](unsafeUninitializedCapacity: rows * width) { target, initialized in
            nonisolated(unsafe) let target = target.baseAddress
            Parallel.forEach(parts) { part in fill(target.map { $0 + ranges[part].lowerBound * width }, ranges[part]) }
            initialized = rows * width
        }
    }

    /// The C description of a 3-D window.
    private static func cWindow(_ window: WindowGeometry, channels: Int) -> kconv_window {
        let triple = { (sizes: [Int]) in (sizes[0], sizes[1], sizes[2]) }
        return kconv_window(input_size: triple(window.inputSize), output_size: triple(window.outputSize),
                            kernel: triple(window.kernel), strides: triple(window.strides),
                            dilation: triple(window.dilation), pad_before: triple(window.padBefore), channels: channels)
    }
}
