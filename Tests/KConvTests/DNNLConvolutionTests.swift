import Foundation
import Testing
@testable import KConvEngine
@testable import KConv
import KConvGraph
import KConvIO

/// oneDNN's convolutions (DNNLConvolution.swift) against the sum written out from the definition, on odd
/// sizes: odd channels and filters, strides, dilations, asymmetric explicit padding (as a folded ZeroPadding
/// gives), groups, depthwise with multipliers 1 and 3, each clamp, 1-, 2- and 3-D windows, batches in one
/// part and split across cores, single samples split into bands of rows, kernels split into blocks of filters.
@Suite struct DNNLConvolutionTests {
    struct Case: CustomStringConvertible, Sendable {
        var batch: Int
        var inputSize: [Int], kernel: [Int], strides: [Int], dilation: [Int], padBefore: [Int], outputSize: [Int]
        var channels: Int, filters: Int, groups: Int
        var bias = true
        var clamp: ClosedRange<Float>? = nil
        var geometry: WindowGeometry {
            var geometry = WindowGeometry(inputSize: inputSize, outputSize: outputSize, kernel: kernel, strides: strides, dilation: dilation,
                                          padding: "valid")
            geometry.padBefore = padBefore
            return geometry
        }
        var description: String {
            "b\(batch) \(inputSize)×\(channels) → \(outputSize)×\(filters) k\(kernel) s\(strides) d\(dilation) pad\(padBefore) g\(groups)"
                + (clamp.map { " clamp \($0)" } ?? "")
        }
    }

    static let cases: [Case] = [
        // A 3×3 stride-2 window over odd channels and filters, padded 2 before and 1 after rows, 0 and 2 around columns.
        Case(batch: 2, inputSize: [7, 9], kernel: [3, 3], strides: [2, 2], dilation: [1, 1], padBefore: [2, 0], outputSize: [5, 5],
             channels: 5, filters: 19, groups: 1, clamp: 0 ... .infinity),
        // Dilation with a valid window that stops short of the input's end; no bias; ReLU6.
        Case(batch: 3, inputSize: [11, 10], kernel: [2, 3], strides: [2, 3], dilation: [3, 2], padBefore: [0, 0], outputSize: [4, 2],
             channels: 7, filters: 13, groups: 1, bias: false, clamp: 0 ... 6),
        // Groups, a capped ReLU.
        Case(batch: 2, inputSize: [6, 7], kernel: [3, 2], strides: [1, 1], dilation: [1, 1], padBefore: [1, 1], outputSize: [6, 7],
             channels: 9, filters: 15, groups: 3, clamp: 0 ... 0.5),
        // Depthwise: multiplier 1 (stride 2) and 3 (dilated).
        Case(batch: 2, inputSize: [9, 8], kernel: [3, 3], strides: [2, 2], dilation: [1, 1], padBefore: [1, 0], outputSize: [5, 4],
             channels: 37, filters: 37, groups: 37, clamp: 0 ... 6),
        Case(batch: 1, inputSize: [8, 7], kernel: [3, 3], strides: [1, 1], dilation: [2, 1], padBefore: [2, 1], outputSize: [8, 7],
             channels: 5, filters: 15, groups: 5),
        // 1-D (causal padding) and 3-D.
        Case(batch: 2, inputSize: [13], kernel: [3], strides: [1], dilation: [2], padBefore: [4], outputSize: [13],
             channels: 3, filters: 11, groups: 1),
        Case(batch: 2, inputSize: [5, 6, 4], kernel: [2, 3, 3], strides: [1, 2, 1], dilation: [1, 1, 1], padBefore: [0, 1, 1],
             outputSize: [4, 3, 4], channels: 3, filters: 7, groups: 1, clamp: 0 ... .infinity),
        // Enough samples and work to split across cores.
        Case(batch: 5, inputSize: [17, 15], kernel: [3, 3], strides: [1, 1], dilation: [1, 1], padBefore: [1, 1], outputSize: [17, 15],
             channels: 19, filters: 33, groups: 1, clamp: 0 ... 6),
        Case(batch: 5, inputSize: [33, 31], kernel: [3, 3], strides: [1, 1], dilation: [1, 1], padBefore: [1, 1], outputSize: [33, 31],
             channels: 96, filters: 96, groups: 96),
        // One sample with enough work to split into bands of output rows: strided with the first band reaching
        // into the padding before and the last past the input; dilated 1-D (causal); depthwise.
        Case(batch: 1, inputSize: [33, 31], kernel: [3, 3], strides: [2, 2], dilation: [1, 1], padBefore: [2, 1], outputSize: [17, 16],
             channels: 19, filters: 33, groups: 1, clamp: 0 ... 6),
        Case(batch: 1, inputSize: [501], kernel: [5], strides: [1], dilation: [3], padBefore: [12], outputSize: [501],
             channels: 16, filters: 35, groups: 1),
        Case(batch: 1, inputSize: [65, 63], kernel: [3, 3], strides: [1, 1], dilation: [1, 1], padBefore: [1, 1], outputSize: [65, 63],
             channels: 96, filters: 96, groups: 96, clamp: 0 ... 6),
        // A kernel larger than the activations, split into blocks of filters (the last one partial): one
        // sample, and two through a strided 1×1 window.
        Case(batch: 1, inputSize: [4, 4], kernel: [3, 3], strides: [1, 1], dilation: [1, 1], padBefore: [1, 1], outputSize: [4, 4],
             channels: 64, filters: 88, groups: 1, clamp: 0 ... .infinity),
        Case(batch: 2, inputSize: [5, 5], kernel: [1, 1], strides: [2, 2], dilation: [1, 1], padBefore: [0, 0], outputSize: [3, 3],
             channels: 300, filters: 1030, groups: 1),
    ]

