import KConvGraph
import KConvIO

/// Keras 3 `STFTSpectrogram`: a short-time Fourier transform of each channel of a `(batch, time, channels)`
/// signal (channels_first: `(batch, channels, time)`), as Keras computes it: a strided 1-D convolution of
/// every channel with the stored `real_kernel` and `imag_kernel` `(frame_length, 1, fft_length / 2 + 1)`
/// (the window and DFT folded together when the layer was built), then by `mode` the real or imaginary
/// part, both (`stft`), the power (`psd`, bins 1 … n−2 doubled), the magnitude `sqrt(max(power, ε))` or its
/// log `log(max(magnitude, ε))`, ε = 1e-7. The frequencies of all channels are laid side by side
/// (`channels · frequencies` features) or, with `expand_dims`, kept on their own axis.
package final class STFTSpectrogram: Layer {
    package override class var kerasClassNames: [String] { ["STFTSpectrogram"] }
    package override class var examples: [LayerExample] {
        [LayerExample("STFTSpectrogram", ["frame_length": 8, "frame_step": 4, "window": nil], inputs: [[16, 1]])]
    }
    package override class var absentIn: [KerasDialect: String] { [.keras2: "tf-keras has no STFTSpectrogram"] }
    package let mode: String
    package let frameLength: Int
    package let frameStep: Int
    package let fftLength: Int
    package let padding: String
    package let expandDims: Bool
    package let channelsFirst: Bool

    /// Keras's `backend.epsilon()`, the floor of the power and of the magnitude.
    private static let epsilon: Float = 1e-7

    package required init(_ context: LayerContext) throws {
        let config = context.config
        mode = try config.choice("mode", ["log", "magnitude", "psd", "real", "imag", "angle", "stft"], default: "log")
        frameLength = try config.int("frame_length", default: 256)
        guard frameLength > 0 else { throw config.error("frame_length", expected: "a positive number", found: config.object["frame_length"]) }
        frameStep = try config.optionalInt("frame_step") ?? frameLength / 2
        guard (1...frameLength).contains(frameStep) else {
            throw config.error("frame_step", expected: "a positive number not above frame_length \(frameLength)", found: config.object["frame_step"])
        }
        // Keras: the next power of two from frame_length unless given.
        fftLength = try config.optionalInt("fft_length") ?? (1 << (Int.bitWidth - (frameLength - 1).leadingZeroBitCount))
        guard fftLength >= frameLength else {
            throw config.error("fft_length", expected: "at least frame_length \(frameLength)", found: config.object["fft_length"])
        }
        padding = try config.choice("padding", ["valid", "same"], default: "valid")
        expandDims = try config.bool("expand_dims", default: false)
        channelsFirst = try config.channelsFirst()
        try super.init(context)
    }

    override package var unsupportedReason: String? {
        mode == "angle" ? "mode 'angle' needs atan2, which kconv does not compute" : nil
    }

    /// The frequency bins of one kernel.
    private var frequencies: Int { fftLength / 2 + 1 }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let shape = [frameLength, 1, frequencies]
        let names = (mode == "imag" ? [] : ["real_kernel"]) + (mode == "real" ? [] : ["imag_kernel"])
        return names.enumerated().map { index, name in weight(name, shape, index: index) }
    }

    /// The input's time steps and channels (both must be known), and the output's frames.
    private func sizes(_ input: TensorShape) throws -> (time: Int, channels: Int, frames: Int) {
        guard input.count == 3, case let (time?, channels?) = channelsFirst ? (input[2], input[1]) : (input[1], input[2]),
              let frames = convOutputLength(time, kernel: frameLength, padding: padding, stride: frameStep), frames > 0 else {
            throw ModelError(layer: label, "expected a (batch, time, channels) input with known sizes and at least frame_length \(frameLength) steps, found \(input.kerasDescription)")
        }
        return (time, channels, frames)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        let (_, channels, frames) = try sizes(input)
        let bins = mode == "stft" ? 2 * frequencies : frequencies
        let shape: TensorShape = switch (expandDims, channelsFirst) {
        case (true, false): [input[0], frames, bins, channels]
        case (true, true): [input[0], channels, frames, bins]
        case (false, false): [input[0], frames, channels * bins]
        case (false, true): [input[0], channels * bins, frames]
        }
        return [shape]
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        var x = try singleInput(call).value
        guard let inputShape = builtInputShapes?.first else { throw EngineError("the layer was never built") }
        let (time, channels, frames) = try sizes(inputShape)
        let batch = graph.type(of: x).shape?.first
        let node = { (op: Op, inputs: [ValueID?], shape: [Int], graph: inout Graph) in
            self.addNode(op, inputs, shape: batch.map { [$0] + shape.map(Dim.size) }, into: &graph)
        }
        if !channelsFirst { x = node(.transpose([0, 2, 1]), [x], [channels, time], &graph) }
        // Every channel a signal of its own: (batch · channels, time, 1), its first axis known when the batch is.
        let signalCount: Dim = switch batch {
        case .size(let size)?: .size(size * channels)
        default: .symbol("batch·\(channels)")
        }
        let folded = { (shape: [Int]) in [signalCount] + shape.map(Dim.size) }
        let signals = addNode(.reshape(keepingAxes: 0, to: [-1, time, 1]), [x], shape: folded([time, 1]), into: &graph)
        let convolution = ConvolutionOp(kind: .regular(filters: frequencies, groups: 1), kernelSize: [frameLength], strides: [frameStep],
                                        padding: padding, dilation: [1], channelsFirst: false, useBias: false, activation: .linear)
        // Each part as (batch, channels, frequencies, frames), Keras's layout before `_adjust_shapes`.
        let parts = try weightValues(&graph).map { kernel in
            let transform = addNode(.convolution(convolution), [signals, kernel], shape: folded([frames, frequencies]), into: &graph)
            let rows = addNode(.transpose([0, 2, 1]), [transform], shape: folded([frequencies, frames]), into: &graph)
            return node(.reshape(keepingAxes: 0, to: [-1, channels, frequencies, frames]), [rows], [channels, frequencies, frames], &graph)
        }
        let partShape = [channels, frequencies, frames]
        var result: ValueID
        switch mode {
        case "real", "imag":
            result = parts[0]
        case "stft":
            // A concatenation also gives a (here absent) mask, which must be a value of its own.
            let joined = batch.map { [$0] + [channels, 2 * frequencies, frames].map(Dim.size) }
            result = graph.add(.concatenate(ConcatenateOp(axis: 2, keras3Masks: true)), inputs: [parts[0], parts[1], nil, nil],
                               outputs: [ValueType(dtype: .float32, shape: joined), ValueType(dtype: .bool, shape: nil)], origin: label)[0]
        default:
            let squares = parts.map { node(.binary(.multiply), [$0, $0], partShape, &graph) }
            let power = node(.binary(.add), squares, partShape, &graph)
            if mode == "psd" {
                // power + power[:, :, 1:-1, :] padded back with zeros: the inner bins doubled.
                let inner = node(.pad(before: [0, 0, -1, 0], after: [0, 0, -1, 0]), [power], [channels, frequencies - 2, frames], &graph)
                let padded = node(.pad(before: [0, 0, 1, 0], after: [0, 0, 1, 0]), [inner], partShape, &graph)
                result = node(.binary(.add), [power, padded], partShape, &graph)
            } else {
                let floored = node(.math(.atLeast(Self.epsilon)), [power], partShape, &graph)
                result = node(.math(.sqrt), [floored], partShape, &graph)
                if mode == "log" {
                    result = node(.math(.log), [node(.math(.atLeast(Self.epsilon)), [result], partShape, &graph)], partShape, &graph)
                }
            }
        }
        let bins = mode == "stft" ? 2 * frequencies : frequencies
        let shape = call.outputShapes?.first?.dims
        switch (expandDims, channelsFirst) {
        case (true, _):
            result = addNode(.transpose(channelsFirst ? [0, 1, 3, 2] : [0, 3, 2, 1]), [result], shape: shape, into: &graph)
        case (false, true):
            result = addNode(.reshape(keepingAxes: 1, to: [channels * bins, frames]), [result], shape: shape, into: &graph)
        case (false, false):
            let stacked = node(.reshape(keepingAxes: 1, to: [channels * bins, frames]), [result], [channels * bins, frames], &graph)
            result = addNode(.transpose([0, 2, 1]), [stacked], shape: shape, into: &graph)
        }
        return [LoweredTensor(value: result, mask: nil)]
    }
}
