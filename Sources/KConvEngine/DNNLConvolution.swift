import KConvGraph
import CDNNL
import Synchronization

/// One convolution as oneDNN's `convolution_forward` primitive, for one layer and one input shape: the only
/// code besides BLAS.swift that imports CDNNL. Tensors stay channels_last (`nhwc`, `ndhwc`; a 1-D window
/// runs as 2-D of height 1); the kernel, given as Keras stores it (`kernel_size + (C/G, F)`), is reordered
/// once, when the primitive is made, into the layout oneDNN prefers for it (`format_tag any`). Groups cover
/// depthwise convolutions (`G = C`: Keras's `kernel_size + (C, M)` is the same layout with `C/G = 1`,
/// `F = C·M`). A clamp (fused ReLU, ReLU6) runs as an eltwise post-op while the results are stored.
///
/// `init` returns nil when oneDNN refuses the convolution or offers only a reference (unvectorised)
/// implementation for it; the caller keeps its own kernel then. The primitive, its reordered weights and its
/// scratch memory live as long as this object; calls are serialised (they share the scratch memory).
///
/// Threads: the primitive is made and run with the calling thread's OpenMP team set to one thread, as
/// BLAS.gemm does; `DNNLConvolutions` spreads the parts of a batch over the engine's own threads.
private final class DNNLConvolution: @unchecked Sendable {
    // @unchecked: the oneDNN handles are created in `init`, read-only after it, and every use of the
    // primitive and scratch memory (the only state a call changes) is under `lock`.
    private let primitive: dnnl_primitive_t
    private let stream: dnnl_stream_t
    private let source: dnnl_memory_desc_t
    private let destination: dnnl_memory_desc_t
    private let memories: [dnnl_memory_t]  // reordered weights, bias (if any), scratch
    private let arguments: [dnnl_exec_arg_t]  // WEIGHTS, BIAS, SCRATCHPAD; SRC and DST are added per call
    private let buffers: [UnsafeMutableRawPointer]
    private let lock = Mutex(())

    /// The CPU engine every primitive runs on (made once; nil if oneDNN has none).
    nonisolated(unsafe) private static let engine: dnnl_engine_t? = {
        var engine: dnnl_engine_t?
        return dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success ? engine : nil
    }()

