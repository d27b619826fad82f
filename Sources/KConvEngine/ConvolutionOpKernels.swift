import KConvGraph
import Synchronization
/// A convolution made ready to run: its weights read once and laid out for the method that computes it.
package struct PreparedConvolution {
    package let op: ConvolutionOp
    package let weights: [Tensor]
    /// The regular convolution's kernel, packed for its method (Winograd, direct or im2col + GEMM).
    package let kernel: ConvolutionKernel?
    /// The depthwise (or separable's depthwise) kernel through oneDNN, one group per channel.
    private let depthwiseOneDNN: DNNLConvolutions?
    /// Zeros added around the input before the convolution (a ZeroPadding the plan folded into it), which the
    /// window reads as padding: never with a transposed convolution.
    package let inputPadding: SpatialPadding?
    /// The window geometry (a transposed convolution's, for one) over the last input shape seen: a plan runs a
    /// layer at one shape, so this is computed once (keyed by the whole shape, which a call compares without
    /// making an array of its spatial sizes).
    private let lastGeometry = LastComputed<[Int], WindowGeometry>()

    package init(_ op: ConvolutionOp, weights: [Tensor], inputPadding: SpatialPadding? = nil) throws {
        let expected: Int
        switch op.kind {
        case .regular, .transposed, .depthwise: expected = op.useBias ? 2 : 1
        case .separable: expected = op.useBias ? 3 : 2
        }
        guard weights.count == expected else { throw EngineError("expected \(expected) weights, found \(weights.count)") }
        if case .transposed = op.kind { precondition(inputPadding == nil, "a transposed convolution's input is never padded") }
        self.op = op
        self.weights = weights
        self.inputPadding = inputPadding
        if case .regular(let filters, let groups) = op.kind {
            guard groups > 0, filters % groups == 0 else { throw EngineError("groups (\(groups)) must divide filters (\(filters))") }
            let kernelWeights = weights[0]
            kernel = ConvolutionKernel(kernel: kernelWeights.values, kernelSize: op.kernelSize, strides: op.strides, dilation: op.dilation,
                                       channels: kernelWeights.shape[op.rank] * groups, filters: filters, groups: groups,
                                       bias: op.useBias ? weights[1].values : nil)
        } else {
            kernel = nil
        }
        // Keras's depthwise `kernel_size + (C, M)`: C groups of one input channel and M filters each. A kernel of
        // another rank is refused when the layer runs.
        let depthwise = weights[0]
        switch op.kind {
        case .depthwise, .separable:
            guard depthwise.rank == op.rank + 2 else { depthwiseOneDNN = nil; break }
            let channels = depthwise.shape[op.rank], multiplier = depthwise.shape[op.rank + 1]
            var bias: [Float]? = nil
            if case .depthwise = op.kind, op.useBias { bias = weights[1].values }
            depthwiseOneDNN = DNNLConvolutions(kernel: depthwise.values, bias: bias, channels: channels,
                                               filters: channels * multiplier, groups: channels)
        case .regular, .transposed:
            depthwiseOneDNN = nil
        }
    }

    /// The convolution of `input`, then its activation, or `epilogue` in its place (an activation the plan fused
    /// into a linear convolution), then `scaling` per output channel (a BatchNormalization the plan fused into a
    /// regular or depthwise convolution whose activation is a clamp or none). A clamp (ReLU, ReLU6) and the
    /// scaling run inside the kernels that can store through one.
    ///
    /// With `residual` (an Add the plan fused into a linear convolution, its other input), the convolution's
    /// output plus `residual` goes through `epilogue`: on oneDNN the sum happens as the results are stored, in
    /// the residual's own values when nothing else holds them.
    package func run(_ input: Tensor, then epilogue: Epilogue? = nil, scaling: BatchNormFold? = nil,
                     addingTo residual: consuming Tensor? = nil) throws -> Tensor {
        if var sum = residual.take() {
            precondition(scaling == nil && op.activation == .linear, "a fused Add follows a linear convolution")
            let epilogue = epilogue ?? .activation(.linear)
            let postOp = DNNLPostOp(epilogue)
            if case .regular = op.kind, !op.channelsFirst, let kernel, postOp != nil || epilogue.isIdentity {
                let input = try channelsLast(input, channels: kernel.channels)
                if try kernel.accumulateOnOneDNN(input, geometry: geometry(over: input), postOp: postOp, into: &sum) { return sum }
            }
            // Elsewhere, as the graph has it: the convolution, the Add (with NumPy broadcasting, as Merge between
            // tensors of one rank), the activation.
            sum = try Tensor.broadcasting(run(input), sum, .add)
            try epilogue.apply(to: &sum)
            return sum
        }
        let rank = op.rank
        let epilogue = epilogue ?? .activation(op.activation)
        // Clamped, then scaled, as the kernel stores its results, wherever the layout is (clamps are
        // elementwise; the kernels compute channels_last).
        let clamp = epilogue.clamp ?? (scaling != nil && epilogue.isIdentity ? -Float.infinity ... Float.infinity : nil)
        precondition(scaling == nil || clamp != nil, "a fused BatchNormalization follows a clamp or nothing")
        switch op.kind {
        case .regular:
            guard let kernel else { throw EngineError("the convolution's kernel was not prepared") }
            let input = try channelsLast(input, channels: kernel.channels)
            let geometry = try geometry(over: input)
            // An activation oneDNN applies as it stores (sigmoid, tanh, swish) saves a pass over the output.
            if scaling == nil, clamp == nil, let postOp = DNNLPostOp(epilogue),
               let output = kernel.onOneDNN(input, geometry: geometry, postOp: postOp) {
                return try finishing(output, epilogue, applied: true)
            }
            return try finishing(kernel(input, geometry: geometry, clamp: clamp, scaling: scaling), epilogue, applied: clamp != nil)
        case .transposed(let filters, let outputPadding):
            precondition(scaling == nil, "a fused BatchNormalization follows a regular or depthwise convolution")
            let kernel = weights[0]
            let input = try channelsLast(input, channels: kernel.shape[rank + 1])
            let geometry = try transposedGeometry(over: input, outputPadding: outputPadding)
            return try finishing(convolveTransposed(input, geometry: geometry, kernel: kernel.values, filters: filters, bias: bias(at: 1)),
                                 epilogue)
        case .depthwise:
            let kernel = weights[0]
            let input = try channelsLast(input, channels: kernel.shape[rank])
            if scaling == nil, clamp == nil, let postOp = DNNLPostOp(epilogue), let depthwiseOneDNN,
               let output = try depthwiseOneDNN(input, geometry: geometry(over: input), postOp: postOp) {
                return try finishing(output, epilogue, applied: true)
            }
            return try finishing(depthwise(input, kernel: kernel, bias: bias(at: 1), clamp: clamp, scaling: scaling), epilogue,
                                 applied: clamp != nil)
        case .separable:
            precondition(scaling == nil, "a fused BatchNormalization follows a regular or depthwise convolution")
            let depthwiseKernel = weights[0], pointwiseKernel = weights[1]
            let input = try channelsLast(input, channels: depthwiseKernel.shape[rank])
            let perChannel = try depthwise(input, kernel: depthwiseKernel, bias: nil, clamp: nil, scaling: nil)
            let pointwise = pointwiseKernel.reshaped(Array(pointwiseKernel.shape.suffix(2)))
            return try finishing(denseProduct(perChannel, kernel: pointwise, bias: op.useBias ? weights[2] : nil), epilogue)
        }
    }

    private func bias(at index: Int) -> [Float]? { op.useBias ? weights[index].values : nil }

    /// The input in channels_last layout, after checking its rank and that it has `channels` channels.
    private func channelsLast(_ input: Tensor, channels expected: Int) throws -> Tensor {
        let moved = try channelsLastInput(input, rank: op.rank, channelsFirst: op.channelsFirst)
        guard moved.shape[op.rank + 1] == expected else {
            throw EngineError("expected \(expected) input channels, found \(moved.shape[op.rank + 1]) in shape \(input.shape)")
        }
        return moved
    }

    /// The window over the spatial axes of a channels_last input (and the zeros `inputPadding` adds around it).
    private func geometry(over input: Tensor) throws -> WindowGeometry {
        try lastGeometry.value(for: input.shape) {
            let size = Array(input.shape[1...op.rank])
            return if let inputPadding {
                try WindowGeometry(inputSize: size, adding: inputPadding, kernel: op.kernelSize, strides: op.strides, dilation: op.dilation,
                                   padding: op.padding)
            } else {
                try WindowGeometry(inputSize: size, kernel: op.kernelSize, strides: op.strides, dilation: op.dilation, padding: op.padding)
            }
        }
    }

    /// A transposed convolution's geometry over a channels_last input: that of the forward convolution from its
    /// output back to the input, as TensorFlow places the windows (for `same`, padding as a SAME convolution
    /// between the two sizes).
    private func transposedGeometry(over input: Tensor, outputPadding: [Int]?) throws -> WindowGeometry {
        try lastGeometry.value(for: input.shape) {
            let inputSize = Array(input.shape[1...op.rank])
            let outputSize = inputSize.indices.map { axis in
                deconvOutputLength(inputSize[axis], kernel: op.kernelSize[axis], padding: op.padding,
                                   outputPadding: outputPadding?[axis], stride: op.strides[axis], dilation: op.dilation[axis]) ?? 0
            }
            guard outputSize.allSatisfy({ $0 > 0 }) else {
                throw EngineError("spatial input \(inputSize) gives an empty output \(outputSize)")
            }
            return WindowGeometry(inputSize: outputSize, outputSize: inputSize, kernel: op.kernelSize, strides: op.strides,
                                  dilation: op.dilation, padding: op.padding)
        }
    }

    /// The depthwise convolution of a channels_last input with a `kernel_size + (C, M)` kernel.
    private func depthwise(_ input: Tensor, kernel: Tensor, bias: [Float]?, clamp: ClosedRange<Float>?, scaling: BatchNormFold?) throws -> Tensor {
        try depthwiseConvolve(input, geometry: geometry(over: input), kernel: kernel.values,
                              multiplier: kernel.shape[op.rank + 1], bias: bias, clamp: clamp, scaling: scaling,
                              oneDNN: depthwiseOneDNN)
    }

    /// A channels_last result moved back to the layer's data format, then through `epilogue` (after the move,
    /// so that a softmax runs over the last axis Keras sees), unless the kernel `applied` it already. The
    /// result is consumed, so the epilogue updates its values in place.
    private func finishing(_ output: consuming Tensor, _ epilogue: Epilogue, applied: Bool = false) throws -> Tensor {
        if op.channelsFirst { output = toChannelsFirst(output) }
        if !applied { try epilogue.apply(to: &output) }
        return output
    }
}

/// The value computed for the last key given, shared by the copies of the value holding it: what a kernel
/// derives from its input's shape, which a plan keeps the same from run to run.
final class LastComputed<Key: Equatable & Sendable, Value: Sendable>: Sendable {
    private let last = Mutex<(key: Key, value: Value)?>(nil)

    /// The value for `key`: the stored one if `key` is the last key stored (compared in place: only the value is
    /// copied out), else `compute()`'s, stored for it.
    func value(for key: Key, computing compute: () throws -> Value) rethrows -> Value {
        if let known = last.withLock({ last in last?.key == key ? last?.value : nil }) { return known }
        let value = try compute()
        last.withLock { $0 = (key, value) }
        return value
    }
}