    @Test(arguments: cases)
    func matchesNaive(_ test: Case) throws {
        var random = SplitMix64(seed: UInt64(test.channels * 1009 + test.filters * 31 + test.batch))
        let input = random.tensor([test.batch] + test.inputSize + [test.channels])
        let kernel = random.values(test.kernel.reduce(1, *) * test.channels / test.groups * test.filters)
        let bias = test.bias ? random.values(test.filters) : nil
        let convolutions = DNNLConvolutions(kernel: kernel, bias: bias, channels: test.channels, filters: test.filters, groups: test.groups)
        let got = try #require(convolutions(input, geometry: test.geometry, postOp: test.clamp.map(DNNLPostOp.clamp)), "oneDNN refused \(test)")
        let want = naiveConvolution(input, test.geometry, kernel: kernel, bias: bias, filters: test.filters, groups: test.groups, clamp: test.clamp)
        #expect(want.values.contains { $0 != 0 }, "\(test): the reference is all zeros")
        expectClose(got, want, "\(test)")
        // A second call reuses the primitive made by the first, and gives the same values.
        #expect(convolutions(input, geometry: test.geometry, postOp: test.clamp.map(DNNLPostOp.clamp))?.values == got.values)
    }

    /// Sigmoid, tanh and swish applied by oneDNN as it stores each result (a regular convolution split into
    /// bands of rows, a depthwise one split by samples) match the naive sum through the function written out.
    @Test(arguments: [DNNLPostOp.sigmoid, .tanh, .swish])
    func activationPostOpsMatchNaive(_ postOp: DNNLPostOp) throws {
        var random = SplitMix64(seed: 9)
        let function: (Float) -> Float = switch postOp {
        case .sigmoid: { 1 / (1 + exp(-$0)) }
        case .tanh: { tanh($0) }
        case .swish: { $0 / (1 + exp(-$0)) }
        case .clamp(let range): { min(max($0, range.lowerBound), range.upperBound) }
        }
        for (batch, channels, filters, groups) in [(1, 24, 40, 1), (3, 32, 32, 32)] {
            let geometry = try WindowGeometry(inputSize: [29, 23], kernel: [3, 3], strides: [1, 1], dilation: [1, 1], padding: "same")
            let input = random.tensor([batch, 29, 23, channels])
            let kernel = random.values(9 * channels / groups * filters), bias = random.values(filters)
            let convolutions = DNNLConvolutions(kernel: kernel, bias: bias, channels: channels, filters: filters, groups: groups)
            let got = try #require(convolutions(input, geometry: geometry, postOp: postOp), "oneDNN refused \(postOp)")
            var want = naiveConvolution(input, geometry, kernel: kernel, bias: bias, filters: filters, groups: groups, clamp: nil)
            want.values = want.values.map(function)
            expectClose(got, want, "\(postOp) b\(batch) g\(groups)")
        }
    }