    /// The convolution of a `batch` of channels_last inputs over `geometry`, with `kernel` laid out
    /// `kernel_size + (channels/groups, filters)` and `bias` of `filters` values, each result clamped to `clamp`.
    init?(kernel: [Float], bias: [Float]?, geometry: WindowGeometry, batch: Int, channels: Int, filters: Int, groups: Int,
          clamp: ClosedRange<Float>?) {
        guard let engine = Self.engine, batch > 0, groups > 0, channels % groups == 0, filters % groups == 0,
              (1 ... 3).contains(geometry.kernel.count),
              kernel.count == geometry.taps * channels / groups * filters, bias.map({ $0.count == filters }) ?? true
        else { return nil }
        // 1-D as 2-D; oneDNN's depthwise kernels are 2-D only, so a 1-D window keeps to 2-D too.
        let spatial = geometry.kernel.count == 3 ? 3 : 2
        let lead = spatial - geometry.kernel.count
        func leading(_ values: [Int], _ fill: Int) -> [Int64] { (Array(repeating: fill, count: lead) + values).map(Int64.init) }
        let kernelSize = leading(geometry.kernel, 1), strides = leading(geometry.strides, 1)
        let inputSize = leading(geometry.inputSize, 1), outputSize = leading(geometry.outputSize, 1)
        let dilation = leading(geometry.dilation, 1).map { $0 - 1 }  // oneDNN counts dilation from 0
        let padBefore = leading(geometry.padBefore, 0)
        // Padding after each axis: what the last window reaches past the input. Windows that stop short of
        // the input's end (a valid window with a stride) leave a negative rest, which oneDNN's output size
        // formula (a floor division by the stride) absorbs as zero.
        let padAfter = (0 ..< spatial).map { axis -> Int64 in
            let reach: Int64 = (outputSize[axis] - 1) * strides[axis] + (kernelSize[axis] - 1) * (dilation[axis] + 1) + 1
            return max(0, reach - inputSize[axis] - padBefore[axis])
        }
        let (g, c, f) = (Int64(groups), Int64(channels), Int64(filters))

        // Channels_last activations: (N, C, spatial...) with C the fastest axis.
        func channelsLast(_ size: [Int64], _ channels: Int64) -> dnnl_memory_desc_t? {
            let dims = [Int64(batch), channels] + size
            var strides = [Int64](repeating: 0, count: dims.count)
            var step = channels
            strides[1] = 1
            for axis in (2 ..< dims.count).reversed() { strides[axis] = step; step *= dims[axis] }
            strides[0] = step
            return Self.descriptor(dims, strides)
        }
        // Keras's kernel as (G, F/G, C/G, spatial...): tap-major, then the group's input channel, then filters.
        let weightDims = [g, f / g, c / g] + kernelSize
        var weightStrides = [f / g, 1, f] + [Int64](repeating: 0, count: spatial)
        var step = c / g * f
        for axis in (0 ..< spatial).reversed() { weightStrides[3 + axis] = step; step *= kernelSize[axis] }
        guard var source = channelsLast(inputSize, c), var destination = channelsLast(outputSize, f),
              var given = Self.descriptor(weightDims, weightStrides),
              var biasDescriptor = Self.descriptor([f], [1])
        else { return nil }
        var preferred = dnnl_memory_desc_t()
        guard dnnl_memory_desc_init_by_tag(&preferred, Int32(weightDims.count), weightDims, dnnl_f32, dnnl_format_tag_any) == dnnl_success
        else { return nil }

        var description = dnnl_convolution_desc_t()
        let described = withUnsafePointer(to: &biasDescriptor) { biasPointer in
            dnnl_dilated_convolution_forward_desc_init(&description, dnnl_forward_inference, dnnl_convolution_direct, &source,
                                                       &preferred, bias == nil ? nil : biasPointer, &destination,
                                                       strides, dilation, padBefore, padAfter)
        }
        guard described == dnnl_success, let attributes = Self.attributes(clamp: clamp) else { return nil }
        defer { dnnl_primitive_attr_destroy(attributes) }

        omp_set_num_threads(1)  // oneDNN fixes the team its primitive runs on when it makes it: none
        var descriptor: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&descriptor, &description, attributes, engine, nil) == dnnl_success, let descriptor
        else { return nil }
        defer { dnnl_primitive_desc_destroy(descriptor) }
        var name: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else { return nil }
        // oneDNN's name for the implementation it chose (`brgconv:avx512_core`, `jit_dw:avx2` …); a reference
        // one is unvectorised, slower than kconv's kernels.
        guard !String(cString: name).contains("ref") else { return nil }

