import Foundation
import KConvGraph
import CDNNL
import Synchronization

/// One convolution as oneDNN's `convolution_forward` primitive, for one layer and one input shape: the only
/// code besides BLAS.swift that imports CDNNL. Tensors stay channels_last (`nhwc`, `ndhwc`; a 1-D window
/// runs as 2-D of height 1); the kernel, given as Keras stores it (`kernel_size + (C/G, F)`), is reordered
/// once, when the primitive is made, into the layout oneDNN prefers for it (`format_tag any`). Groups cover
/// depthwise convolutions (`G = C`: Keras's `kernel_size + (C, M)` is the same layout with `C/G = 1`,
/// `F = C·M`). A fused activation (ReLU, ReLU6, sigmoid, tanh, swish) runs as an eltwise post-op while the
/// results are stored.
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
    /// The input and output, memory objects whose buffers each call sets.
    private let source: dnnl_memory_t, destination: dnnl_memory_t
    private let memories: [dnnl_memory_t]  // bias (if any), scratch, source, destination
    private let weights: ReorderedWeights
    private let arguments: [dnnl_exec_arg_t]  // WEIGHTS, BIAS, SCRATCHPAD, SRC, DST
    private let buffers: [UnsafeMutableRawPointer]
    private let lock = Mutex(())

    /// The CPU engine every primitive runs on (made once; nil if oneDNN has none).
    nonisolated(unsafe) private static let engine: dnnl_engine_t? = {
        var engine: dnnl_engine_t?
        return dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success ? engine : nil
    }()

    /// The convolution of a `batch` of channels_last inputs over `geometry`, with `kernel` laid out
    /// `kernel_size + (channels/groups, filters)` and `bias` of `filters` values, each result going through
    /// `steps` as it is stored. The kernel is reordered into the layout the primitive prefers unless
    /// `reordered` holds it in that layout already (then shared); a new layout joins `reordered`.
    init?(kernel: [Float], bias: [Float]?, geometry: WindowGeometry, batch: Int, channels: Int, filters: Int, groups: Int,
          steps: StoreSteps, reordered: inout [ReorderedWeights]) {
        let scaling = steps.scaling
        guard let engine = Self.engine, batch > 0, groups > 0, channels % groups == 0, filters % groups == 0,
              (1 ... 3).contains(geometry.kernel.count),
              kernel.count == geometry.taps * channels / groups * filters, bias.map({ $0.count == filters }) ?? true,
              scaling.map({ $0.scale.count == filters && $0.shift.count == filters }) ?? true
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
        // A value per filter, broadcast over the batch and positions: the scaling's operands.
        guard described == dnnl_success,
              var perFilter = Self.descriptor([1, f] + Array(repeating: 1, count: spatial), [f, 1] + Array(repeating: 1, count: spatial)),
              let attributes = scaling == nil ? Self.attributes(steps, perFilter: nil) : Self.attributes(steps, perFilter: &perFilter)
        else { return nil }
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
        /// A memory object of its own holding `values`, laid out as `descriptor`.
        func ownMemory(_ descriptor: UnsafePointer<dnnl_memory_desc_t>, holding values: [Float]) -> dnnl_memory_t? {
            guard let memory = ownMemory(descriptor) else { return nil }
            var handle: UnsafeMutableRawPointer?
            guard dnnl_memory_get_data_handle(memory, &handle) == dnnl_success, let handle,
                  dnnl_memory_desc_get_size(descriptor) == values.count * MemoryLayout<Float>.size else { return nil }
            values.withUnsafeBytes { handle.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            return memory
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
        guard let layout = dnnl_primitive_desc_query_md(descriptor, dnnl_query_weights_md, 0) else { return nil }
        let weights: ReorderedWeights
        if let known = reordered.first(where: { $0.has(layout) }) {
            weights = known
        } else {
            guard let made = ReorderedWeights(kernel, from: &given, into: layout, engine: engine, stream: stream) else { return nil }
            reordered.append(made)
            weights = made
        }
        var arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: weights.memory)]
        if let bias {
            guard let memory = ownMemory(&biasDescriptor, holding: bias) else { return nil }
            arguments.append(dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: memory))
        }
        if let scaling {
            // The last two post-ops (`attributes`).
            let multiply = Int32(steps.postOpCount - 2)
            guard let scale = ownMemory(&perFilter, holding: scaling.scale), let shift = ownMemory(&perFilter, holding: scaling.shift)
            else { return nil }
            arguments += [dnnl_exec_arg_t(arg: Self.postOpArgument(multiply) | DNNL_ARG_SRC_1, memory: scale),
                          dnnl_exec_arg_t(arg: Self.postOpArgument(multiply + 1) | DNNL_ARG_SRC_1, memory: shift)]
        }
        if let scratch = ownMemory(dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0)) {
            arguments.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: scratch))
        }
        // The activations' memory objects, without buffers until a call gives them.
        var sourceMemory: dnnl_memory_t?, destinationMemory: dnnl_memory_t?
        guard dnnl_memory_create(&sourceMemory, &source, engine, nil) == dnnl_success, let sourceMemory else { return nil }
        made.append(sourceMemory)
        guard dnnl_memory_create(&destinationMemory, &destination, engine, nil) == dnnl_success, let destinationMemory else { return nil }
        made.append(destinationMemory)
        arguments += [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: sourceMemory), dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: destinationMemory)]
        var primitive: dnnl_primitive_t?
        guard dnnl_primitive_create(&primitive, descriptor) == dnnl_success, let primitive else { return nil }
        fine = true
        self.primitive = primitive
        self.stream = stream
        self.source = sourceMemory
        self.destination = destinationMemory
        self.memories = made
        self.weights = weights
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
            // oneDNN reads the source through a non-const handle; it does not write it.
            guard dnnl_memory_set_data_handle(source, UnsafeMutableRawPointer(mutating: input)) == dnnl_success,
                  dnnl_memory_set_data_handle(destination, output) == dnnl_success
            else { return false }
            omp_set_num_threads(1)
            return dnnl_primitive_execute(primitive, stream, Int32(arguments.count), arguments) == dnnl_success
                && dnnl_stream_wait(stream) == dnnl_success
        }
    }

    /// A plain f32 descriptor of `dims` with element `strides`.
    private static func descriptor(_ dims: [Int64], _ strides: [Int64]) -> dnnl_memory_desc_t? {
        var descriptor = dnnl_memory_desc_t()
        return dnnl_memory_desc_init_by_strides(&descriptor, Int32(dims.count), dims, dnnl_f32, strides) == dnnl_success ? descriptor : nil
    }

    /// The execution argument of post-op `index`'s operand (oneDNN's `DNNL_ARG_ATTR_MULTIPLE_POST_OP(index)`).
    private static func postOpArgument(_ index: Int32) -> Int32 { Int32(DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE) * (index + 1) }

    /// Attributes: scratch memory given by the caller, and `steps` as post-ops, in order: a sum (adding the
    /// destination's value), the function as an eltwise post-op (a clamp as ReLU for `0 ... ∞`, clip
    /// otherwise), the scaling as a binary multiply and add by `perFilter` operands.
    private static func attributes(_ steps: StoreSteps, perFilter: UnsafePointer<dnnl_memory_desc_t>?) -> dnnl_primitive_attr_t? {
        var attributes: dnnl_primitive_attr_t?
        guard dnnl_primitive_attr_create(&attributes) == dnnl_success, let attributes else { return nil }
        var fine = dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user) == dnnl_success
        if steps.postOpCount > 0, fine {
            var postOps: dnnl_post_ops_t?
            fine = dnnl_post_ops_create(&postOps) == dnnl_success
            if fine, let postOps {
                if steps.accumulates { fine = dnnl_post_ops_append_sum(postOps, 1) == dnnl_success }
                if let function = steps.function {
                    let (algorithm, alpha, beta): (dnnl_alg_kind_t, Float, Float) = switch function {
                    case .clamp(let range) where range.lowerBound == 0 && range.upperBound == .infinity: (dnnl_eltwise_relu, 0, 0)
                    case .clamp(let range): (dnnl_eltwise_clip, range.lowerBound, range.upperBound)
                    case .sigmoid: (dnnl_eltwise_logistic, 0, 0)
                    case .tanh: (dnnl_eltwise_tanh, 0, 0)
                    case .swish: (dnnl_eltwise_swish, 1, 0)  // x · sigmoid(alpha · x)
                    }
                    fine = fine && dnnl_post_ops_append_eltwise(postOps, 1, algorithm, alpha, beta) == dnnl_success
                }
                if steps.scaling != nil {
                    fine = fine && perFilter != nil && dnnl_post_ops_append_binary(postOps, dnnl_binary_mul, perFilter) == dnnl_success
                        && dnnl_post_ops_append_binary(postOps, dnnl_binary_add, perFilter) == dnnl_success
                }
                fine = fine && dnnl_primitive_attr_set_post_ops(attributes, postOps) == dnnl_success
                dnnl_post_ops_destroy(postOps)
            }
        }
        guard fine else { dnnl_primitive_attr_destroy(attributes); return nil }
        return attributes
    }
}