    /// A layer called at every batch size from 1 to 40 (as a server batching requests would) keeps at most
    /// `keptPrimitives` primitives, and computes right after dropping the older ones, back at batch 1 too.
    @Test func keptPrimitivesAreBounded() throws {
        var random = SplitMix64(seed: 11)
        let (channels, filters) = (8, 16)
        let geometry = try WindowGeometry(inputSize: [6, 5], kernel: [3, 3], strides: [1, 1], dilation: [1, 1], padding: "same")
        let kernel = random.values(9 * channels * filters), bias = random.values(filters)
        let convolutions = DNNLConvolutions(kernel: kernel, bias: bias, channels: channels, filters: filters, groups: 1)
        for batch in Array(1 ... 40) + [1, 2] {
            let input = random.tensor([batch, 6, 5, channels])
            let got = try #require(convolutions(input, geometry: geometry, postOp: nil), "oneDNN refused batch \(batch)")
            expectClose(got, naiveConvolution(input, geometry, kernel: kernel, bias: bias, filters: filters, groups: 1, clamp: nil), "batch \(batch)")
            #expect(convolutions.keptPrimitiveCount <= DNNLConvolutions.keptPrimitives)
        }
        #expect(convolutions.keptPrimitiveCount > 0)
    }

    /// A fused BatchNormalization after the clamp (scale and shift per filter, as binary post-ops): one sample
    /// split into blocks of filters, a batch split by samples, a depthwise convolution.
    @Test func scalingPostOpsMatchNaive() throws {
        var random = SplitMix64(seed: 13)
        for (batch, size, channels, filters, groups) in [(1, 4, 64, 88, 1), (4, 13, 3, 21, 1), (2, 9, 24, 24, 24)] {
            let geometry = try WindowGeometry(inputSize: [size, size], kernel: [3, 3], strides: [1, 1], dilation: [1, 1], padding: "same")
            let input = random.tensor([batch, size, size, channels])
            let kernel = random.values(9 * channels / groups * filters), bias = random.values(filters)
            let scaling = try BatchNormFold(BatchNormOp(axes: [3], rank: 4, epsilon: 0), gamma: random.values(filters),
                                            beta: random.values(filters), mean: Array(repeating: 0, count: filters),
                                            variance: Array(repeating: 1, count: filters))
            let convolutions = DNNLConvolutions(kernel: kernel, bias: bias, channels: channels, filters: filters, groups: groups)
            let got = try #require(convolutions(input, geometry: geometry, postOp: .clamp(0 ... 6), scaling: scaling), "oneDNN refused")
            var want = naiveConvolution(input, geometry, kernel: kernel, bias: bias, filters: filters, groups: groups, clamp: 0 ... 6)
            want.values = want.values.enumerated().map { $1 * scaling.scale[$0 % filters] + scaling.shift[$0 % filters] }
            expectClose(got, want, "b\(batch) \(channels) → \(filters) g\(groups)")
        }
    }