        var allocated: [UnsafeMutableRawPointer] = []
        var made: [dnnl_memory_t] = []
        var fine = false
        defer {
            if !fine {
                for memory in made { dnnl_memory_destroy(memory) }
                for buffer in allocated { buffer.deallocate() }
            }
        }
        /// A memory object of its own, 64-byte aligned, for `descriptor` (nil for an empty one).
        func ownMemory(_ descriptor: UnsafePointer<dnnl_memory_desc_t>?) -> dnnl_memory_t? {
            guard let descriptor else { return nil }
            let bytes = dnnl_memory_desc_get_size(descriptor)
            guard bytes > 0 else { return nil }
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            allocated.append(buffer)
            var memory: dnnl_memory_t?
            guard dnnl_memory_create(&memory, descriptor, engine, buffer) == dnnl_success, let memory else { return nil }
            made.append(memory)
            return memory
        }
        var stream: dnnl_stream_t?
        defer { if !fine, let stream { dnnl_stream_destroy(stream) } }
        guard dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue) == dnnl_success, let stream else { return nil }

        // The kernel, reordered once from Keras's layout into the primitive's.
        guard let weights = ownMemory(dnnl_primitive_desc_query_md(descriptor, dnnl_query_weights_md, 0)),
              Self.reorder(kernel, from: &given, into: weights, engine: engine, stream: stream)
        else { return nil }
        var arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: weights)]
        if let bias {
            guard let memory = ownMemory(&biasDescriptor) else { return nil }
            var handle: UnsafeMutableRawPointer?
            guard dnnl_memory_get_data_handle(memory, &handle) == dnnl_success, let handle else { return nil }
            bias.withUnsafeBytes { handle.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            arguments.append(dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: memory))
        }
        if let scratch = ownMemory(dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0)) {
            arguments.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: scratch))
        }
        var primitive: dnnl_primitive_t?
        guard dnnl_primitive_create(&primitive, descriptor) == dnnl_success, let primitive else { return nil }
        fine = true
        self.primitive = primitive
        self.stream = stream
        self.source = source
        self.destination = destination
        self.memories = made
        self.arguments = arguments
        self.buffers = allocated
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_stream_destroy(stream)
        for memory in memories { dnnl_memory_destroy(memory) }
        for buffer in buffers { buffer.deallocate() }
    }

    /// Runs the convolution from `input` (`inputCount` floats, channels_last) into `output` (`outputCount`
    /// floats) on the calling thread; false if oneDNN failed.
    fileprivate func run(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>) -> Bool {
        lock.withLock { _ in
            guard let engine = Self.engine else { return false }
            var source = source, destination = destination
            var sourceMemory: dnnl_memory_t?, destinationMemory: dnnl_memory_t?
            defer {
                if let sourceMemory { dnnl_memory_destroy(sourceMemory) }
                if let destinationMemory { dnnl_memory_destroy(destinationMemory) }
            }
            // oneDNN reads the source through a non-const handle; it does not write it.
            guard dnnl_memory_create(&sourceMemory, &source, engine, UnsafeMutableRawPointer(mutating: input)) == dnnl_success,
                  dnnl_memory_create(&destinationMemory, &destination, engine, output) == dnnl_success,
                  let sourceMemory, let destinationMemory
            else { return false }
            let all = arguments + [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: sourceMemory),
                                   dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: destinationMemory)]
            omp_set_num_threads(1)
            return dnnl_primitive_execute(primitive, stream, Int32(all.count), all) == dnnl_success && dnnl_stream_wait(stream) == dnnl_success
        }
    }

    /// A plain f32 descriptor of `dims` with element `strides`.
    private static func descriptor(_ dims: [Int64], _ strides: [Int64]) -> dnnl_memory_desc_t? {
        var descriptor = dnnl_memory_desc_t()
        return dnnl_memory_desc_init_by_strides(&descriptor, Int32(dims.count), dims, dnnl_f32, strides) == dnnl_success ? descriptor : nil
    }

    /// Attributes: scratch memory given by the caller, and the clamp as an eltwise post-op (ReLU for
    /// `0 ... ∞`, clip otherwise).
    private static func attributes(clamp: ClosedRange<Float>?) -> dnnl_primitive_attr_t? {
        var attributes: dnnl_primitive_attr_t?
        guard dnnl_primitive_attr_create(&attributes) == dnnl_success, let attributes else { return nil }
        var fine = dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user) == dnnl_success
        if let clamp, fine {
            var postOps: dnnl_post_ops_t?
            fine = dnnl_post_ops_create(&postOps) == dnnl_success
            if fine, let postOps {
                let relu = clamp.lowerBound == 0 && clamp.upperBound == .infinity
                fine = dnnl_post_ops_append_eltwise(postOps, 1, relu ? dnnl_eltwise_relu : dnnl_eltwise_clip,
                                                    relu ? 0 : clamp.lowerBound, relu ? 0 : clamp.upperBound) == dnnl_success
                    && dnnl_primitive_attr_set_post_ops(attributes, postOps) == dnnl_success
                dnnl_post_ops_destroy(postOps)
            }
        }
        guard fine else { dnnl_primitive_attr_destroy(attributes); return nil }
        return attributes
    }

    /// Copies `values`, laid out as `layout` describes, into `target` in its own layout.
    private static func reorder(_ values: [Float], from layout: inout dnnl_memory_desc_t, into target: dnnl_memory_t,
                                engine: dnnl_engine_t, stream: dnnl_stream_t) -> Bool {
        var targetLayout: UnsafePointer<dnnl_memory_desc_t>?
        guard dnnl_memory_get_memory_desc(target, &targetLayout) == dnnl_success, let targetLayout else { return false }
        var descriptor: dnnl_primitive_desc_t?
        guard dnnl_reorder_primitive_desc_create(&descriptor, &layout, engine, targetLayout, engine, nil) == dnnl_success,
              let descriptor else { return false }
        defer { dnnl_primitive_desc_destroy(descriptor) }
        var reorder: dnnl_primitive_t?
        guard dnnl_primitive_create(&reorder, descriptor) == dnnl_success, let reorder else { return false }
        defer { dnnl_primitive_destroy(reorder) }
        return values.withUnsafeBufferPointer { values in
            var source: dnnl_memory_t?
            guard dnnl_memory_create(&source, &layout, engine, UnsafeMutableRawPointer(mutating: values.baseAddress)) == dnnl_success,
                  let source else { return false }
            defer { dnnl_memory_destroy(source) }
            let arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: source), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: target)]
            return dnnl_primitive_execute(reorder, stream, 2, arguments) == dnnl_success && dnnl_stream_wait(stream) == dnnl_success
        }
    }
}

