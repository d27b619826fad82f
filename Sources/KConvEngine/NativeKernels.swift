import KConvGraph
import CKernels

/// Safe entry points to the C kernels in CKernels: the innermost loops that the Swift compiler, which
/// builds for the baseline instruction set only, cannot make fast. Every call checks the bounds the C code
/// relies on. This file is the only caller of CKernels.
package enum NativeKernels {
    package enum Function {
        case sigmoid, tanh, swish
        /// Row-wise: each run is one row.
        case softmax
    }

    /// Applies `function` in place to `rows` runs of `count` floats of `region`, run `r` starting at
    /// `r · stride`. Built for the CPU's widest vectors.
    package static func apply(_ function: Function, to region: inout MutableSpan<Float>, rows: Int, stride: Int, count: Int) {
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

    package enum Arithmetic {
        case add, subtract, multiply, divide
    }

    /// `a ∘ b` over an output of axes `dims` (row-major), each operand stepping `stridesA` (`stridesB`) values
    /// along each axis, 0 where it repeats; split across cores along the first axis when large.
    package static func broadcast(_ operation: Arithmetic, _ a: [Float], _ b: [Float], dims: [Int], stridesA: [Int], stridesB: [Int]) -> [Float] {
        let count = dims.reduce(1, *)
        precondition(!dims.isEmpty && dims.count == stridesA.count && dims.count == stridesB.count, "broadcast axes do not match")
        precondition(dims.allSatisfy { $0 > 0 } && (stridesA + stridesB).allSatisfy { $0 >= 0 }, "broadcast axes must be positive")
        func reach(_ strides: [Int]) -> Int { zip(dims, strides).reduce(0) { $0 + ($1.0 - 1) * $1.1 } }
        precondition(reach(stridesA) < a.count && reach(stridesB) < b.count, "broadcast operands are too short for their strides")
        let c: kconv_arithmetic = switch operation {
        case .add: KCONV_ADD
        case .subtract: KCONV_SUBTRACT
        case .multiply: KCONV_MULTIPLY
        case .divide: KCONV_DIVIDE
        }
        let rowSize = count / dims[0]
        let ranges = Parallel.split(dims[0], into: Parallel.parts(work: count, rows: dims[0]))
        return filled(count: count, parts: ranges.count) { target, part in
            let first = ranges[part].lowerBound
            var partDims = dims
            partDims[0] = ranges[part].count
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    kconv_broadcast(c, target.map { $0 + first * rowSize }, a.baseAddress.map { $0 + first * stridesA[0] },
                                    b.baseAddress.map { $0 + first * stridesB[0] }, dims.count, partDims, stridesA, stridesB)
                }
            }
        }
    }

    /// One LSTM step with sigmoid gates and tanh (Keras's defaults), fused in one pass: for each sample `s`
    /// with `keep[s]`, its gate row `gates[offset + s · stride ...]` (pre-activations `[i f c̃ o]`, `units` each)
    /// updates its rows of `carry` and `output` (`[samples, units]`): `c = σ(f)·c + σ(i)·tanh(c̃)`, `h = σ(o)·tanh(c)`.
    package static func lstmCell(gates: [Float], offset: Int, stride: Int, keep: [Bool], units: Int,
                                 carry: inout [Float], output: inout [Float]) {
        let samples = keep.count
        guard samples > 0, units > 0 else { return }
        precondition(carry.count == samples * units && output.count == samples * units, "LSTM states are not [samples, units]")
        precondition(offset >= 0 && stride >= 4 * units && offset + (samples - 1) * stride + 4 * units <= gates.count,
                     "LSTM gate rows outside their buffer")
        gates.withUnsafeBufferPointer { gates in
            keep.withUnsafeBufferPointer { keep in
                carry.withUnsafeMutableBufferPointer { carry in
                    output.withUnsafeMutableBufferPointer { output in
                        kconv_lstm_cell(gates.baseAddress.map { $0 + offset }, stride, keep.baseAddress, samples, units,
                                        carry.baseAddress, output.baseAddress)
                    }
                }
            }
        }
    }

    /// The recurrent half of a GRU `reset_after` step: each sample's `h·U` row (`[samples, 3·units]`) and the
    /// recurrent bias (`3·units`), added inside the fused step.
    package struct GRURecurrence {
        package let product: [Float]
        package let bias: [Float]
    }

    /// One GRU step with sigmoid gates and tanh (Keras's defaults), fused in one pass: for each sample `s`
    /// with `keep[s]`, its gate row `gates[offset + s · stride ...]` (`[z r ĥ]`, `units` each) updates its row
    /// of `state` (`[samples, units]`) to `h = z·h + (1 − z)·ĥ`. With a `recurrence` (reset_after) the row is
    /// the input projection: `z = σ(x_z + hU_z + b_z)`, `r = σ(x_r + hU_r + b_r)`, `ĥ = tanh(x_h + r·(hU_h + b_h))`;
    /// without, it already holds the pre-activations: `z = σ(row_z)`, `ĥ = tanh(row_ĥ)`.
    package static func gruCell(gates: [Float], offset: Int, stride: Int, recurrence: GRURecurrence?, keep: [Bool], units: Int,
                                state: inout [Float]) {
        let samples = keep.count
        guard samples > 0, units > 0 else { return }
        precondition(state.count == samples * units, "GRU state is not [samples, units]")
        precondition(offset >= 0 && stride >= 3 * units && offset + (samples - 1) * stride + 3 * units <= gates.count,
                     "GRU gate rows outside their buffer")
        if let recurrence {
            precondition(recurrence.product.count == samples * 3 * units && recurrence.bias.count == 3 * units,
                         "GRU recurrent rows are not [samples, 3·units] and [3·units]")
        }
        let product = recurrence?.product ?? [], bias = recurrence?.bias ?? []
        gates.withUnsafeBufferPointer { gates in
            product.withUnsafeBufferPointer { product in
                bias.withUnsafeBufferPointer { bias in
                    keep.withUnsafeBufferPointer { keep in
                        state.withUnsafeMutableBufferPointer { state in
                            kconv_gru_cell(gates.baseAddress.map { $0 + offset }, stride,
                                           recurrence == nil ? nil : product.baseAddress, recurrence == nil ? nil : bias.baseAddress,
                                           keep.baseAddress, samples, units, state.baseAddress)
                        }
                    }
                }
            }
        }
    }

    /// im2col for one group and no dilation along the last axis: the window of each output cell in `rows`
    /// (flat, batch-major) as one row of `columns` from row 0, laid out `[taps][channels]`, padding zero.
    package static func im2col(_ columns: inout [Float], from input: [Float], channels: Int, window: WindowGeometry, rows: Range<Int>) {
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
    package static func col2im(_ columns: [Float], into output: inout [Float], filters: Int, window: WindowGeometry, rows: Range<Int>) {
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

    /// `row` repeated `count` times, one copy after the other.
    package static func repeating(_ row: [Float], count: Int) -> [Float] {
        precondition(count >= 0, "negative repeat count")
        let total = row.count * count
        return [Float](unsafeUninitializedCapacity: total) { target, initialized in
            row.withUnsafeBufferPointer { kconv_repeat_row(target.baseAddress, $0.baseAddress, row.count, count) }
            initialized = total
        }
    }

    /// Max or average pooling of output cells `rows` (flat, batch-major) as `[rows, channels]`: per channel,
    /// the max or mean of the window's input cells inside the input. Large work is split by rows across
    /// threads, each writing its own rows of the one output buffer.
    package static func pool(_ input: [Float], channels: Int, window: WindowGeometry, average: Bool, rows: Range<Int>) -> [Float] {
        guard !rows.isEmpty else { return [] }
        checkWindow(window, channels: channels, over: input.count, rows: rows, "pooling")
        let geometry = cWindow(window, channels: channels)
        // A load per 16 values and tap and one operation on it, bound by the loads' latency (half the rate of
        // the depthwise convolution's multiply-adds, which it counts double): counted four times, so that a
        // batch of pooling such as cnn_bn_small's at batch 32 (2048 cells × 4 taps × 16 channels) uses both cores.
        return filledByParts(rows: rows.count, width: channels, work: 4 * rows.count * window.taps * channels) { target, part in
            input.withUnsafeBufferPointer { source in
                var geometry = geometry
                kconv_pool(target, source.baseAddress, &geometry, average ? 1 : 0, rows.lowerBound + part.lowerBound, part.count)
            }
        }
    }

    /// The C kernels' vector width in floats: the filter axis of a direct or Winograd convolution's kernel
    /// and bias is padded to a multiple of it, and row products need a multiple of it as their width.
    package static let vectorLanes = 16

    /// `filters` rounded up to whole vectors: the padded filter axis of a convolution's kernel and bias.
    package static func paddedFilters(_ filters: Int) -> Int {
        (filters + vectorLanes - 1) / vectorLanes * vectorLanes
    }

    /// Direct convolution, one group: output cells `rows` (flat, batch-major) as `[rows, filters]`, each
    /// `bias` (or zero) plus the window's taps × channels of `input` times `kernel` (`[taps, channels,
    /// paddedFilters(filters)]`, bias likewise, the extra filters zero); taps in the padding read zero.
    /// Each result is clamped to `clamp` (a fused ReLU or ReLU6, `Epilogue`), then scaled and shifted per filter
    /// by `scaling` (a fused BatchNormalization), as it is stored. Large work is split by rows across threads, each
    /// writing its own rows of the one output buffer; every value is computed the same way whatever the split.
    package static func convolveDirect(_ input: [Float], window: WindowGeometry, channels: Int, kernel: [Float], filters: Int,
                               bias: [Float]?, clamp: ClosedRange<Float>?, scaling: BatchNormFold? = nil, rows: Range<Int>) -> [Float] {
        guard !rows.isEmpty else { return [] }
        checkWindow(window, channels: channels, over: input.count, rows: rows, "direct convolution")
        let stride = paddedFilters(filters)
        precondition(filters > 0 && kernel.count == window.taps * channels * stride && (bias?.count ?? stride) == stride,
                     "direct convolution weights do not match")
        let geometry = cWindow(window, channels: channels)
        // Whole blocks of 16 filters are computed: the work counts them.
        return filledByParts(rows: rows.count, width: filters, work: rows.count * window.taps * channels * stride) { target, part in
            input.withUnsafeBufferPointer { source in
                kernel.withUnsafeBufferPointer { weights in
                    (bias ?? []).withUnsafeBufferPointer { biasValues in
                        var geometry = geometry
                        withEpilogue(clamp, scaling, channels: filters) { epilogue in
                            kconv_convolve_direct(target, source.baseAddress, weights.baseAddress, bias == nil ? nil : biasValues.baseAddress,
                                                  &geometry, filters, rows.lowerBound + part.lowerBound, part.count, epilogue)
                        }
                    }
                }
            }
        }
    }

    /// Depthwise convolution: output cells `rows` (flat, batch-major) as `[rows, channels · multiplier]`,
    /// output `c · multiplier + m` being `bias` (or zero) plus the window's taps of input channel `c` times
    /// `kernel` (`[taps, channels · multiplier]`, as Keras stores it); taps in the padding are skipped.
    /// Each result is clamped to `clamp`, then scaled and shifted by `scaling`, as it is stored. Large work is
    /// split by rows across threads, each writing its own rows of the one output buffer.
    package static func depthwise(_ input: [Float], window: WindowGeometry, channels: Int, kernel: [Float], multiplier: Int,
                                  bias: [Float]?, clamp: ClosedRange<Float>?, scaling: BatchNormFold? = nil, rows: Range<Int>) -> [Float] {
        guard !rows.isEmpty else { return [] }
        checkWindow(window, channels: channels, over: input.count, rows: rows, "depthwise convolution")
        let width = channels * multiplier
        precondition(multiplier > 0 && kernel.count == window.taps * width && (bias?.count ?? width) == width,
                     "depthwise convolution weights do not match")
        let geometry = cWindow(window, channels: channels)
        // One multiply-add per 16 outputs and tap, at about half the rate of a register-tiled product (it
        // loads an input vector for each): counted double when deciding whether splitting pays.
        return filledByParts(rows: rows.count, width: width, work: 2 * rows.count * window.taps * width) { target, part in
            input.withUnsafeBufferPointer { source in
                kernel.withUnsafeBufferPointer { weights in
                    (bias ?? []).withUnsafeBufferPointer { biasValues in
                        var geometry = geometry
                        withEpilogue(clamp, scaling, channels: width) { epilogue in
                            kconv_depthwise(target, source.baseAddress, weights.baseAddress, bias == nil ? nil : biasValues.baseAddress,
                                            &geometry, multiplier, rows.lowerBound + part.lowerBound, part.count, epilogue)
                        }
                    }
                }
            }
        }
    }

    /// The instruction-set level the register-tiled kernels run at: 0 baseline (SSE2), 1 AVX2 + FMA, 2 AVX-512.
    package static var cpuLevel: Int { Int(kconv_cpu_level()) }

    /// Tells the CPU the calling thread is spin-waiting (WorkerPool).
    @inline(__always) static func spinPause() { kconv_spin_pause() }
    /// `cpuLevel`'s name.
    package static var instructionSet: String { ["SSE2", "AVX2+FMA", "AVX-512"][min(max(cpuLevel, 0), 2)] }

    /// `body` run with the register-tiled kernels limited to `level` (at most what the CPU has), for tests
    /// that check each level the machine can run; the limit is restored after. Kernels running meanwhile on
    /// other threads may run at either level (each computes correct results).
    package static func withCPULevel<T>(_ level: Int, _ body: () throws -> T) rethrows -> T {
        kconv_limit_cpu_level(Int32(level))
        defer { kconv_limit_cpu_level(2) }
        return try body()
    }

    /// A 3×3 kernel (`[3, 3, channels, filters]`, as Keras stores it) transformed for `convolveWinograd`.
    package static func winogradKernel(_ kernel: [Float], channels: Int, filters: Int) -> [Float] {
        precondition(channels > 0 && filters > 0 && kernel.count == 9 * channels * filters, "Winograd kernel is not 3×3")
        let count = 16 * channels * paddedFilters(filters)
        return [Float](unsafeUninitializedCapacity: count) { target, initialized in
            kernel.withUnsafeBufferPointer { kconv_winograd_kernel(target.baseAddress, $0.baseAddress, channels, filters) }
            initialized = count
        }
    }

    /// The direct convolution's result for a 2-D 3×3 window of stride and dilation 1, computed as Winograd
    /// F(2×2, 3×3) with 2.25× fewer multiplies: every output cell of the batch as `[cells, filters]`.
    /// `transformedKernel` comes from `winogradKernel`, `bias` is padded as for `convolveDirect`. Large work
    /// is split by tiles of 2×2 output cells across threads, each writing its own tiles' cells. The epilogue
    /// (`clamp`, `scaling`) is `convolveDirect`'s.
    package static func convolveWinograd(_ input: [Float], window: WindowGeometry, channels: Int, transformedKernel: [Float],
                                 filters: Int, bias: [Float]?, clamp: ClosedRange<Float>?, scaling: BatchNormFold? = nil) -> [Float] {
        precondition(window.inputSize.count == 3 && window.kernel == [1, 3, 3] && window.strides == [1, 1, 1]
                     && window.dilation == [1, 1, 1] && window.inputSize[0] == 1 && window.outputSize[0] == 1,
                     "Winograd needs a 2-D 3×3 window of stride and dilation 1")
        let samplePositions = window.inputPositions * channels
        let batch = samplePositions > 0 ? input.count / samplePositions : 0
        let cells = batch * window.outputPositions
        guard cells > 0 else { return [] }
        checkWindow(window, channels: channels, over: input.count, rows: 0 ..< cells, "Winograd convolution")
        let stride = paddedFilters(filters)
        precondition(filters > 0 && transformedKernel.count == 16 * channels * stride && (bias?.count ?? stride) == stride,
                     "Winograd convolution weights do not match")
        let tiles = batch * ((window.outputSize[1] + 1) / 2) * ((window.outputSize[2] + 1) / 2)
        let ranges = Parallel.split(tiles, into: Parallel.parts(work: cells * 4 * channels * filters, rows: tiles))
        let scratchCount = kconv_winograd_scratch_count(channels, filters)
        let geometry = cWindow(window, channels: channels)
        return filled(count: cells * filters, parts: ranges.count) { target, part in
            // The kernel writes its scratch before reading it: left uninitialised.
            input.withUnsafeBufferPointer { source in
                transformedKernel.withUnsafeBufferPointer { weights in
                    (bias ?? []).withUnsafeBufferPointer { biasValues in
                        withUnsafeTemporaryAllocation(of: Float.self, capacity: scratchCount) { scratch in
                            var geometry = geometry
                            withEpilogue(clamp, scaling, channels: filters) { epilogue in
                                kconv_winograd_convolve(target, source.baseAddress, weights.baseAddress,
                                                        bias == nil ? nil : biasValues.baseAddress, &geometry, filters,
                                                        ranges[part].lowerBound, ranges[part].count, epilogue, scratch.baseAddress)
                            }
                        }
                    }
                }
            }
        }
    }

    /// `c[cOffset ..< cOffset + n] (+)= a[aOffset ..< aOffset + k] · B`, B being `k` rows of `n` values
    /// from `b[bOffset]`, `ldb` apart (added to `c` when `accumulate`). `n` is a multiple of `vectorLanes`.
    package static func rowProduct(into c: inout [Float], at cOffset: Int, row a: [Float], at aOffset: Int,
                           times b: [Float], at bOffset: Int, ldb: Int, n: Int, k: Int, accumulate: Bool) {
        precondition(n > 0 && n % vectorLanes == 0 && k >= 0 && ldb >= n, "row product needs whole blocks of columns")
        precondition(cOffset >= 0 && cOffset + n <= c.count && aOffset >= 0 && aOffset + k <= a.count
                     && bOffset >= 0 && (k == 0 || bOffset + (k - 1) * ldb + n <= b.count), "row product outside its operands")
        // Large products (a Dense layer at batch 1 streams its whole kernel) are split by blocks of columns
        // across threads: each part reads its own columns of `b` and writes its own values of `c`. When the
        // engine's workers are free (not running the directions of a Bidirectional, say), from a sixteenth of
        // the general work per part: a recurrent step at batch 1 is such a product, run once per time step with
        // the workers spinning between steps (gru_large, 128 units, 2 threads: 0.362 → 0.302 ms per batch).
        let blocks = n / vectorLanes
        let minimumWork = Parallel.workersAreFree ? Parallel.minimumWorkPerPart / 16 : Parallel.minimumWorkPerPart
        let ranges = Parallel.split(blocks, into: Parallel.parts(work: n * k, rows: blocks, minimumWork: minimumWork))
        c.withUnsafeMutableBufferPointer { c in
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    nonisolated(unsafe) let c = c.baseAddress.map { $0 + cOffset }
                    nonisolated(unsafe) let a = a.baseAddress.map { $0 + aOffset }
                    nonisolated(unsafe) let b = b.baseAddress.map { $0 + bOffset }
                    Parallel.forEach(ranges.count) { part in
                        let first = ranges[part].lowerBound * vectorLanes
                        kconv_row_product(c.map { $0 + first }, a, b.map { $0 + first }, ldb, ranges[part].count * vectorLanes, k,
                                          accumulate ? 1 : 0)
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
        let ranges = Parallel.split(rows, into: Parallel.parts(work: work, rows: rows))
        return filled(count: rows * width, parts: ranges.count) { target, part in
            fill(target.map { $0 + ranges[part].lowerBound * width }, ranges[part])
        }
    }

    /// A buffer of `count` floats filled by `parts` concurrent calls of `fill(target, part)`, `target`
    /// pointing at the first float. Between them the calls must write every value, each value once.
    private static func filled(count: Int, parts: Int,
                               _ fill: @Sendable (UnsafeMutablePointer<Float>?, Int) -> Void) -> [Float] {
        // Every value is written by `fill`, so the buffer starts uninitialised.
        [Float](unsafeUninitializedCapacity: count) { target, initialized in
            nonisolated(unsafe) let target = target.baseAddress
            Parallel.forEach(parts) { part in fill(target, part) }
            initialized = count
        }
    }

    /// `body` given the C epilogue clamping to `clamp` (none: the whole line), then scaling and shifting each of
    /// `channels` channels by `scaling`; nil for neither.
    private static func withEpilogue(_ clamp: ClosedRange<Float>?, _ scaling: BatchNormFold?, channels: Int,
                                     _ body: (UnsafePointer<kconv_epilogue>?) -> Void) {
        guard clamp != nil || scaling != nil else { return body(nil) }
        let range = clamp ?? -Float.infinity ... Float.infinity
        guard let scaling else {
            var epilogue = kconv_epilogue(low: range.lowerBound, high: range.upperBound, scale: nil, shift: nil)
            return withUnsafePointer(to: &epilogue) { body($0) }
        }
        precondition(scaling.scale.count == channels && scaling.shift.count == channels, "epilogue scaling does not match the channels")
        // The kernels read whole vectors of channels: padded with zeros.
        let padding = [Float](repeating: 0, count: paddedFilters(channels) - channels)
        (scaling.scale + padding).withUnsafeBufferPointer { scale in
            (scaling.shift + padding).withUnsafeBufferPointer { shift in
                var epilogue = kconv_epilogue(low: range.lowerBound, high: range.upperBound, scale: scale.baseAddress, shift: shift.baseAddress)
                withUnsafePointer(to: &epilogue) { body($0) }
            }
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