    /// A convolution added into a residual in place, then ReLU (a fused Add): one sample split into blocks of
    /// filters, a batch split by samples, one sample split into bands of rows.
    @Test func accumulateAddsIntoTheResidual() throws {
        var random = SplitMix64(seed: 17)
        for (batch, size, channels, filters) in [(1, 4, 64, 88), (4, 13, 8, 24), (1, 33, 19, 33)] {
            let geometry = try WindowGeometry(inputSize: [size, size], kernel: [3, 3], strides: [1, 1], dilation: [1, 1], padding: "same")
            let input = random.tensor([batch, size, size, channels]), residual = random.tensor([batch, size, size, filters])
            let kernel = random.values(9 * channels * filters), bias = random.values(filters)
            let convolutions = DNNLConvolutions(kernel: kernel, bias: bias, channels: channels, filters: filters, groups: 1)
            var got = residual
            #expect(try convolutions.accumulate(input, geometry: geometry, postOp: .clamp(0 ... .infinity), into: &got))
            var want = naiveConvolution(input, geometry, kernel: kernel, bias: bias, filters: filters, groups: 1, clamp: nil)
            want.values = zip(want.values, residual.values).map { max($0 + $1, 0) }
            expectClose(got, want, "b\(batch) \(channels) → \(filters)")
            var wrongShape = Tensor(zeros: [batch, size, size, filters + 1])
            #expect(try !convolutions.accumulate(input, geometry: geometry, postOp: nil, into: &wrongShape))
        }
    }

    /// The direct kernel's few-channel path (`ConvolutionKernel.Method.directFewChannels`, kept off oneDNN) on
    /// every instruction-set level this machine can run (forced in turn), against the naive sum: 1–4 channels,
    /// 1-D and 2-D windows 3 wide, strides along the first axis, `same` and `valid`, lines narrower than a tile
    /// and than the window, a clamp and a fused BatchNormalization, a batch split across cores; and, called
    /// directly, more than one block of filters.
    @Test func fewChannelKernelMatchesNaiveOnEveryLevel() throws {
        let cases: [(batch: Int, size: [Int], kernel: [Int], strides: [Int], padding: String, channels: Int, filters: Int)] = [
            (2, [9, 7], [3, 3], [1, 1], "same", 1, 16), (3, [5, 11], [2, 3], [2, 1], "valid", 3, 4), (1, [13], [3], [1], "same", 2, 5),
            (2, [6, 3], [1, 3], [1, 1], "valid", 4, 13), (4, [2, 2], [3, 3], [1, 1], "same", 3, 7), (10, [21, 19], [3, 3], [1, 1], "same", 1, 16),
        ]
        #expect(Parallel.parts(work: 10 * 21 * 19 * 9 * 16, rows: 10 * 21 * 19) > 1 || Parallel.workers == 1)
        for level in 0 ... NativeKernels.cpuLevel {
            try NativeKernels.withCPULevel(level) {
                var random = SplitMix64(seed: 23)
                for (index, c) in cases.enumerated() {
                    let geometry = try WindowGeometry(inputSize: c.size, kernel: c.kernel, strides: c.strides, dilation: c.size.map { _ in 1 },
                                                      padding: c.padding)
                    let input = random.tensor([c.batch] + c.size + [c.channels])
                    let taps = c.kernel.reduce(1, *)
                    let kernel = random.values(taps * c.channels * c.filters), bias = random.values(c.filters)
                    let convolution = ConvolutionKernel(kernel: kernel, kernelSize: c.kernel, strides: c.strides, dilation: c.size.map { _ in 1 },
                                                        channels: c.channels, filters: c.filters, groups: 1, bias: bias)
                    #expect(convolution.method == .directFewChannels)
                    #expect(!ConvolutionKernel.usesOneDNN(convolution.method, batch: c.batch, geometry: geometry))
                    let scaling = index % 2 == 0 ? nil : try BatchNormFold(
                        BatchNormOp(axes: [c.size.count + 1], rank: c.size.count + 2, epsilon: 0), gamma: random.values(c.filters),
                        beta: random.values(c.filters), mean: Array(repeating: 0, count: c.filters), variance: Array(repeating: 1, count: c.filters))
                    var want = naiveConvolution(input, geometry, kernel: kernel, bias: bias, filters: c.filters, groups: 1, clamp: 0 ... 6)
                    if let scaling {
                        want.values = want.values.enumerated().map { $1 * scaling.scale[$0 % c.filters] + scaling.shift[$0 % c.filters] }
                    }
                    expectClose(convolution(input, geometry: geometry, clamp: 0 ... 6, scaling: scaling), want, "level \(level) \(c)")
                }
                // 21 filters: two blocks of 16, the kernel and bias padded to 32 as `convolveDirect` takes them.
                let geometry = try WindowGeometry(inputSize: [7, 9], kernel: [3, 3], strides: [1, 1], dilation: [1, 1], padding: "same")
                let input = random.tensor([2, 7, 9, 3])
                let kernel = random.values(9 * 3 * 21), bias = random.values(21)
                var padded = [Float](repeating: 0, count: 27 * 32)
                for row in 0 ..< 27 { padded[row * 32 ..< row * 32 + 21] = kernel[row * 21 ..< (row + 1) * 21] }
                let got = NativeKernels.convolveDirect(input.values, window: geometry.threeDimensional, channels: 3, kernel: padded, filters: 21,
                                                       bias: bias + Array(repeating: 0, count: 11), clamp: nil, rows: 0 ..< 2 * 63)
                let want = naiveConvolution(input, geometry, kernel: kernel, bias: bias, filters: 21, groups: 1, clamp: nil)
                expectClose(Tensor(shape: want.shape, values: got), want, "level \(level) 3 → 21")
            }
        }
    }

