import Testing
@testable import KConvGraph
@testable import KConvEngine
@testable import KConv

/// The plan's whole-model rewrite (`FusedProgram`): BatchNormalizations folded into the layer before them and
/// activations fused into their producer, against the same graph run node by node, on odd sizes; and the
/// convolution kernels' epilogue against clamping their unclamped results, on every instruction-set level.
@Suite struct FusionTests {
    /// Builds a graph of random weights (variances positive), counting the nodes the plan should fold away.
    private struct Builder {
        var graph = Graph()
        var random = SplitMix64(seed: 21)
        /// BatchNormalizations and activations that should fold or fuse into the node before them.
        var foldable = 0

        mutating func weight(_ shape: [Int], positive: Bool = false) -> ValueID {
            let values = random.values(shape.reduce(1, *)).map { positive ? abs($0) + 0.2 : $0 }
            return graph.constant(Constant(origin: "layer 'test'", name: "w", shape: shape) { values })
        }

        mutating func node(_ op: Op, _ inputs: [ValueID?], outputs: Int = 1) -> [ValueID] {
            let types = (0..<outputs).map { ValueType(dtype: $0 == 0 ? .float32 : .bool, shape: nil) }
            return graph.add(op, inputs: inputs, outputs: types, origin: "layer 'test'")
        }

        /// A convolution with kernels of `shapes` (and a bias of `bias` values).
        mutating func convolution(_ x: ValueID, _ kind: ConvolutionOp.Kind, kernel: [Int], strides: [Int]? = nil, padding: String = "same",
                                  shapes: [[Int]], bias: Int? = nil, channelsFirst: Bool = false) -> ValueID {
            let op = ConvolutionOp(kind: kind, kernelSize: kernel, strides: strides ?? kernel.map { _ in 1 }, padding: padding,
                                   dilation: kernel.map { _ in 1 }, channelsFirst: channelsFirst, useBias: bias != nil, activation: .linear)
            let weights = shapes.map { weight($0) } + (bias.map { [weight([$0])] } ?? [])
            return node(.convolution(op), [x] + weights)[0]
        }

        /// A BatchNormalization of `channels` on `axis` (the last by default) of a rank-4 value.
        mutating func batchNorm(_ x: ValueID, channels: Int, axis: Int = 3, folds: Bool = true) -> ValueID {
            if folds { foldable += 1 }
            let statistics = [weight([channels]), weight([channels]), weight([channels]), weight([channels], positive: true)]
            return node(.batchNorm(BatchNormOp(axes: [axis], rank: 4, epsilon: 1e-3)), [x] + statistics)[0]
        }

        mutating func activation(_ op: Op, _ x: ValueID, fuses: Bool = true) -> ValueID {
            if fuses { foldable += 1 }
            return node(op, [x])[0]
        }

        mutating func add(_ a: ValueID, _ b: ValueID) -> ValueID {
            node(.merge(MergeOp(operation: .add, keras3Masks: false)), [a, b, nil, nil], outputs: 2)[0]
        }
    }

    /// Every kind of producer and activation the rewrite handles (regular convolutions on the direct and
    /// Winograd kernels, depthwise, separable, transposed with its strided channels, Dense, Add; ReLU, ReLU6,
    /// capped ReLU, swish, tanh, sigmoid), channels_first, and what it must leave alone (a value read twice, a
    /// model output): the fused plan runs exactly the expected nodes and computes what the graph computes.
    @Test func fusedPlanMatchesTheGraphRunNodeByNode() throws {
        var b = Builder()
        let x = b.graph.newValue(ValueType(dtype: .float32, shape: nil))
        b.graph.inputs = [x]
        var y = b.convolution(x, .regular(filters: 5, groups: 1), kernel: [3, 3], shapes: [[3, 3, 3, 5]])
        y = b.activation(.rectifier(negativeSlope: 0, maxValue: 6, threshold: 0), b.batchNorm(y, channels: 5))
        y = b.convolution(y, .regular(filters: 13, groups: 1), kernel: [1, 1], shapes: [[1, 1, 5, 13]], bias: 13)
        y = b.activation(.activation(.relu), b.batchNorm(y, channels: 13))
        y = b.convolution(y, .regular(filters: 9, groups: 1), kernel: [3, 3], shapes: [[3, 3, 13, 9]])  // Winograd
        y = b.activation(.activation(.swish), b.batchNorm(y, channels: 9))
        y = b.convolution(y, .depthwise, kernel: [3, 3], strides: [2, 2], padding: "valid", shapes: [[3, 3, 9, 2]], bias: 18)
        y = b.activation(.rectifier(negativeSlope: 0, maxValue: 0.7, threshold: 0), b.batchNorm(y, channels: 18))
        y = b.batchNorm(b.convolution(y, .separable, kernel: [3, 3], shapes: [[3, 3, 18, 1], [1, 1, 18, 7]], bias: 7), channels: 7)
        y = b.convolution(y, .transposed(filters: 6, outputPadding: nil), kernel: [2, 2], strides: [2, 2], shapes: [[2, 2, 6, 7]])
        y = b.activation(.activation(.tanh), b.batchNorm(y, channels: 6))
        // Read by its BatchNormalization and by the Add: neither folds.
        let shared = b.convolution(y, .regular(filters: 6, groups: 1), kernel: [1, 1], shapes: [[1, 1, 6, 6]], bias: 6)
        let sum = b.add(y, shared)
        y = b.add(b.activation(.rectifier(negativeSlope: 0, maxValue: nil, threshold: 0), sum), b.batchNorm(shared, channels: 6, folds: false))
        y = b.node(.dense(activation: .linear), [y, b.weight([6, 11]), nil])[0]
        y = b.activation(.activation(.sigmoid), b.batchNorm(y, channels: 11))
        // channels_first, and an activation whose input is also a model output.
        let z = b.convolution(x, .regular(filters: 4, groups: 1), kernel: [3, 3], shapes: [[3, 3, 9, 4]], channelsFirst: true)
        let normalised = b.activation(.activation(.relu6), b.batchNorm(z, channels: 4, axis: 1))
        let kept = b.convolution(normalised, .regular(filters: 3, groups: 1), kernel: [1, 1], shapes: [[1, 1, 4, 3]], bias: 3, channelsFirst: true)
        b.graph.outputs = [y, kept, b.activation(.activation(.tanh), kept, fuses: false)]

        let fused = try Plan(b.graph), plain = try Plan(b.graph, fusing: false)
        #expect(b.foldable == 16)
        #expect(fused.fusedNodeCount == b.graph.nodes.count - b.foldable)
        #expect(plain.fusedNodeCount == b.graph.nodes.count)
        let input = b.random.tensor([2, 9, 7, 3])
        let got = try fused.run([.tensor(input)]).outputs, want = try plain.run([.tensor(input)]).outputs
        #expect(got.count == 3 && want.count == 3)
        for (index, (got, want)) in zip(got, want).enumerated() { expectClose(got, want, "output \(index)") }

        // Asking for a value the fused nodes skip (a convolution's output before its folded BatchNormalization,
        // an Add's before its ReLU) runs the graph as it is.
        let retained = try fused.run([.tensor(input)], retain: [sum, z]), reference = try plain.run([.tensor(input)], retain: [sum, z])
        for value in [sum, z] { expectClose(retained.retained[value], reference.retained[value], "retained value \(value.index)") }
        for (index, (got, want)) in zip(retained.outputs, want).enumerated() { expectClose(got, want, "output \(index) with retained values") }
    }