/// A layer's kernel reordered into the layout a primitive asked for (`format_tag any`): the primitives of one
/// layer (parts of a batch, row parts of one sample) that ask for the same layout share one copy.
final class ReorderedWeights: @unchecked Sendable {
    // @unchecked: written once, in `init`; oneDNN only reads it after.
    private let descriptor: dnnl_memory_desc_t
    let memory: dnnl_memory_t
    private let buffer: UnsafeMutableRawPointer

    /// `kernel`, laid out as `given` describes, copied into a new buffer laid out as `layout`.
    init?(_ kernel: [Float], from given: inout dnnl_memory_desc_t, into layout: UnsafePointer<dnnl_memory_desc_t>,
          engine: dnnl_engine_t, stream: dnnl_stream_t) {
        let bytes = dnnl_memory_desc_get_size(layout)
        guard bytes > 0 else { return nil }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        var memory: dnnl_memory_t?
        guard dnnl_memory_create(&memory, layout, engine, buffer) == dnnl_success, let memory else {
            buffer.deallocate()
            return nil
        }
        guard Self.reorder(kernel, from: &given, into: memory, engine: engine, stream: stream) else {
            dnnl_memory_destroy(memory)
            buffer.deallocate()
            return nil
        }
        descriptor = layout.pointee
        self.memory = memory
        self.buffer = buffer
    }

