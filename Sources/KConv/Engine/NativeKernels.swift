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
        precondition(window.inputSize.count == 3 && window.dilation[2] == 1, "im2col needs a 3-D window without last-axis dilation")
        precondition(([window.kernel, window.strides, window.dilation].joined().allSatisfy { $0 > 0 }) && channels > 0,
                     "im2col needs positive window sizes")
        let sampleSize = window.inputPositions * channels
        precondition(sampleSize > 0 && input.count % sampleSize == 0, "im2col input does not hold whole samples")
        precondition(rows.lowerBound >= 0 && rows.upperBound <= input.count / sampleSize * window.outputPositions,
                     "im2col rows outside the batch")
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
        precondition(window.inputSize.count == 3 && filters > 0, "col2im needs a 3-D window")
        precondition(([window.kernel, window.strides, window.dilation].joined().allSatisfy { $0 > 0 }), "col2im needs positive window sizes")
        let sampleSize = window.inputPositions * filters
        precondition(sampleSize > 0 && output.count % sampleSize == 0, "col2im output does not hold whole samples")
        precondition(rows.lowerBound >= 0 && rows.upperBound <= output.count / sampleSize * window.outputPositions,
                     "col2im rows outside the batch")
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
        precondition(window.inputSize.count == 3 && channels > 0, "pooling needs a 3-D window")
        precondition(([window.kernel, window.strides, window.dilation].joined().allSatisfy { $0 > 0 }), "pooling needs positive window sizes")
        let sampleSize = window.inputPositions * channels
        precondition(sampleSize > 0 && input.count % sampleSize == 0, "pooling input does not hold whole samples")
        precondition(rows.lowerBound >= 0 && rows.upperBound <= input.count / sampleSize * window.outputPositions,
                     "pooling rows outside the batch")
        let geometry = cWindow(window, channels: channels)
        let parts = Parallel.parts(work: rows.count * window.taps * channels, rows: rows.count)
        let ranges = Parallel.split(rows.count, into: parts)
        // The C function writes every value of its rows, so the buffer starts uninitialised.
        return [Float](unsafeUninitializedCapacity: rows.count * channels) { target, initialized in
            input.withUnsafeBufferPointer { source in
                nonisolated(unsafe) let (target, source) = (target.baseAddress, source.baseAddress)
                Parallel.forEach(parts) { part in
                    var geometry = geometry
                    let range = ranges[part]
                    kconv_pool(target.map { $0 + range.lowerBound * channels }, source, &geometry, average ? 1 : 0,
                               rows.lowerBound + range.lowerBound, range.count)
                }
            }
            initialized = rows.count * channels
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
    /// With `relu`, negative results are stored as zero. Large work is
    /// split by rows across threads, each writing its own rows of the one output buffer; every value is
    /// computed the same way whatever the split.
    static func convolveDirect(_ input: [Float], window: WindowGeometry, channels: Int, kernel: [Float], filters: Int,
                               bias: [Float]?, relu: Bool, rows: Range<Int>) -> [Float] {
        guard !rows.isEmpty else { return [] }
        precondition(window.inputSize.count == 3 && filters > 0 && channels > 0, "direct convolution needs a 3-D window, filters and channels")
        precondition(([window.kernel, window.strides, window.dilation, window.outputSize].joined().allSatisfy { $0 > 0 }),
                     "direct convolution needs positive window sizes")
        let sampleSize = window.inputPositions * channels
        precondition(sampleSize > 0 && input.count % sampleSize == 0 && rows.lowerBound >= 0 && rows.upperBound <= input.count / sampleSize * window.outputPositions,
                     "direct convolution rows outside the batch")
        let stride = directFilterStride(filters)
        precondition(kernel.count == window.taps * channels * stride && (bias?.count ?? stride) == stride,
                     "direct convolution weights do not match")
        let geometry = cWindow(window, channels: channels)
        let parts = Parallel.parts(work: rows.count * window.taps * channels * filters, rows: rows.count)
        let ranges = Parallel.split(rows.count, into: parts)
        // The C kernel writes every value of its rows, so the buffer starts uninitialised.
        return [Float](unsafeUninitializedCapacity: rows.count * filters) { target, initialized in
            input.withUnsafeBufferPointer { source in
                kernel.withUnsafeBufferPointer { weights in
                    (bias ?? []).withUnsafeBufferPointer { biasValues in
                        // The parts read the inputs and write disjoint rows of `target`, all borrowed for this call.
                        nonisolated(unsafe) let (target, source, weights, bias) = (target.baseAddress, source.baseAddress, weights.baseAddress, bias == nil ? nil : biasValues.baseAddress)
                        Parallel.forEach(parts) { part in
                            var geometry = geometry
                            let range = ranges[part]
                            kconv_convolve_direct(target.map { $0 + range.lowerBound * filters }, source, weights, bias,
                                                  &geometry, filters, rows.lowerBound + range.lowerBound, range.count, relu ? 1 : 0)
                        }
                    }
                }
            }
            initialized = rows.count * filters
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
