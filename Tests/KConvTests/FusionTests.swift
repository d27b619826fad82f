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
        /// The shape given every node's first output and every input (unknown by default).
        var shape: [Dim]? = nil

        mutating func weight(_ shape: [Int], positive: Bool = false) -> ValueID {
            let values = random.values(shape.reduce(1, *)).map { positive ? abs($0) + 0.2 : $0 }
            return graph.constant(Constant(origin: "layer 'test'", name: "w", shape: shape) { values })
        }

        mutating func node(_ op: Op, _ inputs: [ValueID?], outputs: Int = 1) -> [ValueID] {
            let types = (0..<outputs).map { ValueType(dtype: $0 == 0 ? .float32 : .bool, shape: $0 == 0 ? shape : nil) }
            return graph.add(op, inputs: inputs, outputs: types, origin: "layer 'test'")
        }

        /// A convolution with kernels of `shapes` (and a bias of `bias` values).
        mutating func convolution(_ x: ValueID, _ kind: ConvolutionOp.Kind, kernel: [Int], strides: [Int]? = nil, padding: String = "same",
                                  shapes: [[Int]], bias: Int? = nil, channelsFirst: Bool = false, activation: Activation = .linear) -> ValueID {
            let op = ConvolutionOp(kind: kind, kernelSize: kernel, strides: strides ?? kernel.map { _ in 1 }, padding: padding,
                                   dilation: kernel.map { _ in 1 }, channelsFirst: channelsFirst, useBias: bias != nil, activation: activation)
            let weights = shapes.map { weight($0) } + (bias.map { [weight([$0])] } ?? [])
            return node(.convolution(op), [x] + weights)[0]
        }

        /// A BatchNormalization of `channels` on `axis` (the last by default) of a value of `rank`.
        mutating func batchNorm(_ x: ValueID, channels: Int, axis: Int? = nil, rank: Int = 4, folds: Bool = true) -> ValueID {
            if folds { foldable += 1 }
            let statistics = [weight([channels]), weight([channels]), weight([channels]), weight([channels], positive: true)]
            return node(.batchNorm(BatchNormOp(axes: [axis ?? rank - 1], rank: rank, epsilon: 1e-3)), [x] + statistics)[0]
        }

        /// Zeros added `before` and `after` the axes of `x` (ZeroPadding; negative amounts crop).
        mutating func pad(_ x: ValueID, before: [Int], after: [Int], folds: Bool = true) -> ValueID {
            if folds { foldable += 1 }
            return node(.pad(before: before, after: after), [x])[0]
        }

        /// A graph input.
        mutating func input() -> ValueID {
            let x = graph.newValue(ValueType(dtype: .float32, shape: shape))
            graph.inputs.append(x)
            return x
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

    /// An Add fused into the linear convolution producing either of its inputs (the other added as the results
    /// are stored, then the Add's ReLU): a 1×1 convolution and a 3×3 one (on oneDNN at batch 1, Winograd at
    /// batch 4, with the sum after it); and left alone where the convolution's output is read twice, the
    /// convolution has an activation of its own, or it is channels_first. At both batches the fused plan runs
    /// exactly the expected nodes and computes what the graph computes.
    @Test func addFusesIntoTheConvolutionBeforeIt() throws {
        var b = Builder()
        b.shape = [.symbol("batch"), .size(9), .size(7), .size(8)]
        let x = b.input()
        func pointwise(_ input: ValueID, activation: Activation = .linear) -> ValueID {
            b.convolution(input, .regular(filters: 8, groups: 1), kernel: [1, 1], shapes: [[1, 1, 8, 8]], bias: 8, activation: activation)
        }
        // Fused, with the Add's ReLU (which fuses into the Add first): residual second, then first.
        let sum = b.add(pointwise(x), x)
        var y = b.activation(.activation(.relu), sum)
        let threeByThree = b.convolution(y, .regular(filters: 8, groups: 1), kernel: [3, 3], shapes: [[3, 3, 8, 8]])
        y = b.add(y, threeByThree)
        b.foldable += 2
        // Left alone: an output read twice, a convolution's own activation, channels_first.
        let shared = pointwise(y)
        let twice = b.add(shared, y)
        let activated = b.add(pointwise(y, activation: .relu), twice)
        let first = b.convolution(activated, .regular(filters: 9, groups: 1), kernel: [1, 1], shapes: [[1, 1, 9, 9]], channelsFirst: true)
        b.graph.outputs = [b.add(first, activated), shared]

        let fused = try Plan(b.graph), plain = try Plan(b.graph, fusing: false)
        #expect(fused.fusedNodeCount == b.graph.nodes.count - b.foldable)
        for batch in [1, 4] {
            let input = b.random.tensor([batch, 9, 7, 8])
            let got = try fused.run([.tensor(input)]).outputs, want = try plain.run([.tensor(input)]).outputs
            for (index, (got, want)) in zip(got, want).enumerated() { expectClose(got, want, "batch \(batch) output \(index)") }
        }
    }

    /// Residual blocks in a chain, as MobileNetV2 lowers them: each Add reads the mask the Add before it outputs,
    /// which is never there (no input carries a mask), so each Add still fuses into its convolution. The masks
    /// read by an Add after a Masking are there, and that Add stays.
    @Test func chainedAddsFuseThroughTheirAbsentMasks() throws {
        var b = Builder()
        b.shape = [.symbol("batch"), .size(5), .size(6), .size(4)]
        let x = b.input()
        var (sum, mask) = (x, nil as ValueID?)
        for _ in 0 ..< 3 {
            let convolved = b.convolution(sum, .regular(filters: 4, groups: 1), kernel: [1, 1], shapes: [[1, 1, 4, 4]], bias: 4)
            let outputs = b.node(.merge(MergeOp(operation: .add, keras3Masks: true)), [sum, convolved, mask, nil], outputs: 2)
            (sum, mask) = (outputs[0], outputs[1])
            b.foldable += 1
        }
        let masked = b.node(.masking(value: 0.5), [sum], outputs: 2)
        let last = b.node(.merge(MergeOp(operation: .add, keras3Masks: false)), [masked[0], sum, masked[1], mask], outputs: 2)
        b.graph.outputs = [last[0], last[1]]

        let fused = try Plan(b.graph), plain = try Plan(b.graph, fusing: false)
        #expect(fused.fusedNodeCount == b.graph.nodes.count - b.foldable)
        let input = b.random.tensor([2, 5, 6, 4])
        let got = try fused.run([.tensor(input)]).outputs, want = try plain.run([.tensor(input)]).outputs
        expectClose(got[0], want[0], "last sum")
        #expect(got[1]?.mask == want[1]?.mask && got[1]?.mask != nil)
    }

    /// Inputs a step did not take as weights when it was made still reach it: a recurrent layer's initial state
    /// held as a constant runs as that state (as the same state fed as an input does, and unlike none).
    @Test func constantInitialStatesReachTheRecurrentStep() throws {
        var b = Builder()
        let op = RecurrentOp(cell: .simple, units: 5, activation: .tanh, recurrentActivation: .sigmoid, useBias: true,
                             goBackwards: false, returnSequences: true, zeroOutputForMask: false)
        let x = b.input(), fed = b.input()
        let weights = [b.weight([3, 5]), b.weight([5, 5]), b.weight([5])], state = b.weight([2, 5])
        let recurrent = Op.recurrent(op, weights: 3, returnState: false)
        b.graph.outputs = [b.node(recurrent, [x, nil] + weights + [state])[0], b.node(recurrent, [x, nil] + weights + [fed])[0],
                           b.node(recurrent, [x, nil] + weights)[0]]
        let input = b.random.tensor([2, 4, 3]), stateValues = try #require(b.graph.constants[state]).read()
        let outputs = try Plan(b.graph).run([.tensor(input), .tensor(Tensor(shape: [2, 5], values: stateValues))]).outputs
        expectClose(outputs[0], outputs[1], "constant state against the state fed")
        #expect(outputs[0]?.tensor != outputs[2]?.tensor, "the constant state was not read")
    }

    /// An Add of a linear convolution's output and a constant stays a node of its own: fused, the constant
    /// would be taken for one of the convolution's weights.
    @Test func addOfAConstantStaysApart() throws {
        var b = Builder()
        b.shape = [.symbol("batch"), .size(5), .size(4), .size(3)]
        let x = b.input()
        let convolved = b.convolution(x, .regular(filters: 3, groups: 1), kernel: [1, 1], shapes: [[1, 1, 3, 3]], bias: 3)
        b.graph.outputs = [b.add(convolved, b.weight([2, 5, 4, 3]))]
        let fused = try Plan(b.graph), plain = try Plan(b.graph, fusing: false)
        #expect(fused.fusedNodeCount == b.graph.nodes.count)
        let input = b.random.tensor([2, 5, 4, 3])
        expectClose(try fused.run([.tensor(input)]).outputs[0], try plain.run([.tensor(input)]).outputs[0], "sum")
    }

    /// ZeroPadding folded into the convolution after it, on either side and unequal (as MobileNetV2 pads before
    /// its strided depthwise convolutions), over 1, 2 and 3 spatial axes: regular convolutions on each kernel
    /// (Winograd, direct, im2col + GEMM for groups, a 1×1 window that is no longer pointwise), depthwise with
    /// multipliers 1 and 2, separable, channels_first, with `same` and `valid` windows; and left alone where
    /// it must be: before a transposed convolution or a pooling, cropping, read twice, a model output.
    @Test func zeroPaddingFoldsIntoTheConvolutionAfterIt() throws {
        var b = Builder()
        let x = b.input(), line = b.input(), volume = b.input(), first = b.input()
        var y = b.pad(x, before: [0, 2, 0, 0], after: [0, 1, 3, 0])
        y = b.convolution(y, .regular(filters: 9, groups: 1), kernel: [3, 3], shapes: [[3, 3, 3, 9]], bias: 9)  // direct (3 channels)
        y = b.pad(y, before: [0, 0, 1, 0], after: [0, 1, 0, 0])
        y = b.convolution(y, .regular(filters: 10, groups: 1), kernel: [3, 3], padding: "valid", shapes: [[3, 3, 9, 10]])  // Winograd
        y = b.pad(y, before: [0, 1, 1, 0], after: [0, 2, 0, 0])
        y = b.convolution(y, .depthwise, kernel: [3, 3], strides: [2, 2], padding: "valid", shapes: [[3, 3, 10, 1]], bias: 10)
        y = b.pad(y, before: [0, 1, 0, 0], after: [0, 0, 2, 0])
        y = b.convolution(y, .depthwise, kernel: [2, 3], shapes: [[2, 3, 10, 2]])
        y = b.pad(y, before: [0, 1, 2, 0], after: [0, 0, 1, 0])
        y = b.convolution(y, .regular(filters: 6, groups: 2), kernel: [2, 2], strides: [1, 2], shapes: [[2, 2, 10, 6]], bias: 6)  // GEMM
        y = b.pad(y, before: [0, 1, 0, 0], after: [0, 0, 1, 0])
        y = b.convolution(y, .regular(filters: 17, groups: 1), kernel: [1, 1], shapes: [[1, 1, 6, 17]])
        y = b.pad(y, before: [0, 2, 1, 0], after: [0, 1, 1, 0])
        let image = b.convolution(y, .separable, kernel: [3, 3], strides: [2, 2], padding: "valid", shapes: [[3, 3, 17, 1], [1, 1, 17, 5]], bias: 5)

        var z = b.pad(line, before: [0, 3, 0], after: [0, 1, 0])
        let sequence = b.convolution(z, .regular(filters: 4, groups: 1), kernel: [3], strides: [2], padding: "valid", shapes: [[3, 3, 4]])
        z = b.pad(volume, before: [0, 1, 0, 2, 0], after: [0, 0, 1, 1, 0])
        let cube = b.convolution(z, .regular(filters: 5, groups: 1), kernel: [2, 3, 2], shapes: [[2, 3, 2, 2, 5]], bias: 5)
        z = b.pad(first, before: [0, 0, 1, 0], after: [0, 0, 0, 2])
        let channelsFirst = b.convolution(z, .regular(filters: 3, groups: 1), kernel: [3, 3], padding: "valid", shapes: [[3, 3, 2, 3]],
                                          channelsFirst: true)

        // Not folded: a transposed convolution, a max pooling, a crop, a padding read twice, a padding that is a model output.
        var kept = b.pad(first, before: [0, 0, 1, 1], after: [0, 0, 1, 0], folds: false)
        kept = b.convolution(kept, .transposed(filters: 3, outputPadding: nil), kernel: [2, 2], strides: [2, 2], shapes: [[2, 2, 3, 2]],
                             channelsFirst: true)
        kept = b.pad(kept, before: [0, 0, 1, 0], after: [0, 0, 0, 1], folds: false)
        kept = b.node(.pool(PoolOp(reduction: .max, poolSize: [2, 2], strides: [2, 2], padding: "valid", channelsFirst: true)), [kept])[0]
        let cropped = b.pad(x, before: [0, -1, 1, 0], after: [0, 0, 0, 0], folds: false)
        let twice = b.pad(x, before: [0, 1, 1, 0], after: [0, 1, 1, 0], folds: false)
        let read = b.convolution(b.convolution(cropped, .depthwise, kernel: [2, 2], shapes: [[2, 2, 3, 1]]), .depthwise, kernel: [3, 3],
                                 shapes: [[3, 3, 3, 1]])
        let output = b.pad(line, before: [0, 1, 0], after: [0, 1, 0], folds: false)
        let sum = b.add(twice, b.convolution(twice, .regular(filters: 3, groups: 1), kernel: [3, 3], shapes: [[3, 3, 3, 3]]))
        let shown = b.convolution(output, .depthwise, kernel: [3], shapes: [[3, 3, 1]])
        b.graph.outputs = [image, sequence, cube, channelsFirst, kept, read, sum, output, shown]

        let inputs = [b.random.tensor([2, 9, 8, 3]), b.random.tensor([3, 10, 3]), b.random.tensor([2, 4, 5, 3, 2]), b.random.tensor([2, 2, 6, 7])]
        try expectFusedMatchesPlain(b, inputs: inputs, folded: 10)
    }

    /// A BatchNormalization after a convolution's ReLU, ReLU6 or capped ReLU (its own activation or one fused
    /// into it) fused into the kernel's epilogue as a scale and shift per channel, on the direct, Winograd,
    /// GEMM and depthwise kernels, 1-D and channels_first, after a BatchNormalization already folded into the
    /// convolution; and left alone after a swish (not a clamp), a separable convolution and a Dense.
    @Test func batchNormalizationAfterAClampFusesIntoTheConvolution() throws {
        var b = Builder()
        let x = b.input(), line = b.input(), first = b.input()
        var y = b.convolution(x, .regular(filters: 13, groups: 1), kernel: [3, 3], shapes: [[3, 3, 3, 13]], bias: 13, activation: .relu)  // direct
        y = b.batchNorm(y, channels: 13)
        y = b.convolution(y, .regular(filters: 18, groups: 1), kernel: [3, 3], shapes: [[3, 3, 13, 18]])  // Winograd
        y = b.batchNorm(b.activation(.activation(.relu6), b.batchNorm(y, channels: 18)), channels: 18)
        y = b.convolution(y, .depthwise, kernel: [3, 3], strides: [2, 1], shapes: [[3, 3, 18, 1]], bias: 18, activation: .relu)
        y = b.batchNorm(y, channels: 18)
        y = b.convolution(y, .depthwise, kernel: [3, 2], shapes: [[3, 2, 18, 2]])
        y = b.batchNorm(b.activation(.rectifier(negativeSlope: 0, maxValue: 0.8, threshold: 0), y), channels: 36)
        y = b.convolution(y, .regular(filters: 10, groups: 2), kernel: [2, 2], shapes: [[2, 2, 18, 10]], bias: 10, activation: .relu)  // GEMM
        y = b.batchNorm(y, channels: 10)
        // Not fused: after a swish, after a separable convolution (but folded forward into the Dense reading
        // it), after a Dense.
        y = b.convolution(y, .regular(filters: 7, groups: 1), kernel: [1, 1], shapes: [[1, 1, 10, 7]], activation: .swish)
        y = b.batchNorm(y, channels: 7, folds: false)
        y = b.convolution(y, .separable, kernel: [3, 3], shapes: [[3, 3, 7, 1], [1, 1, 7, 6]], activation: .relu)
        y = b.batchNorm(y, channels: 6)
        y = b.node(.dense(activation: .relu), [y, b.weight([6, 5]), nil])[0]
        let image = b.batchNorm(y, channels: 5, folds: false)

        var z = b.convolution(line, .regular(filters: 21, groups: 1), kernel: [3], shapes: [[3, 4, 21]], activation: .relu)
        let sequence = b.batchNorm(z, channels: 21, rank: 3)
        z = b.convolution(first, .regular(filters: 5, groups: 1), kernel: [3, 3], shapes: [[3, 3, 2, 5]], bias: 5, channelsFirst: true,
                          activation: .relu)
        let channelsFirst = b.batchNorm(z, channels: 5, axis: 1)
        b.graph.outputs = [image, sequence, channelsFirst]

        let inputs = [b.random.tensor([2, 9, 7, 3]), b.random.tensor([3, 11, 4]), b.random.tensor([2, 2, 6, 7])]
        try expectFusedMatchesPlain(b, inputs: inputs, folded: b.foldable)
    }

    /// A BatchNormalization that cannot fold back (after a Dense's ReLU, a convolution's swish) folded forward
    /// into the Dense reading it, directly (a Dense without bias too) or through a GlobalAveragePooling
    /// (channels_last with keepdims, channels_first); left alone before a GlobalMaxPooling, or when its output
    /// is also a model output.
    @Test func batchNormalizationFoldsForwardIntoTheDenseAfterIt() throws {
        var b = Builder()
        let x = b.input(), image = b.input(), first = b.input()
        var y = b.node(.dense(activation: .relu), [x, b.weight([5, 7]), b.weight([7])])[0]
        y = b.node(.dense(activation: .tanh), [b.batchNorm(y, channels: 7, rank: 2), b.weight([7, 6]), nil])[0]
        let kept = b.batchNorm(y, channels: 6, rank: 2, folds: false)
        let dense = b.node(.dense(activation: .linear), [kept, b.weight([6, 4]), b.weight([4])])[0]
        func pooled(_ x: ValueID, _ reduction: PoolReduction, channelsFirst: Bool, folds: Bool = true) -> ValueID {
            let features = b.convolution(x, .regular(filters: 9, groups: 1), kernel: [3, 3], shapes: [[3, 3, 3, 9]], channelsFirst: channelsFirst,
                                         activation: .swish)
            let normalised = b.batchNorm(features, channels: 9, axis: channelsFirst ? 1 : 3, folds: folds)
            let op = GlobalPoolOp(reduction: reduction, rank: 2, channelsFirst: channelsFirst, keepDims: !channelsFirst)
            return b.node(.dense(activation: .linear), [b.node(.globalPool(op), [normalised, nil])[0], b.weight([9, 5]), b.weight([5])])[0]
        }
        let average = pooled(image, .average, channelsFirst: false), averageFirst = pooled(first, .average, channelsFirst: true)
        let maximum = pooled(image, .max, channelsFirst: false, folds: false)
        b.graph.outputs = [dense, kept, average, averageFirst, maximum]
        let inputs = [b.random.tensor([3, 5]), b.random.tensor([2, 6, 5, 3]), b.random.tensor([2, 3, 5, 6])]
        try expectFusedMatchesPlain(b, inputs: inputs, folded: 3)
    }

    /// The graph `b` built run fused and node by node on `inputs`: the fused plan runs `folded` nodes fewer,
    /// and every output is the same.
    private func expectFusedMatchesPlain(_ b: Builder, inputs: [Tensor], folded: Int,
                                         sourceLocation: SourceLocation = #_sourceLocation) throws {
        let fused = try Plan(b.graph), plain = try Plan(b.graph, fusing: false)
        #expect(b.foldable == folded, sourceLocation: sourceLocation)
        #expect(fused.fusedNodeCount == b.graph.nodes.count - folded, sourceLocation: sourceLocation)
        let got = try fused.run(inputs.map(Plan.Slot.tensor)).outputs, want = try plain.run(inputs.map(Plan.Slot.tensor)).outputs
        #expect(got.count == b.graph.outputs.count && want.count == got.count, sourceLocation: sourceLocation)
        for (index, (got, want)) in zip(got, want).enumerated() { expectClose(got, want, "output \(index)", sourceLocation: sourceLocation) }
    }

    /// Both tensors, of one shape, not all zero (a comparison that would prove nothing), equal within
    /// rounding relative to the tensor's largest value: the kernels' sums may round differently from run to
    /// run, and oneDNN picks its algorithm (so its order of summation) by shape, so a padded copy and a folded
    /// padding round differently; through a chain of convolutions that difference grows with the values
    /// (measured: 2.3e-4 on an output of magnitude 555, i.e. 4e-7 of it).
    private func expectClose(_ got: Plan.Slot?, _ want: Plan.Slot?, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let got = got?.tensor, let want = want?.tensor else {
            Issue.record("\(label) missing", sourceLocation: sourceLocation)
            return
        }
        #expect(got.shape == want.shape, "\(label)", sourceLocation: sourceLocation)
        #expect(want.values.contains { $0 != 0 }, "\(label) is all zeros", sourceLocation: sourceLocation)
        let scale = max(1, want.values.map(abs).max() ?? 0)
        let worst = zip(got.values, want.values).map { abs($0 - $1) - 1e-5 * scale }.max() ?? 0
        #expect(worst <= 0, "\(label): max error \(worst) beyond tolerance", sourceLocation: sourceLocation)
    }

    /// The direct, Winograd, im2col + GEMM and depthwise kernels with a clamp as their epilogue store exactly
    /// their unclamped results clamped, and with a scale and shift per channel after it (a fused
    /// BatchNormalization, with or without a clamp) those results scaled and shifted, on odd sizes and every
    /// instruction-set level this machine can run.
    @Test func kernelEpilogueMatchesClampingAndScalingAfter() throws {
        for level in 0 ... NativeKernels.cpuLevel {
            try NativeKernels.withCPULevel(level) {
                var random = SplitMix64(seed: 22)
                let clamp: ClosedRange<Float> = -0.3 ... 0.4
                func expectEpilogue(channels: Int, _ run: (ClosedRange<Float>?, BatchNormFold?) throws -> Tensor, _ label: String) throws {
                    let free = try run(nil, nil), clamped = try run(clamp, nil)
                    #expect(free.values.contains { $0 < clamp.lowerBound } && free.values.contains { $0 > clamp.upperBound },
                            "level \(level) \(label): no value to clamp")
                    let want = free.values.map { min(max($0, clamp.lowerBound), clamp.upperBound) }
                    #expect(clamped.values == want, "level \(level) \(label)")
                    // Mean 0 and variance 1: gamma and beta are the scale and shift.
                    let scaling = try BatchNormFold(BatchNormOp(axes: [3], rank: 4, epsilon: 0), gamma: random.values(channels),
                                                    beta: random.values(channels), mean: Array(repeating: 0, count: channels),
                                                    variance: Array(repeating: 1, count: channels))
                    for (range, unscaled) in [(nil, free.values), (clamp, want)] {
                        let scaled = try run(range, scaling).values
                        let expected = unscaled.enumerated().map { $1 * scaling.scale[$0 % channels] + scaling.shift[$0 % channels] }
                        let worst = zip(scaled, expected).map { abs($0 - $1) - 1e-6 * max(1, abs($1)) }.max() ?? 0
                        #expect(scaled.count == expected.count && worst <= 0, "level \(level) \(label) scaled, clamp \(String(describing: range))")
                    }
                }
                // (channels, filters, kernel, groups): direct (pointwise and 3×3 over few channels), Winograd, GEMM.
                // A batch of 4 gives the Winograd case enough tiles (80) to run on Winograd, not oneDNN.
                for (channels, filters, kernel, groups) in [(5, 19, [1, 1], 1), (3, 21, [3, 3], 1), (11, 37, [3, 3], 1), (6, 9, [2, 3], 3)] {
                    let input = random.tensor([4, 7, 9, channels])
                    let weights = random.values(kernel.reduce(1, *) * channels / groups * filters)
                    let convolution = ConvolutionKernel(kernel: weights, kernelSize: kernel, strides: [1, 1], dilation: [1, 1], channels: channels,
                                                        filters: filters, groups: groups, bias: random.values(filters))
                    let geometry = try WindowGeometry(inputSize: [7, 9], kernel: kernel, strides: [1, 1], dilation: [1, 1], padding: "same")
                    try expectEpilogue(channels: filters, { convolution(input, geometry: geometry, clamp: $0, scaling: $1) },
                                       "\(convolution.method) \(channels) → \(filters)")
                }
                for (channels, multiplier) in [(37, 1), (5, 2)] {
                    let input = random.tensor([2, 7, 9, channels])
                    let kernel = random.values(9 * channels * multiplier), bias = random.values(channels * multiplier)
                    let geometry = try WindowGeometry(inputSize: [7, 9], kernel: [3, 3], strides: [2, 1], dilation: [1, 1], padding: "same")
                    try expectEpilogue(channels: channels * multiplier, {
                        depthwiseConvolve(input, geometry: geometry, kernel: kernel, multiplier: multiplier, bias: bias, clamp: $0, scaling: $1)
                    }, "depthwise \(channels) × \(multiplier)")
                }
            }
        }
    }
}