    deinit {
        dnnl_memory_destroy(memory)
        buffer.deallocate()
    }

    /// Whether these weights are laid out as `layout`.
    func has(_ layout: UnsafePointer<dnnl_memory_desc_t>) -> Bool {
        withUnsafePointer(to: descriptor) { dnnl_memory_desc_equal($0, layout) != 0 }
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

/// A fused BatchNormalization's scale and shift per filter.
struct FilterScaling: Hashable {
    var scale: [Float], shift: [Float]
}

/// What a primitive does to each result as it stores it, in this order (oneDNN post-ops): add the value the
/// destination held (`accumulates`: a residual connection's other input), apply `function`, then scale and
/// shift per filter (`scaling`: a fused BatchNormalization).
struct StoreSteps: Hashable {
    var accumulates = false
    var function: DNNLPostOp?
    var scaling: FilterScaling?

    /// How many post-ops the steps take.
    var postOpCount: Int { (accumulates ? 1 : 0) + (function == nil ? 0 : 1) + (scaling == nil ? 0 : 2) }

    /// The steps for a block of the filters.
    func restricted(to filters: Range<Int>) -> StoreSteps {
        var steps = self
        steps.scaling = scaling.map { FilterScaling(scale: Array($0.scale[filters]), shift: Array($0.shift[filters])) }
        return steps
    }
}

/// An elementwise function oneDNN applies to each result of a convolution as it stores it (an eltwise
/// post-op): a clamp (ReLU, ReLU6, a capped ReLU) or an activation oneDNN computes as Keras does.
package enum DNNLPostOp: Hashable, Sendable {
    case clamp(ClosedRange<Float>)
    case sigmoid, tanh, swish

    /// The epilogue as a post-op, where oneDNN has it.
    package init?(_ epilogue: Epilogue) {
        if let clamp = epilogue.clamp {
            self = .clamp(clamp)
            return
        }
        switch epilogue {
        case .activation(.sigmoid): self = .sigmoid
        case .activation(.tanh): self = .tanh
        case .activation(.swish): self = .swish
        default: return nil
        }
    }
}

/// A layer's convolution through oneDNN, its primitives made on first use for each input shape and post-op
/// (a plan runs a layer at one batch shape, so this is once per layer and batch) and kept; shapes oneDNN
/// refuses are remembered as such, and `callAsFunction` returns nil for them.
///
/// Work is split across `Parallel.workers`: a batch into parts of whole samples, a single sample into bands
/// of output rows (the first spatial axis: each band reads its own rows of the input, padded where the band
/// reaches past them, and writes its own rows of the output, both contiguous). Each part runs a primitive
/// (and scratch memory) of its own single-threaded, the parts sharing one reordered kernel: the engine's
/// threads, not an OpenMP team, use the cores, as for BLAS.gemm, so the two never contend, and a part whose
/// thread is descheduled on a busy machine does not hold the others at a barrier.
package final class DNNLConvolutions: Sendable {
    private struct Key: Hashable {
        var geometry: WindowGeometry
        var batch: Int
        var steps: StoreSteps
        var part: Int
        var filters: Range<Int>
    }

    /// One part of a call: its samples (or one sample's band of rows) over `geometry`, read from `inputOffset`
    /// and written from `outputOffset` (floats from the start of the input and output), for the layer's
    /// `filters` (all, or a block of them).
    private struct Part {
        var geometry: WindowGeometry
        var samples: Int
        var inputOffset: Int
        var outputOffset: Int
        var filters: Range<Int>
    }

    /// A call's parts and their primitives, for a batch, geometry and store steps (a class: handed out of
    /// the lock on every call, by one reference).
    private final class Prepared: Sendable {
        let batch: Int
        let geometry: WindowGeometry
        let steps: StoreSteps
        let parts: [Part]
        let convolutions: [DNNLConvolution]
        /// The output's shape: `[batch] + geometry.outputSize + [filters]`.
        let outputShape: [Int]

        init(batch: Int, geometry: WindowGeometry, steps: StoreSteps, parts: [Part], convolutions: [DNNLConvolution], filters: Int) {
            self.batch = batch
            self.geometry = geometry
            self.steps = steps
            self.parts = parts
            self.convolutions = convolutions
            outputShape = [batch] + geometry.outputSize + [filters]
        }
    }

    /// The most primitives (one per part of a call shape) a layer keeps: a server calling one model at every
    /// batch size from 1 to 64 would otherwise keep every primitive it made, with its code and scratch memory.
    /// When full, the next new call shape starts the collection again; calls in flight keep their own.
    static let keptPrimitives = 32

    /// How many primitives this layer keeps now.
    var keptPrimitiveCount: Int { made.withLock { $0.primitives.count } }

    /// The primitives made so far (nil where oneDNN refused), the kernel in each layout they asked for, and
    /// the last call's parts (the next call, in a plan, is most likely the same: no hashing of its geometry).
    private struct Made {
        var primitives: [Key: DNNLConvolution?] = [:]
        var reordered: [Range<Int>: [ReorderedWeights]] = [:]  // by the block of filters they compute
        var last: Prepared?
    }

    /// The kernel as Keras stores it, `kernel_size + (channels/groups, filters)`, and the bias.
    private let kernel: [Float]
    private let bias: [Float]?
    private let channels: Int, filters: Int, groups: Int
    private let made = Mutex(Made())

    package init(kernel: [Float], bias: [Float]?, channels: Int, filters: Int, groups: Int) {
        self.kernel = kernel
        self.bias = bias
        self.channels = channels
        self.filters = filters
        self.groups = groups
    }

    /// The convolution of a channels_last `input` over `geometry`, `postOp` applied to each result, then
    /// `scaling` per filter (a fused BatchNormalization); nil where oneDNN cannot run it.
    package func callAsFunction(_ input: Tensor, geometry: WindowGeometry, postOp: DNNLPostOp?, scaling: BatchNormFold? = nil) -> Tensor? {
        let steps = StoreSteps(function: postOp, scaling: scaling.map { FilterScaling(scale: $0.scale, shift: $0.shift) })
        let count = input.shape[0] * geometry.outputPositions * filters
        guard let prepared = prepared(input, geometry: geometry, steps: steps) else { return nil }
        // Every value is written by one of the parts.
        var values = [Float](unsafeUninitializedCapacity: count) { $1 = count }
        guard run(prepared, input, into: &values) else { return nil }
        return Tensor(shape: prepared.outputShape, values: values)
    }

    /// Adds the convolution of a channels_last `input` over `geometry` into `accumulator` (a tensor of the
    /// output's shape: a residual connection's other input), in place, then applies `postOp` to each result;
    /// false, leaving `accumulator` as it was, where oneDNN cannot run it.
    package func accumulate(_ input: Tensor, geometry: WindowGeometry, postOp: DNNLPostOp?, into accumulator: inout Tensor) throws -> Bool {
        guard let prepared = prepared(input, geometry: geometry, steps: StoreSteps(accumulates: true, function: postOp)),
              accumulator.shape == prepared.outputShape
        else { return false }
        // A part that fails leaves its outputs half updated: nothing to fall back on.
        guard run(prepared, input, into: &accumulator.values) else { throw EngineError("oneDNN failed to run a convolution") }
        return true
    }

    /// Runs the parts of `prepared` from `input` into `output`, concurrently; false if oneDNN failed in any.
    private func run(_ prepared: Prepared, _ input: Tensor, into output: inout [Float]) -> Bool {
        let parts = prepared.parts, ready = prepared.convolutions, steps = prepared.steps
        let batch = input.shape[0], cells = batch * prepared.geometry.outputPositions, filters = filters
        return output.withUnsafeMutableBufferPointer { output in
            input.values.withUnsafeBufferPointer { input in
                // Each part reads its own samples or rows and writes its own, disjoint, outputs.
                nonisolated(unsafe) let input = input.baseAddress!, output = output.baseAddress!
                if parts.count == 1, parts[0].filters.count == filters {
                    return ready[0].run(input + parts[0].inputOffset, into: output + parts[0].outputOffset)
                }
                let succeeded = Mutex(0)
                Parallel.forEach(parts.count) { index in
                    let part = parts[index]
                    if part.filters.count == filters {
                        if ready[index].run(input + part.inputOffset, into: output + part.outputOffset) { succeeded.withLock { $0 += 1 } }
                        return
                    }
                    // A block of filters: computed apart (from its columns of the accumulator, when the steps add
                    // into it), then copied into its columns of every output cell.
                    let width = part.filters.count
                    var block = [Float](repeating: 0, count: cells * width)
                    let ran = block.withUnsafeMutableBufferPointer { block in
                        let block = block.baseAddress!
                        if steps.accumulates {
                            for cell in 0 ..< cells { (block + cell * width).update(from: output + cell * filters + part.outputOffset, count: width) }
                        }
                        guard ready[index].run(input + part.inputOffset, into: block) else { return false }
                        for cell in 0 ..< cells { (output + cell * filters + part.outputOffset).update(from: block + cell * width, count: width) }
                        return true
                    }
                    if ran { succeeded.withLock { $0 += 1 } }
                }
                return succeeded.withLock { $0 } == parts.count
            }
        }
    }

    /// The parts of a call and their primitives, made if new; nil if oneDNN refuses any.
    private func prepared(_ input: Tensor, geometry: WindowGeometry, steps: StoreSteps) -> Prepared? {
        let batch = input.shape[0]
        guard batch > 0, input.shape.last == channels, input.count == batch * geometry.inputPositions * channels else { return nil }
        return made.withLock { made in
            if let last = made.last, last.batch == batch, last.geometry == geometry, last.steps == steps { return last }
            let parts = self.parts(batch: batch, geometry: geometry)
            if made.primitives.count + parts.count > Self.keptPrimitives { made.primitives.removeAll() }
            let convolutions = parts.enumerated().map { index, part in
                let key = Key(geometry: part.geometry, batch: part.samples, steps: steps, part: index, filters: part.filters)
                if let known = made.primitives[key] { return known }
                let whole = part.filters.count == filters
                let convolution = DNNLConvolution(
                    kernel: whole ? kernel : columns(part.filters), bias: whole ? bias : bias.map { Array($0[part.filters]) },
                    geometry: part.geometry, batch: part.samples, channels: channels, filters: part.filters.count, groups: groups,
                    steps: whole ? steps : steps.restricted(to: part.filters), reordered: &made.reordered[part.filters, default: []])
                made.primitives[key] = convolution
                return convolution
            }
            let ready = convolutions.compactMap { $0 }
            guard ready.count == parts.count else { return nil }
            made.last = Prepared(batch: batch, geometry: geometry, steps: steps, parts: parts, convolutions: ready, filters: filters)
            return made.last
        }
    }

    /// The kernel's columns for `filters` (a block of them; groups of one).
    private func columns(_ block: Range<Int>) -> [Float] {
        stride(from: 0, to: kernel.count, by: filters).flatMap { row in kernel[row + block.lowerBound ..< row + block.upperBound] }
    }

    /// Multiply-adds below which one sample's convolution is not split into bands of rows: a sixteenth of
    /// `Parallel.minimumWorkPerPart`, as a band costs no more than a primitive call on a worker that is already
    /// spinning between the layers of a forward pass. Measured (AMD EPYC, 2 threads, `kconv bench`, best median
    /// of 5 interleaved runs, ms): MobileNetV2 batch 1 0.208 (the general bar: no layer split) → 0.184 here,
    /// 0.190 at a 32nd; EfficientNetB0 batch 1 1.35 → 1.21; conv2d and cnn_bn_small unchanged.
    static let minimumWorkPerBand = Parallel.minimumWorkPerPart / 16

    /// How a call over `batch` samples is split: where the kernel outweighs the activations (deep layers on a
    /// small image), into blocks of filters, so that each core streams its own part of the kernel; otherwise
    /// into parts of whole samples, or, for one sample, bands of output rows. One part when the work is too
    /// small to share.
    private func parts(batch: Int, geometry: WindowGeometry) -> [Part] {
        // oneDNN computes whole 16-filter vectors: a layer of 4 filters costs it as much as one of 16.
        let computedFilters = groups == 1 ? (filters + 15) / 16 * 16 : filters
        let work = batch * geometry.outputPositions * geometry.taps * channels / groups * computedFilters
        let inputSample = geometry.inputPositions * channels, outputSample = geometry.outputPositions * filters
        let whole = [Part(geometry: geometry, samples: batch, inputOffset: 0, outputOffset: 0, filters: 0 ..< filters)]
        if groups == 1, kernel.count > batch * (inputSample + outputSample) {
            // Blocks of whole 16-filter vectors, as oneDNN computes them.
            let blocks = Parallel.split((filters + 15) / 16, into: Parallel.parts(work: work, rows: filters / 16))
            return blocks.map { block in
                let filters = block.lowerBound * 16 ..< min(block.upperBound * 16, filters)
                return Part(geometry: geometry, samples: batch, inputOffset: 0, outputOffset: filters.lowerBound, filters: filters)
            }
        }
        guard batch == 1 else {
            return Parallel.split(batch, into: Parallel.parts(work: work, rows: batch)).map { samples in
                Part(geometry: geometry, samples: samples.count, inputOffset: samples.lowerBound * inputSample,
                     outputOffset: samples.lowerBound * outputSample, filters: 0 ..< filters)
            }
        }
        let rows = geometry.outputSize[0]
        let bands = Parallel.split(rows, into: Parallel.parts(work: work, rows: rows, minimumWork: Self.minimumWorkPerBand))
        guard bands.count > 1, geometry.inputSize[0] > 0 else { return whole }
        let inputRow = inputSample / geometry.inputSize[0], outputRow = outputSample / rows
        var parts: [Part] = []
        for band in bands {
            guard let (part, inputRows) = geometry.slicing(outputRows: band) else { return whole }
            parts.append(Part(geometry: part, samples: 1, inputOffset: inputRows.lowerBound * inputRow,
                              outputOffset: band.lowerBound * outputRow, filters: 0 ..< filters))
        }
        return parts
    }
}