    /// The kernels a layer runs, on oneDNN where `ConvolutionKernel.usesOneDNN` says so (a 5×3 window: kconv's
    /// direct method; a depthwise one), against the naive sum, in a batch split across cores.
    @Test func kernelsOnOneDNNMatchNaive() throws {
        var random = SplitMix64(seed: 5)
        let geometry = try WindowGeometry(inputSize: [17, 15], kernel: [5, 3], strides: [1, 1], dilation: [1, 1], padding: "same")
        let input = random.tensor([5, 17, 15, 19])
        let kernel = random.values(15 * 19 * 33), bias = random.values(33)
        let convolution = ConvolutionKernel(kernel: kernel, kernelSize: [5, 3], strides: [1, 1], dilation: [1, 1], channels: 19, filters: 33,
                                            groups: 1, bias: bias)
        #expect(ConvolutionKernel.usesOneDNN(convolution.method, batch: 5, geometry: geometry))
        let want = naiveConvolution(input, geometry, kernel: kernel, bias: bias, filters: 33, groups: 1, clamp: 0 ... 6)
        expectClose(convolution(input, geometry: geometry, clamp: 0 ... 6), want, "direct")

        let depthwiseKernel = random.values(15 * 19 * 2)
        let depthwise = DNNLConvolutions(kernel: depthwiseKernel, bias: nil, channels: 19, filters: 38, groups: 19)
        let wantDepthwise = naiveConvolution(input, geometry, kernel: depthwiseKernel, bias: nil, filters: 38, groups: 19, clamp: nil)
        expectClose(depthwiseConvolve(input, geometry: geometry, kernel: depthwiseKernel, multiplier: 2, bias: nil, oneDNN: depthwise),
                    wantDepthwise, "depthwise")
    }