/// A layer's convolution through oneDNN, its primitives made on first use for each input shape and clamp
/// (a plan runs a layer at one batch shape, so this is once per layer and batch) and kept; shapes oneDNN
/// refuses are remembered as such, and `callAsFunction` returns nil for them.
///
/// Large batches are split into parts of whole samples across `Parallel.workers`, each part on a primitive
/// (and scratch memory) of its own running single-threaded: the engine's threads, not an OpenMP team, use
/// the cores, as for BLAS.gemm, so the two never contend, and a part whose thread is descheduled on a busy
/// machine does not hold the others at a barrier.
package final class DNNLConvolutions: Sendable {
    private struct Key: Hashable {
        var geometry: WindowGeometry
        var batch: Int
        var clamp: ClosedRange<Float>?
        var part: Int
    }

    /// The kernel as Keras stores it, `kernel_size + (channels/groups, filters)`, and the bias.
    private let kernel: [Float]
    private let bias: [Float]?
    private let channels: Int, filters: Int, groups: Int
    private let made = Mutex<[Key: DNNLConvolution?]>([:])

    package init(kernel: [Float], bias: [Float]?, channels: Int, filters: Int, groups: Int) {
        self.kernel = kernel
        self.bias = bias
        self.channels = channels
        self.filters = filters
        self.groups = groups
    }

    /// The convolution of a channels_last `input` over `geometry`, clamped to `clamp`; nil where oneDNN
    /// cannot run it.
    package func callAsFunction(_ input: Tensor, geometry: WindowGeometry, clamp: ClosedRange<Float>?) -> Tensor? {
        let batch = input.shape[0]
        let inputSample = geometry.inputPositions * channels, outputSample = geometry.outputPositions * filters
        guard input.shape.last == channels, input.count == batch * inputSample else { return nil }
        let work = batch * geometry.outputPositions * geometry.taps * channels / groups * filters
        let parts = Parallel.split(batch, into: Parallel.parts(work: work, rows: batch))
        let convolutions = made.withLock { made in
            parts.enumerated().map { part, samples in
                let key = Key(geometry: geometry, batch: samples.count, clamp: clamp, part: part)
                if let known = made[key] { return known }
                let convolution = DNNLConvolution(kernel: kernel, bias: bias, geometry: geometry, batch: samples.count,
                                                  channels: channels, filters: filters, groups: groups, clamp: clamp)
                made[key] = convolution
                return convolution
            }
        }
        let ready = convolutions.compactMap { $0 }
        guard ready.count == parts.count else { return nil }
        var failed = false
        let values = [Float](unsafeUninitializedCapacity: batch * outputSample) { output, count in
            count = batch * outputSample
            input.values.withUnsafeBufferPointer { input in
                // Each part reads its own samples and writes its own, disjoint, outputs.
                nonisolated(unsafe) let input = input.baseAddress!, output = output.baseAddress!
                let succeeded = Mutex(0)
                Parallel.forEach(parts.count) { part in
                    let first = parts[part].lowerBound
                    if ready[part].run(input + first * inputSample, into: output + first * outputSample) {
                        succeeded.withLock { $0 += 1 }
                    }
                }
                failed = succeeded.withLock { $0 } != parts.count
            }
        }
        return failed ? nil : Tensor(shape: [batch] + geometry.outputSize + [filters], values: values)
    }
}