    /// Both tensors, of one shape, not all zero (a comparison that would prove nothing), equal within
    /// rounding (the kernels' sums may round differently from run to run).
    private func expectClose(_ got: Plan.Slot?, _ want: Plan.Slot?, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let got = got?.tensor, let want = want?.tensor else {
            Issue.record("\(label) missing", sourceLocation: sourceLocation)
            return
        }
        #expect(got.shape == want.shape, "\(label)", sourceLocation: sourceLocation)
        #expect(want.values.contains { $0 != 0 }, "\(label) is all zeros", sourceLocation: sourceLocation)
        let worst = zip(got.values, want.values).map { abs($0 - $1) - 1e-5 * max(1, abs($1)) }.max() ?? 0
        #expect(worst <= 0, "\(label): max error \(worst) beyond tolerance", sourceLocation: sourceLocation)
    }

    /// The direct, Winograd, im2col + GEMM and depthwise kernels with a clamp as their epilogue store exactly
    /// their unclamped results clamped, on odd sizes and every instruction-set level this machine can run.
    @Test func clampEpilogueMatchesClampingAfter() throws {
        for level in 0 ... NativeKernels.cpuLevel {
            try NativeKernels.withCPULevel(level) {
                var random = SplitMix64(seed: 22)
                let clamp: ClosedRange<Float> = -0.3 ... 0.4
                func expectClamped(_ run: (ClosedRange<Float>?) throws -> Tensor, _ label: String) rethrows {
                    let free = try run(nil), clamped = try run(clamp)
                    #expect(free.values.contains { $0 < clamp.lowerBound } && free.values.contains { $0 > clamp.upperBound },
                            "level \(level) \(label): no value to clamp")
                    #expect(clamped.values == free.values.map { min(max($0, clamp.lowerBound), clamp.upperBound) }, "level \(level) \(label)")
                }
                // (channels, filters, kernel, groups): direct (pointwise and 3×3 over few channels), Winograd, GEMM.
                for (channels, filters, kernel, groups) in [(5, 19, [1, 1], 1), (3, 21, [3, 3], 1), (11, 37, [3, 3], 1), (6, 9, [2, 3], 3)] {
                    let input = random.tensor([2, 7, 9, channels])
                    let weights = random.values(kernel.reduce(1, *) * channels / groups * filters)
                    let convolution = ConvolutionKernel(kernel: weights, kernelSize: kernel, strides: [1, 1], dilation: [1, 1], channels: channels,
                                                        filters: filters, groups: groups, bias: random.values(filters))
                    let geometry = try WindowGeometry(inputSize: [7, 9], kernel: kernel, strides: [1, 1], dilation: [1, 1], padding: "same")
                    try expectClamped({ convolution(input, geometry: geometry, clamp: $0) }, "\(convolution.method) \(channels) → \(filters)")
                }
                for (channels, multiplier) in [(37, 1), (5, 2)] {
                    let input = random.tensor([2, 7, 9, channels])
                    let kernel = random.values(9 * channels * multiplier), bias = random.values(channels * multiplier)
                    let geometry = try WindowGeometry(inputSize: [7, 9], kernel: [3, 3], strides: [2, 1], dilation: [1, 1], padding: "same")
                    try expectClamped({ depthwiseConvolve(input, geometry: geometry, kernel: kernel, multiplier: multiplier, bias: bias, clamp: $0) },
                                      "depthwise \(channels) × \(multiplier)")
                }
            }
        }
    }
}