    /// oneDNN picks its kernels once per process, capped by DNNL_MAX_CPU_ISA: at each instruction set this
    /// machine runs, a process of its own runs the MobileNetV2 fixture on its Keras inputs repeated to a
    /// batch of 12 (its convolutions run on oneDNN, the larger ones split across cores) and its outputs must be
    /// Keras's, repeated, within the fixture's tolerance.
    @Test func mobileNetOnOneDNNAtEveryInstructionSet() throws {
        let folder = Fixtures.cases.appendingPathComponent("app_mobilenet_v2")
        let reference = try NumPy.readNPZ(folder.appendingPathComponent("keras2.ref.npz").path)
        let input = try #require(reference.first { $0.name == "in_0" }?.array), output = try #require(reference.first { $0.name == "out_0" }?.array)
        let copies = 4
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-dnnl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let batched = directory.appendingPathComponent("in.npy").path, outputs = directory.appendingPathComponent("out.npz").path
        try NumPy.writeNPY(NumPyArray(shape: [input.shape[0] * copies] + input.shape.dropFirst(),
                                      values: Array(repeating: input.values, count: copies).flatMap { $0 }), to: batched)
        let levels = [("SSE41", 0), ("AVX2", 1), ("AVX512_CORE", 2)]
        for (isa, level) in levels where level <= NativeKernels.cpuLevel {
            let run = try CommandLineTests.run(["run", folder.appendingPathComponent("keras2.h5").path, "--input", batched, "--output", outputs, "--force"],
                                               environment: ["DNNL_MAX_CPU_ISA": isa])
            #expect(run.status == 0, "\(isa): \(run.stderr)")
            let got = try #require(NumPy.readNPZ(outputs).first?.array)
            let want = Array(repeating: output.values, count: copies).flatMap { $0 }
            #expect(got.values.count == want.count, "\(isa)")
            let worst = zip(got.values, want).map { abs($0 - $1) - (1e-5 + 1e-4 * abs($1)) }.max() ?? 0
            #expect(worst <= 0, "\(isa): max error \(worst) beyond the fixture's tolerance")
        }
    }
}

/// Cross-correlation straight from the definition over `geometry` (padding read from it), with `kernel` as
/// Keras stores it, `kernel_size + (channels/groups, filters)`, then clamped.
private func naiveConvolution(_ x: Tensor, _ geometry: WindowGeometry, kernel: [Float], bias: [Float]?, filters: Int, groups: Int,
                              clamp: ClosedRange<Float>?) -> Tensor {
    let window = geometry.threeDimensional
    let batch = x.shape[0], channels = x.shape[x.rank - 1]
    let groupChannels = channels / groups, groupFilters = filters / groups
    let (in0, in1, in2) = (window.inputSize[0], window.inputSize[1], window.inputSize[2])
    let (out0, out1, out2) = (window.outputSize[0], window.outputSize[1], window.outputSize[2])
    var values: [Float] = []
    for n in 0 ..< batch {
        for o0 in 0 ..< out0 { for o1 in 0 ..< out1 { for o2 in 0 ..< out2 {
            for f in 0 ..< filters {
                var sum = Double(bias?[f] ?? 0)
                for t0 in 0 ..< window.kernel[0] { for t1 in 0 ..< window.kernel[1] { for t2 in 0 ..< window.kernel[2] {
                    let i0 = o0 * window.strides[0] - window.padBefore[0] + t0 * window.dilation[0]
                    let i1 = o1 * window.strides[1] - window.padBefore[1] + t1 * window.dilation[1]
                    let i2 = o2 * window.strides[2] - window.padBefore[2] + t2 * window.dilation[2]
                    guard (0 ..< in0).contains(i0), (0 ..< in1).contains(i1), (0 ..< in2).contains(i2) else { continue }
                    let tap = (t0 * window.kernel[1] + t1) * window.kernel[2] + t2
                    for c in 0 ..< groupChannels {
                        let inputChannel = f / groupFilters * groupChannels + c
                        let value = x.values[(((n * in0 + i0) * in1 + i1) * in2 + i2) * channels + inputChannel]
                        sum += Double(value) * Double(kernel[(tap * groupChannels + c) * filters + f])
                    }
                }}}
                let result = Float(sum)
                values.append(clamp.map { min(max(result, $0.lowerBound), $0.upperBound) } ?? result)
            }
        }}}
    }
    return Tensor(shape: [batch] + geometry.outputSize + [filters], values: values)
}
