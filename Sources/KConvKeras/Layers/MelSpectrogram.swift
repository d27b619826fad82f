import Foundation
import KConvGraph
import KConvIO

/// Keras 3 `MelSpectrogram` (keras 3.15 `preprocessing/mel_spectrogram.py` on the TensorFlow backend): a
/// `(batch, samples)` signal reflect-padded by `fft_length / 2` at both ends (`center=True`), cut into frames
/// of `fft_length` every `sequence_stride` samples, each frame windowed (a periodic `hann` or `hamming` window
/// of `sequence_length` centred in the frame, or none) and Fourier transformed; then `|STFT| ^ mag_exp`,
/// weighted into `num_mel_bins` HTK mel bands (`linear_to_mel_weight_matrix`), with `power_to_db`
/// `10·log10(max(S, min_power) / max(|ref_power|, min_power))` floored at the largest value of the whole
/// batch minus `top_db`, and laid out as `(batch, num_mel_bins, frames)`. The layer holds no weights: the
/// window and DFT are one constant convolution kernel (as `STFTSpectrogram` stores its own), the mel bands a
/// constant matrix.
package final class MelSpectrogram: Layer {
    package override class var kerasClassNames: [String] { ["MelSpectrogram"] }
    package override class var examples: [LayerExample] {
        [LayerExample("MelSpectrogram", ["fft_length": 16, "sequence_stride": 8, "sampling_rate": 800, "num_mel_bins": 4], inputs: [[40]])]
    }
    package override class var absentIn: [KerasDialect: String] { [.keras2: "tf-keras has no MelSpectrogram"] }
    package let fftLength: Int
    package let stride: Int
    package let sequenceLength: Int
    /// `hann`, `hamming`, or nil for no window.
    package let window: String?
    package let samplingRate: Double
    package let melBins: Int
    package let minFrequency: Double
    package let maxFrequency: Double
    /// The decibel scaling's `top_db`, `min_power` and `ref_power`, or nil without `power_to_db`.
    package let decibels: (topDB: Double, minPower: Double, referencePower: Double)?
    package let magnitudeExponent: Double

    package required init(_ context: LayerContext) throws {
        let config = context.config
        fftLength = try config.positiveInt("fft_length", default: 2048)
        stride = try config.positiveInt("sequence_stride", default: 512)
        sequenceLength = try config.positiveInt("sequence_length", default: fftLength)
        guard sequenceLength <= fftLength else {
            throw config.error("sequence_length", expected: "at most fft_length \(fftLength)", found: config.object["sequence_length"])
        }
        window = config.has("window") ? try config.choice("window", ["hann", "hamming"], default: "hann") : nil
        samplingRate = try config.double("sampling_rate", default: 16000)
        melBins = try config.positiveInt("num_mel_bins", default: 128)
        minFrequency = try config.double("min_freq", default: 20)
        // Keras: `max_freq or int(sampling_rate / 2)`.
        maxFrequency = try config.optionalDouble("max_freq").flatMap { $0 == 0 ? nil : $0 } ?? Double(Int(samplingRate / 2))
        guard samplingRate > 0, minFrequency < maxFrequency else {
            throw config.error("max_freq", expected: "above min_freq \(minFrequency) with a positive sampling_rate", found: config.object["max_freq"])
        }
        magnitudeExponent = try config.double("mag_exp", default: 2)
        if try config.bool("power_to_db", default: true) {
            // Keras's default is 80; a null top_db makes Keras's own call fail.
            guard let topDB = config.object["top_db"] == nil ? 80 : try config.optionalDouble("top_db") else {
                throw config.error("top_db", expected: "a number (power_to_db is true)", found: config.object["top_db"])
            }
            decibels = (topDB, try config.double("min_power", default: 1e-10), try config.double("ref_power", default: 1))
        } else {
            decibels = nil
        }
        try super.init(context)
    }

    /// The non-redundant frequency bins of one frame.
    private var frequencies: Int { fftLength / 2 + 1 }
    /// The reflected samples added at each end.
    private var padding: Int { fftLength / 2 }

    /// The input's samples (known, more than the padding) and the output's frames.
    private func sizes(_ input: TensorShape) throws -> (samples: Int, frames: Int) {
        guard input.count == 2, let samples = input[1], samples > padding, samples + 2 * padding >= fftLength else {
            throw ModelError(layer: label, "expected a (batch, samples) input with a known number of samples above fft_length / 2 = \(padding), found \(input.kerasDescription)")
        }
        return (samples, (samples + 2 * padding - fftLength) / stride + 1)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        return [[input[0], melBins, try sizes(input).frames]]
    }

    /// `tf.signal.hann_window` / `hamming_window(sequence_length, periodic=True)` padded with zeros to
    /// `fft_length` as `keras.ops.stft` does; all ones without a window.
    private func windowValues() -> [Double] {
        guard let window else { return Array(repeating: 1, count: fftLength) }
        let a = window == "hann" ? 0.5 : 0.54
        let left = (fftLength - sequenceLength) / 2
        return (0..<fftLength).map { index in
            let n = index - left
            guard (0..<sequenceLength).contains(n) else { return 0 }
            return a - (1 - a) * cos(2 * Double.pi * Double(n) / Double(sequenceLength))
        }
    }

    /// The windowed DFT's real or imaginary part as a `(fft_length, 1, frequencies)` convolution kernel.
    private func dftKernel(imaginary: Bool) -> [Float] {
        let window = windowValues()
        var kernel = [Float](repeating: 0, count: fftLength * frequencies)
        for sample in 0..<fftLength {
            for bin in 0..<frequencies {
                let angle = 2 * Double.pi * Double(sample * bin % fftLength) / Double(fftLength)
                kernel[sample * frequencies + bin] = Float(window[sample] * (imaginary ? -sin(angle) : cos(angle)))
            }
        }
        return kernel
    }

    /// Keras's `linear_to_mel_weight_matrix`: `(frequencies, num_mel_bins)` triangles on the HTK mel scale,
    /// the DC bin zero.
    private func melMatrix() -> [Float] {
        func mel(_ hertz: Double) -> Double { 1127 * log(1 + hertz / 700) }
        let (low, high) = (mel(minFrequency), mel(maxFrequency))
        let edges = (0..<(melBins + 2)).map { low + (high - low) * Double($0) / Double(melBins + 1) }
        var matrix = [Float](repeating: 0, count: frequencies * melBins)
        for bin in 1..<max(frequencies, 1) {
            let frequency = mel(samplingRate / 2 * Double(bin) / Double(frequencies - 1))
            for band in 0..<melBins {
                let rising = (frequency - edges[band]) / (edges[band + 1] - edges[band])
                let falling = (edges[band + 2] - frequency) / (edges[band + 2] - edges[band + 1])
                matrix[bin * melBins + band] = Float(max(0, min(rising, falling)))
            }
        }
        return matrix
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let x = try singleInput(call).value
        guard let inputShape = builtInputShapes?.first else { throw EngineError("the layer was never built") }
        let (samples, frames) = try sizes(inputShape)
        try requireBudget(floats: fftLength, by: frequencies, for: "the (fft_length, 1, fft_length / 2 + 1) DFT kernel")
        try requireBudget(floats: frequencies, by: melBins, for: "the (fft_length / 2 + 1, num_mel_bins) mel matrix")
        let batch = graph.type(of: x).shape?.first
        let node = { (op: Op, inputs: [ValueID?], shape: [Int], graph: inout Graph) in
            self.addNode(op, inputs, shape: batch.map { [$0] + shape.map(Dim.size) }, into: &graph)
        }
        let constant = { (name: String, shape: [Int], values: [Float], graph: inout Graph) in
            graph.constant(Constant(origin: self.label, name: name, shape: shape, read: { values }))
        }
        // tf.pad(mode="reflect"): x[p], …, x[1] before, x[n−2], …, x[n−1−p] after.
        let whole = SliceIndex.range(start: nil, stop: nil, step: 1)
        let before = node(.slice([whole, .range(start: padding, stop: 0, step: -1)]), [x], [padding], &graph)
        let after = node(.slice([whole, .range(start: -2, stop: -padding - 2, step: -1)]), [x], [padding], &graph)
        let padded = samples + 2 * padding
        let reflected = graph.add(.concatenate(ConcatenateOp(axis: 1, keras3Masks: true)), inputs: [before, x, after, nil, nil, nil],
                                  outputs: [ValueType(dtype: .float32, shape: batch.map { [$0, .size(padded)] }), ValueType(dtype: .bool, shape: nil)],
                                  origin: label)[0]
        let signal = node(.reshape(keepingAxes: 1, to: [padded, 1]), [reflected], [padded, 1], &graph)
        let convolution = ConvolutionOp(kind: .regular(filters: frequencies, groups: 1), kernelSize: [fftLength], strides: [stride],
                                        padding: "valid", dilation: [1], channelsFirst: false, useBias: false, activation: .linear)
        let spectrum = [frames, frequencies]
        let squares = [false, true].map { imaginary in
            let kernel = constant(imaginary ? "imag_kernel" : "real_kernel", [fftLength, 1, frequencies], dftKernel(imaginary: imaginary), &graph)
            let part = node(.convolution(convolution), [signal, kernel], spectrum, &graph)
            return node(.binary(.multiply), [part, part], spectrum, &graph)
        }
        let magnitude = node(.math(.sqrt), [node(.binary(.add), squares, spectrum, &graph)], spectrum, &graph)
        let exponent = constant("mag_exp", [], [Float(magnitudeExponent)], &graph)
        let power = node(.binary(.power), [magnitude, exponent], spectrum, &graph)
        let bands = constant("mel_weights", [frequencies, melBins], melMatrix(), &graph)
        let melShape = [frames, melBins]
        var result = node(.dense(activation: .linear), [power, bands, nil], melShape, &graph)
        if let (topDB, minPower, referencePower) = decibels {
            let floored = node(.math(.atLeast(Float(minPower))), [result], melShape, &graph)
            let reference = 10 * log10(max(abs(referencePower), minPower))
            let scaled = node(.scaleShift(scale: [Float(10 / log(10.0))], offset: [Float(-reference)]), [node(.math(.log), [floored], melShape, &graph)], melShape, &graph)
            // The floor is the largest value of the whole batch, as Keras's `ops.max(log_spec)` takes it.
            let largest = addNode(.reduce(ReduceOp(kind: .max, axes: nil, keepDims: false)), [scaled], shape: [], into: &graph)
            let floor = addNode(.scaleShift(scale: [1], offset: [Float(-topDB)]), [largest], shape: [], into: &graph)
            result = node(.binary(.maximum), [scaled, floor], melShape, &graph)
        }
        let output = addNode(.transpose([0, 2, 1]), [result], shape: call.outputShapes?.first?.dims, into: &graph)
        return [LoweredTensor(value: output, mask: nil)]
    }
}
