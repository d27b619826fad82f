import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// The spatial layers (convolutions, pooling, reshaping) built from configs, against naive direct
/// implementations written from Keras's definitions on random shapes and options, in both data formats.
@Suite struct SpatialEngineTests {
    /// Both convolution paths against the naive sum: the direct one (one group; filters in whole blocks of
    /// 16 or fewer than 16; lines of output cells shorter and longer than its tiles; the ReLU it fuses) and
    /// im2col + GEMM (groups). Ranks 1-3, strides, dilation, valid / same / causal padding, bias,
    /// channels_first.
    @Test func convolutionMatchesNaive() throws {
        var random = SplitMix64(seed: 3)
        for trial in 0..<90 {
            let rank = trial % 3 + 1
            let paddings = rank == 1 ? ["valid", "same", "causal"] : ["valid", "same"]
            let padding = paddings[random.int(paddings.count)]
            let channelsFirst = rank > 1 && random.int(2) == 1
            let groups = [1, 1, 2, 3][random.int(4)]
            let channels = groups * (random.int(3) + 1)
            let filters = groups == 1 ? [random.int(15) + 1, 16, 32, 48][random.int(4)] : groups * (random.int(3) + 1)
            let kernel = (0..<rank).map { _ in random.int(3) + 1 }
            // Keras forbids strides > 1 together with dilation > 1.
            let dilated = random.int(2) == 1
            let strides = (0..<rank).map { _ in dilated ? 1 : random.int(3) + 1 }
            let dilation = (0..<rank).map { _ in dilated ? random.int(2) + 1 : 1 }
            let spatial = (0..<rank).map { axis in (kernel[axis] - 1) * dilation[axis] + 1 + random.int(rank == 3 ? 4 : 19) }
            try expectConvolutionMatchesNaive(spatial: spatial, channels: channels, filters: filters, kernel: kernel, strides: strides,
                                              dilation: dilation, padding: padding, groups: groups, channelsFirst: channelsFirst, &random)
        }
    }

    /// 3×3 convolutions of stride 1 over enough channels to run as Winograd F(2×2, 3×3): odd and even
    /// sizes (partial tiles), both paddings, any filter count, against the direct sum.
    @Test func winogradConvolutionMatchesNaive() throws {
        var random = SplitMix64(seed: 4)
        for _ in 0..<16 {
            let spatial = [random.int(9) + 3, random.int(9) + 3]
            try expectConvolutionMatchesNaive(spatial: spatial, channels: random.int(24) + 8, filters: random.int(48) + 1,
                                              kernel: [3, 3], strides: [1, 1], dilation: [1, 1],
                                              padding: ["valid", "same"][random.int(2)], groups: 1,
                                              channelsFirst: random.int(2) == 1, &random)
        }
    }

    /// One ConvND layer with random weights (bias and ReLU drawn at random) on a random batch of 2,
    /// against `naiveConvolution`.
    private func expectConvolutionMatchesNaive(spatial: [Int], channels: Int, filters: Int, kernel: [Int], strides: [Int],
                                               dilation: [Int], padding: String, groups: Int, channelsFirst: Bool,
                                               _ random: inout SplitMix64,
                                               sourceLocation: SourceLocation = #_sourceLocation) throws {
        let rank = spatial.count
        let useBias = random.int(2) == 1, relu = random.int(2) == 1
        let shape = spatialShape(batch: 2, spatial: spatial, channels: channels, channelsFirst: channelsFirst)
        let layer = try makeLayer(rank == 1 ? "Conv1D" : "Conv\(rank)D", [
            "filters": json(filters), "kernel_size": json(kernel), "strides": json(strides),
            "dilation_rate": json(dilation), "padding": .string(padding), "groups": json(groups),
            "use_bias": .bool(useBias), "data_format": .string(channelsFirst ? "channels_first" : "channels_last"),
            "activation": .string(relu ? "relu" : "linear"),
        ], input: shape, &random)
        let input = random.tensor(shape)
        let got = try layer.forward(LayerCall(inputs: [input])).tensors[0]
        var want = naiveConvolution(input, kernel: layer.parameters[0], bias: useBias ? layer.parameters[1].values : nil,
                                    strides: strides, dilation: dilation, padding: padding, channelsFirst: channelsFirst, groups: groups)
        if relu { want.values = want.values.map { max($0, 0) } }
        expectClose(got, want, "\(layer.className) \(spatial) kernel \(kernel) strides \(strides) dilation \(dilation) \(padding) groups \(groups) channels \(channels) filters \(filters) channelsFirst \(channelsFirst) relu \(relu)",
                    sourceLocation: sourceLocation)
    }

    /// A convolution large enough to split its output rows across threads, against the direct sum.
    @Test func splitConvolutionMatchesDirect() throws {
        var random = SplitMix64(seed: 5)
        let shape = [3, 21, 19, 8]
        let layer = try makeLayer("Conv2D", [
            "filters": json(16), "kernel_size": json([3, 3]), "padding": .string("same"), "use_bias": .bool(true),
        ], input: shape, &random)
        let input = random.tensor(shape)
        #expect(Parallel.parts(work: 3 * 21 * 19 * 9 * 8 * 16, rows: 3 * 21 * 19) > 1 || Parallel.workers == 1)
        let got = try layer.forward(LayerCall(inputs: [input])).tensors[0]
        let want = naiveConvolution(input, kernel: layer.parameters[0], bias: layer.parameters[1].values, strides: [1, 1],
                                    dilation: [1, 1], padding: "same", channelsFirst: false, groups: 1)
        expectClose(got, want, "split Conv2D")
    }

    /// DepthwiseConv and SeparableConv against the direct depthwise sum (and the pointwise sum after it).
    @Test func depthwiseAndSeparableMatchDirect() throws {
        var random = SplitMix64(seed: 5)
        for trial in 0..<24 {
            let rank = trial % 2 + 1
            let separable = trial % 4 >= 2
            let padding = ["valid", "same"][random.int(2)]
            let channelsFirst = random.int(2) == 1
            let channels = random.int(3) + 1, multiplier = random.int(3) + 1, filters = random.int(3) + 1
            let kernel = (0..<rank).map { _ in random.int(3) + 1 }
            let dilated = random.int(2) == 1
            let strides = (0..<rank).map { _ in dilated ? 1 : random.int(2) + 1 }
            let dilation = (0..<rank).map { _ in dilated ? random.int(2) + 1 : 1 }
            let spatial = (0..<rank).map { axis in (kernel[axis] - 1) * dilation[axis] + 1 + random.int(4) }
            let shape = spatialShape(batch: 2, spatial: spatial, channels: channels, channelsFirst: channelsFirst)
            var config: [String: JSONValue] = [
                "kernel_size": json(kernel), "strides": json(strides), "dilation_rate": json(dilation), "padding": .string(padding),
                "depth_multiplier": json(multiplier), "data_format": .string(channelsFirst ? "channels_first" : "channels_last"),
            ]
            if separable { config["filters"] = json(filters) }
            let layer = try makeLayer((separable ? "SeparableConv" : "DepthwiseConv") + "\(rank)D", config, input: shape, &random)
            let input = random.tensor(shape)
            let got = try layer.forward(LayerCall(inputs: [input])).tensors[0]
            let depthwise = naiveDepthwise(input, kernel: layer.parameters[0], strides: strides, dilation: dilation, padding: padding,
                                           channelsFirst: channelsFirst)
            let want = separable
                ? naivePointwise(depthwise, kernel: layer.parameters[1], bias: layer.parameters[2].values, channelsFirst: channelsFirst)
                : naivePointwise(depthwise, kernel: nil, bias: layer.parameters[1].values, channelsFirst: channelsFirst)
            expectClose(got, want, "\(layer.className) \(spatial) kernel \(kernel) strides \(strides) dilation \(dilation) \(padding) channelsFirst \(channelsFirst)")
        }
    }

    /// The register-tiled kernels on every instruction-set level this machine can run (forced in turn), on
    /// odd sizes, against the naive sums: the depthwise kernel (channel counts below, across and beyond its
    /// chunks of blocks of 16; depth multipliers; strides, dilation, padding; large enough to split across
    /// threads), the direct kernel on pointwise windows and on filter counts that leave a block partly empty,
    /// and the one-row product split by columns (a Dense layer at batch 1).
    @Test func registerTiledKernelsMatchNaiveOnEveryLevel() throws {
        for level in 0 ... NativeKernels.cpuLevel {
            try NativeKernels.withCPULevel(level) {
                #expect(NativeKernels.cpuLevel == level)
                var random = SplitMix64(seed: 11)
                for channels in [1, 17, 37, 150] {
                    let multiplier = channels < 20 ? random.int(3) + 1 : 1
                    let kernel = [random.int(3) + 1, random.int(3) + 1]
                    let dilated = random.int(3) == 0
                    let strides = (0..<2).map { _ in dilated ? 1 : random.int(2) + 1 }
                    let dilation = (0..<2).map { _ in dilated ? 2 : 1 }
                    let spatial = [random.int(6) + 5, random.int(6) + 5]
                    let padding = ["valid", "same"][random.int(2)]
                    let shape = [1] + spatial + [channels]
                    let layer = try makeLayer("DepthwiseConv2D", [
                        "kernel_size": json(kernel), "strides": json(strides), "dilation_rate": json(dilation),
                        "padding": .string(padding), "depth_multiplier": json(multiplier),
                    ], input: shape, &random)
                    let input = random.tensor(shape)
                    let got = try layer.forward(LayerCall(inputs: [input])).tensors[0]
                    let depthwise = naiveDepthwise(input, kernel: layer.parameters[0], strides: strides, dilation: dilation, padding: padding,
                                                   channelsFirst: false)
                    let want = naivePointwise(depthwise, kernel: nil, bias: layer.parameters[1].values, channelsFirst: false)
                    expectClose(got, want, "level \(level) depthwise \(spatial) × \(channels) × \(multiplier) kernel \(kernel) strides \(strides) dilation \(dilation) \(padding)")
                }
                let large = [1, 25, 27, 48]
                #expect(Parallel.parts(work: 2 * 25 * 27 * 9 * 48, rows: 25 * 27) > 1 || Parallel.workers == 1)
                let layer = try makeLayer("DepthwiseConv2D", ["kernel_size": json([3, 3]), "padding": .string("same")], input: large, &random)
                let input = random.tensor(large)
                expectClose(try layer.forward(LayerCall(inputs: [input])).tensors[0],
                            naivePointwise(naiveDepthwise(input, kernel: layer.parameters[0], strides: [1, 1], dilation: [1, 1], padding: "same",
                                                          channelsFirst: false),
                                           kernel: nil, bias: layer.parameters[1].values, channelsFirst: false),
                            "level \(level) split depthwise")
                for (channels, filters, kernel, strides) in [(37, 24, [1, 1], [1, 1]), (19, 40, [1, 1], [1, 1]), (5, 56, [1, 1], [2, 2]),
                                                             (3, 24, [3, 3], [2, 2])] {
                    try expectConvolutionMatchesNaive(spatial: [random.int(7) + 3, random.int(7) + 3], channels: channels, filters: filters,
                                                      kernel: kernel, strides: strides, dilation: [1, 1], padding: "same", groups: 1,
                                                      channelsFirst: false, &random)
                }
                try expectRowProductMatchesNaive(n: 1008, k: 601, &random)
            }
        }
    }

    /// `c (+)= a · B` for one row of `k` values and `n` columns through `BLAS.gemm` (which runs it on the
    /// row-product kernel, split by columns when large), with and without accumulating, against the sum in Double.
    private func expectRowProductMatchesNaive(n: Int, k: Int, _ random: inout SplitMix64) throws {
        #expect(Parallel.parts(work: n * k, rows: n / NativeKernels.vectorLanes) > 1 || Parallel.workers == 1)
        let a = random.values(k), b = random.values(k * n), start = random.values(n)
        for accumulate in [false, true] {
            var c = start
            BLAS.gemm(m: 1, n: n, k: k, a: a, b: b, c: &c, beta: accumulate ? 1 : 0)
            let worst = (0..<n).map { column in
                let want = (0..<k).reduce(accumulate ? Double(start[column]) : 0) { $0 + Double(a[$1]) * Double(b[$1 * n + column]) }
                return abs(Double(c[column]) - want) - 1e-5 * max(1, abs(want))
            }.max() ?? 0
            #expect(worst <= 0, "row product \(n) × \(k) accumulate \(accumulate): max error \(worst) beyond tolerance")
        }
    }

    /// The transposed convolution is the adjoint of the convolution with the same geometry and kernel:
    /// ⟨conv(y), x⟩ = ⟨conv_transpose(x), y⟩ for every x and y (filter counts of each col2im path).
    @Test func transposedConvolutionIsTheAdjoint() throws {
        var random = SplitMix64(seed: 9)
        for trial in 0..<30 {
            let rank = trial % 3 + 1
            let padding = ["valid", "same"][random.int(2)]
            let kernel = (0..<rank).map { _ in random.int(3) + 1 }
            let strides = (0..<rank).map { _ in random.int(3) + 1 }
            let dilation = (0..<rank).map { axis in strides[axis] == 1 ? random.int(2) + 1 : 1 }
            let large = (0..<rank).map { axis in (kernel[axis] - 1) * dilation[axis] + 1 + random.int(6) }
            let geometry = try WindowGeometry(inputSize: large, kernel: kernel, strides: strides, dilation: dilation, padding: padding)
            let (channels, filters) = (random.int(3) + 1, [1, 2, 3, 4, 7][random.int(5)])
            let weights = random.values(geometry.taps * filters * channels)
            let y = random.tensor([2] + large + [filters])
            let x = random.tensor([2] + geometry.outputSize + [channels])
            let forward = ConvolutionKernel(kernel: weights, kernelSize: kernel, strides: strides, dilation: dilation,
                                            channels: filters, filters: channels, groups: 1, bias: nil)(y, geometry: geometry)
            let backward = convolveTransposed(x, geometry: geometry, kernel: weights, filters: filters, bias: nil)
            #expect(backward.shape == y.shape)
            let lhs = zip(forward.values, x.values).reduce(0) { $0 + Double($1.0) * Double($1.1) }
            let rhs = zip(backward.values, y.values).reduce(0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(lhs - rhs) <= 1e-4 * max(1, abs(lhs)), "\(large) kernel \(kernel) strides \(strides) dilation \(dilation) \(padding): \(lhs) vs \(rhs)")
        }
    }

    /// Conv2DTranspose through the layer (valid, same, output_padding, channels_first) against the
    /// direct scatter definition with TensorFlow's padding.
    @Test func transposedConvolutionLayerMatchesDirect() throws {
        var random = SplitMix64(seed: 13)
        for trial in 0..<24 {
            let rank = trial % 3 + 1
            let padding = ["valid", "same"][random.int(2)]
            let channelsFirst = rank > 1 && random.int(2) == 1
            let kernel = (0..<rank).map { _ in random.int(3) + 1 }
            let strides = (0..<rank).map { _ in random.int(3) + 1 }
            let outputPadding = trial % 2 == 0 ? nil : strides.map { random.int($0) }
            let (channels, filters) = (random.int(3) + 1, random.int(3) + 1)
            let spatial = (0..<rank).map { _ in random.int(4) + 1 }
            let shape = spatialShape(batch: 2, spatial: spatial, channels: channels, channelsFirst: channelsFirst)
            var config: [String: JSONValue] = [
                "filters": json(filters), "kernel_size": json(kernel), "strides": json(strides), "padding": .string(padding),
                "data_format": .string(channelsFirst ? "channels_first" : "channels_last"),
            ]
            if let outputPadding { config["output_padding"] = json(outputPadding) }
            try expectTransposedMatchesDirect(rank == 1 ? "Conv1DTranspose" : "Conv\(rank)DTranspose", config, input: shape, strides: strides,
                                              padding: padding, channelsFirst: channelsFirst, &random,
                                              "\(spatial) kernel \(kernel) strides \(strides) output_padding \(outputPadding ?? []) \(padding) channelsFirst \(channelsFirst)")
        }
    }

    /// The transposed convolution layer `className` of `config` on a random input of `shape`, against the direct
    /// scatter definition.
    private func expectTransposedMatchesDirect(_ className: String, _ config: [String: JSONValue], input shape: [Int], strides: [Int], padding: String,
                                               channelsFirst: Bool, _ random: inout SplitMix64, _ label: String) throws {
        let layer = try makeLayer(className, config, input: shape, &random)
        let input = random.tensor(shape)
        let got = try layer.forward(LayerCall(inputs: [input])).tensors[0]
        let expectedShape = try layer.outputShapes([shape.map { $0 }])[0].compactMap { $0 }
        let want = naiveTransposedConvolution(input, kernel: layer.parameters[0], bias: layer.parameters[1].values, strides: strides,
                                              padding: padding, channelsFirst: channelsFirst, outputShape: expectedShape)
        expectClose(got, want, "\(className) \(label)")
    }

    /// Transposed convolutions large enough to run in parts of samples (5 samples: uneven parts) against the
    /// direct scatter definition: strided and not, 2-D and 3-D.
    @Test func transposedConvolutionInPartsMatchesDirect() throws {
        var random = SplitMix64(seed: 17)
        let cases: [(spatial: [Int], kernel: [Int], strides: [Int], padding: String)] = [
            ([10, 9], [3, 3], [2, 2], "same"), ([13, 9], [2, 3], [1, 1], "valid"), ([4, 5, 6], [3, 2, 2], [2, 1, 2], "same"),
        ]
        for (spatial, kernel, strides, padding) in cases {
            let (batch, channels, filters) = (5, 3, 5)
            // convolveTransposed's estimate of the work: enough for two parts.
            let work = batch * spatial.reduce(1, *) * kernel.reduce(1, *) * filters * (channels + 32)
            #expect(work >= 2 * Parallel.minimumWorkPerPart, "\(spatial) too small to split")
            let shape = [batch] + spatial + [channels]
            let config: [String: JSONValue] = [
                "filters": json(filters), "kernel_size": json(kernel), "strides": json(strides), "padding": .string(padding),
            ]
            try expectTransposedMatchesDirect("Conv\(spatial.count)DTranspose", config, input: shape, strides: strides, padding: padding,
                                              channelsFirst: false, &random, "\(spatial) kernel \(kernel) strides \(strides) \(padding)")
        }
    }

    /// Max and average pooling against direct window reductions: padded cells never count.
    @Test func poolingMatchesDirect() throws {
        var random = SplitMix64(seed: 21)
        for trial in 0..<48 {
            let rank = trial % 3 + 1
            let reduction = trial % 2 == 0 ? "Max" : "Average"
            let padding = ["valid", "same"][random.int(2)]
            let channelsFirst = random.int(2) == 1
            let pool = (0..<rank).map { _ in random.int(3) + 1 }
            let strides = (0..<rank).map { _ in random.int(3) + 1 }
            let spatial = (0..<rank).map { axis in pool[axis] + random.int(5) }
            let shape = spatialShape(batch: 2, spatial: spatial, channels: random.int(3) + 1, channelsFirst: channelsFirst)
            let layer = try makeLayer("\(reduction)Pooling\(rank)D", [
                "pool_size": json(pool), "strides": json(strides), "padding": .string(padding),
                "data_format": .string(channelsFirst ? "channels_first" : "channels_last"),
            ], input: shape, &random)
            let input = random.tensor(shape)
            let got = try layer.forward(LayerCall(inputs: [input])).tensors[0]
            let want = naivePooling(input, pool: pool, strides: strides, padding: padding, channelsFirst: channelsFirst, max: reduction == "Max")
            expectClose(got, want, "\(layer.className) \(spatial) pool \(pool) strides \(strides) \(padding) channelsFirst \(channelsFirst)")
        }
    }

    /// The vectorised pooling kernel, windowed and global, over channels that fill whole vectors of 16 and a
    /// part of one (37), against direct window reductions on every instruction-set level this machine can run.
    @Test func poolingKernelMatchesDirectOnEveryLevel() throws {
        for level in 0 ... NativeKernels.cpuLevel {
            try NativeKernels.withCPULevel(level) {
                var random = SplitMix64(seed: 29)
                for (reduction, channelsFirst) in [("Max", false), ("Average", true), ("Average", false), ("Max", true)] {
                    let shape = spatialShape(batch: 3, spatial: [7, 6], channels: 37, channelsFirst: channelsFirst)
                    let format = JSONValue.string(channelsFirst ? "channels_first" : "channels_last")
                    let input = random.tensor(shape)
                    let windowed = try makeLayer("\(reduction)Pooling2D", ["pool_size": json([3, 2]), "strides": json([2, 1]), "padding": "same", "data_format": format],
                                                 input: shape, &random)
                    expectClose(try windowed.forward(LayerCall(inputs: [input])).tensors[0],
                                naivePooling(input, pool: [3, 2], strides: [2, 1], padding: "same", channelsFirst: channelsFirst, max: reduction == "Max"),
                                "level \(level) \(reduction)Pooling2D channelsFirst \(channelsFirst)")
                    let global = try makeLayer("Global\(reduction)Pooling2D", ["keepdims": true, "data_format": format], input: shape, &random)
                    expectClose(try global.forward(LayerCall(inputs: [input])).tensors[0],
                                naivePooling(input, pool: [7, 6], strides: [1, 1], padding: "valid", channelsFirst: channelsFirst, max: reduction == "Max"),
                                "level \(level) Global\(reduction)Pooling2D channelsFirst \(channelsFirst)")
                }
            }
        }
    }

    /// Global pooling over every spatial axis, keepdims, and GlobalAveragePooling1D's masked mean.
    @Test func globalPooling() throws {
        var random = SplitMix64(seed: 25)
        let input = Tensor(shape: [2, 3, 2], values: [1, -2, 3, 4, -5, 6,
                                                      7, 8, -9, 10, 11, 12])
        let average = try makeLayer("GlobalAveragePooling1D", [:], input: [2, 3, 2], &random)
        #expect(try average.forward(LayerCall(inputs: [input])).tensors[0].values == [-1.0 / 3, 8.0 / 3, 3, 10])
        let mask = Mask(shape: [2, 3], values: [true, false, true, false, true, true])
        let masked = try average.forward(LayerCall(inputs: [input], masks: [mask]))
        #expect(masked.tensors[0].values == [-2, 2, 1, 11])
        #expect(masked.masks == [nil])
        let maximum = try makeLayer("GlobalMaxPooling1D", ["data_format": "channels_first", "keepdims": true], input: [2, 3, 2], &random)
        let pooled = try maximum.forward(LayerCall(inputs: [input])).tensors[0]
        #expect(pooled.shape == [2, 3, 1])
        #expect(pooled.values == [1, 4, 6, 8, 10, 12])
        let image = random.tensor([2, 3, 4, 5])
        let global = try makeLayer("GlobalAveragePooling2D", ["keepdims": true], input: [2, 3, 4, 5], &random)
        let want = naivePooling(image, pool: [3, 4], strides: [1, 1], padding: "valid", channelsFirst: false, max: false)
        expectClose(try global.forward(LayerCall(inputs: [image])).tensors[0], want, "GlobalAveragePooling2D keepdims")
    }

    /// Flatten moves channels_first inputs to channels_last first; Reshape fills its -1; Permute is 1-based.
    @Test func flattenReshapePermuteRepeat() throws {
        var random = SplitMix64(seed: 27)
        let input = random.tensor([2, 3, 4, 5])
        let flatten = try makeLayer("Flatten", ["data_format": "channels_first"], input: [2, 3, 4, 5], &random)
        let flat = try flatten.forward(LayerCall(inputs: [input])).tensors[0]
        #expect(flat.shape == [2, 60])
        #expect(flat.values == naivePermute(input, [0, 2, 3, 1]).values)
        let reshape = try makeLayer("Reshape", ["target_shape": [-1, 6]], input: [2, 3, 4, 5], &random)
        #expect(try reshape.forward(LayerCall(inputs: [input])).tensors[0].shape == [2, 10, 6])
        let permute = try makeLayer("Permute", ["dims": [3, 1, 2]], input: [2, 3, 4, 5], &random)
        #expect(try permute.forward(LayerCall(inputs: [input])).tensors[0] == naivePermute(input, [0, 3, 1, 2]))
        let vector = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        let repeatVector = try makeLayer("RepeatVector", ["n": 3], input: [2, 2], &random)
        #expect(try repeatVector.forward(LayerCall(inputs: [vector])).tensors[0]
                == Tensor(shape: [2, 3, 2], values: [1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4]))
    }

    /// Every permutation of a rank-4 tensor against index-by-index copying.
    @Test func permutedMatchesDirect() {
        var random = SplitMix64(seed: 29)
        let input = random.tensor([2, 3, 4, 5])
        for axes in permutations([0, 1, 2, 3]) {
            #expect(input.permuted(axes) == naivePermute(input, axes), "\(axes)")
        }
    }

    /// ZeroPadding and Cropping per axis and data format, against index-by-index copying.
    @Test func paddingAndCroppingMatchDirect() throws {
        var random = SplitMix64(seed: 31)
        for trial in 0..<24 {
            let rank = trial % 3 + 1
            let cropping = trial % 2 == 1
            let channelsFirst = rank > 1 && random.int(2) == 1
            let spatial = (0..<rank).map { _ in random.int(4) + 4 }
            let amounts = (0..<rank).map { _ in [random.int(3), random.int(3)] }
            let shape = spatialShape(batch: 2, spatial: spatial, channels: 2, channelsFirst: channelsFirst)
            let layer = try makeLayer((cropping ? "Cropping" : "ZeroPadding") + "\(rank)D", [
                cropping ? "cropping" : "padding": .array(amounts.map(json)),
                "data_format": .string(channelsFirst ? "channels_first" : "channels_last"),
            ], input: shape, &random)
            let input = random.tensor(shape)
            let got = try layer.forward(LayerCall(inputs: [input])).tensors[0]
            let signed = amounts.map { pair in pair.map { cropping ? -$0 : $0 } }
            #expect(got == naivePadding(input, signed, channelsFirst: channelsFirst), "\(layer.className) \(spatial) \(amounts) channelsFirst \(channelsFirst)")
        }
    }

    /// UpSampling nearest repeats rows per axis; bilinear 2-D matches TensorFlow's half-pixel resize
    /// (values computed by `tf.image.resize(method="bilinear")`).
    @Test func upSampling() throws {
        var random = SplitMix64(seed: 37)
        let input = random.tensor([2, 3, 4, 2])
        let nearest = try makeLayer("UpSampling2D", ["size": [2, 3], "data_format": "channels_first"], input: [2, 3, 4, 2], &random)
        let upsampled = try nearest.forward(LayerCall(inputs: [input])).tensors[0]
        #expect(upsampled.shape == [2, 3, 8, 6])
        for index in allIndices(upsampled.shape) {
            #expect(upsampled.values[offset(index, upsampled.shape)]
                    == input.values[offset([index[0], index[1], index[2] / 2, index[3] / 3], input.shape)])
        }
        let image = Tensor(shape: [1, 2, 3, 1], values: [1, 2, 4, 3, 5, 9])
        let bilinear = try makeLayer("UpSampling2D", ["size": [2, 2], "interpolation": "bilinear"], input: [1, 2, 3, 1], &random)
        let resized = try bilinear.forward(LayerCall(inputs: [image])).tensors[0]
        let tensorflow: [Float] = [1, 1.25, 1.75, 2.5, 3.5, 4,
                                   1.5, 1.8125, 2.4375, 3.375, 4.625, 5.25,
                                   2.5, 2.9375, 3.8125, 5.125, 6.875, 7.75,
                                   3, 3.5, 4.5, 6, 8, 9]
        expectClose(resized, Tensor(shape: [1, 4, 6, 1], values: tensorflow), "bilinear")
    }

    /// Bad inputs are errors naming what was expected, never crashes.
    @Test func rejectsWrongInputs() throws {
        var random = SplitMix64(seed: 41)
        let conv = try makeLayer("Conv2D", ["filters": 2, "kernel_size": [3, 3]], input: [1, 5, 5, 3], &random)
        #expect(throws: EngineError.self) { try conv.forward(LayerCall(inputs: [random.tensor([1, 5, 5, 4])])) }
        #expect(throws: EngineError.self) { try conv.forward(LayerCall(inputs: [random.tensor([1, 5, 3])])) }
        #expect(throws: EngineError.self) { try conv.forward(LayerCall(inputs: [random.tensor([1, 2, 5, 3])])) }
        let reshape = try makeLayer("Reshape", ["target_shape": [4, -1]], input: [1, 6], &random)
        #expect(throws: EngineError.self) { try reshape.forward(LayerCall(inputs: [random.tensor([1, 6])])) }
    }

    /// An empty batch gives an empty batch, not a crash.
    @Test func emptyBatch() throws {
        var random = SplitMix64(seed: 43)
        for (className, config) in [("Conv2D", ["filters": 2, "kernel_size": [1, 1]] as [String: JSONValue]),
                                    ("Conv2D", ["filters": 2, "kernel_size": [3, 3], "padding": "same"]),
                                    ("Conv2DTranspose", ["filters": 2, "kernel_size": [3, 3], "strides": [2, 2]]),
                                    ("DepthwiseConv2D", ["kernel_size": [3, 3]]),
                                    ("MaxPooling2D", [:]), ("GlobalAveragePooling2D", [:]), ("UpSampling2D", ["interpolation": "bilinear"])] {
            let layer = try makeLayer(className, config, input: [1, 6, 6, 3], &random)
            let output = try layer.forward(LayerCall(inputs: [Tensor(zeros: [0, 6, 6, 3])])).tensors[0]
            #expect(output.shape.first == 0 && output.count == 0, "\(className): \(output.shape)")
        }
    }
}

// MARK: Building layers

/// A layer of `className` built from `config` (Keras 3 vocabulary) for `input`, with random weights.
private func makeLayer(_ className: String, _ config: [String: JSONValue], input: [Int], _ random: inout SplitMix64) throws -> Layer {
    var config = config
    config["trainable"] = true  // what marks a Keras 3 config as a layer's rather than an operation's
    let entry = JSONObject([("class_name", .string(className)),
                            ("config", .object(JSONObject(config.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })))])
    return try buildWithRandomWeights(LayerRegistry.build(entry, dialect: .keras3), input: input.map { $0 }, &random)
}

private func json(_ value: Int) -> JSONValue { .int(Int64(value)) }
private func json(_ values: [Int]) -> JSONValue { .array(values.map(json)) }

private func spatialShape(batch: Int, spatial: [Int], channels: Int, channelsFirst: Bool) -> [Int] {
    channelsFirst ? [batch, channels] + spatial : [batch] + spatial + [channels]
}

// MARK: Naive references

/// Every multi-index of `shape`, in row-major order.
private func allIndices(_ shape: [Int]) -> [[Int]] {
    shape.reduce([[]]) { prefixes, size in prefixes.flatMap { prefix in (0..<size).map { prefix + [$0] } } }
}

private func offset(_ index: [Int], _ shape: [Int]) -> Int {
    zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 }
}

/// Keras's output length and TensorFlow's padding before, per axis, written out from their definitions.
private func window(_ input: Int, kernel: Int, stride: Int, dilation: Int, padding: String) -> (output: Int, padBefore: Int) {
    let dilated = (kernel - 1) * dilation + 1
    switch padding {
    case "same":
        let output = (input + stride - 1) / stride
        return (output, max((output - 1) * stride + dilated - input, 0) / 2)
    case "causal": return ((input + stride - 1) / stride, dilated - 1)
    default: return ((input - dilated + stride) / stride, 0)
    }
}

/// The value of `x` at `spatial` in channel `channel`, or nil outside the input.
private func read(_ x: Tensor, sample: Int, spatial: [Int], channel: Int, channelsFirst: Bool) -> Float? {
    let sizes = channelsFirst ? Array(x.shape[2...]) : Array(x.shape[1 ..< x.rank - 1])
    guard zip(spatial, sizes).allSatisfy({ $0 >= 0 && $0 < $1 }) else { return nil }
    let index = channelsFirst ? [sample, channel] + spatial : [sample] + spatial + [channel]
    return x.values[offset(index, x.shape)]
}

/// Cross-correlation straight from the definition: one output element at a time, in the layer's data format.
private func naiveConvolution(_ x: Tensor, kernel w: Tensor, bias: [Float]?, strides: [Int], dilation: [Int],
                              padding: String, channelsFirst: Bool, groups: Int) -> Tensor {
    let rank = w.rank - 2
    let groupChannels = w.shape[rank], filters = w.shape[rank + 1], groupFilters = filters / groups
    let spatial = channelsFirst ? Array(x.shape[2...]) : Array(x.shape[1...rank])
    let windows = (0..<rank).map { window(spatial[$0], kernel: w.shape[$0], stride: strides[$0], dilation: dilation[$0], padding: padding) }
    let outputSpatial = windows.map(\.output)
    let shape = spatialShape(batch: x.shape[0], spatial: outputSpatial, channels: filters, channelsFirst: channelsFirst)
    var y = Tensor(zeros: shape)
    for sample in 0..<x.shape[0] {
        for position in allIndices(outputSpatial) {
            for filter in 0..<filters {
                var sum = bias?[filter] ?? 0
                for tap in allIndices(Array(w.shape[0..<rank])) {
                    let source: [Int] = (0..<rank).map { (axis: Int) -> Int in position[axis] * strides[axis] - windows[axis].padBefore + tap[axis] * dilation[axis] }
                    for channel in 0..<groupChannels {
                        let inputChannel = filter / groupFilters * groupChannels + channel
                        guard let value = read(x, sample: sample, spatial: source, channel: inputChannel, channelsFirst: channelsFirst) else { continue }
                        sum += value * w.values[offset(tap + [channel, filter], w.shape)]
                    }
                }
                let index = channelsFirst ? [sample, filter] + position : [sample] + position + [filter]
                y.values[offset(index, shape)] = sum
            }
        }
    }
    return y
}

/// Depthwise convolution without bias: output channel `c·M + m` correlates input channel `c` with `w[..., c, m]`.
private func naiveDepthwise(_ x: Tensor, kernel w: Tensor, strides: [Int], dilation: [Int], padding: String, channelsFirst: Bool) -> Tensor {
    let rank = w.rank - 2
    let channels = w.shape[rank], multiplier = w.shape[rank + 1]
    let spatial = channelsFirst ? Array(x.shape[2...]) : Array(x.shape[1...rank])
    let windows = (0..<rank).map { window(spatial[$0], kernel: w.shape[$0], stride: strides[$0], dilation: dilation[$0], padding: padding) }
    let outputSpatial = windows.map(\.output)
    let shape = spatialShape(batch: x.shape[0], spatial: outputSpatial, channels: channels * multiplier, channelsFirst: channelsFirst)
    var y = Tensor(zeros: shape)
    for sample in 0..<x.shape[0] {
        for position in allIndices(outputSpatial) {
            for channel in 0..<channels {
                for m in 0..<multiplier {
                    var sum: Float = 0
                    for tap in allIndices(Array(w.shape[0..<rank])) {
                        let source: [Int] = (0..<rank).map { (axis: Int) -> Int in
                            position[axis] * strides[axis] - windows[axis].padBefore + tap[axis] * dilation[axis]
                        }
                        guard let value = read(x, sample: sample, spatial: source, channel: channel, channelsFirst: channelsFirst) else { continue }
                        sum += value * w.values[offset(tap + [channel, m], w.shape)]
                    }
                    let index = channelsFirst ? [sample, channel * multiplier + m] + position : [sample] + position + [channel * multiplier + m]
                    y.values[offset(index, shape)] = sum
                }
            }
        }
    }
    return y
}

/// `y[..., f] = bias[f] + Σ_c x[..., c] · w[c, f]` per position (the identity kernel when `w` is nil).
private func naivePointwise(_ x: Tensor, kernel w: Tensor?, bias: [Float], channelsFirst: Bool) -> Tensor {
    let channels = channelsFirst ? x.shape[1] : x.shape[x.rank - 1]
    let spatial = channelsFirst ? Array(x.shape[2...]) : Array(x.shape[1 ..< x.rank - 1])
    let filters = bias.count
    let shape = spatialShape(batch: x.shape[0], spatial: spatial, channels: filters, channelsFirst: channelsFirst)
    var y = Tensor(zeros: shape)
    for sample in 0..<x.shape[0] {
        for position in allIndices(spatial) {
            for filter in 0..<filters {
                var sum = bias[filter]
                for channel in 0..<channels {
                    let weight = w.map { $0.values[$0.count - channels * filters + channel * filters + filter] } ?? (channel == filter ? 1 : 0)
                    sum += (read(x, sample: sample, spatial: position, channel: channel, channelsFirst: channelsFirst) ?? 0) * weight
                }
                let index = channelsFirst ? [sample, filter] + position : [sample] + position + [filter]
                y.values[offset(index, shape)] = sum
            }
        }
    }
    return y
}

/// TensorFlow's conv_transpose as a scatter: input cell `o` adds `x[o, c] · w[t, f, c]` to output cell
/// `o·stride − pad + t`, with `pad` TensorFlow's SAME padding between the two sizes (0 for valid).
private func naiveTransposedConvolution(_ x: Tensor, kernel w: Tensor, bias: [Float], strides: [Int], padding: String,
                                        channelsFirst: Bool, outputShape: [Int]) -> Tensor {
    let rank = w.rank - 2
    let filters = w.shape[rank], channels = w.shape[rank + 1]
    let inputSpatial = channelsFirst ? Array(x.shape[2...]) : Array(x.shape[1...rank])
    let outputSpatial = channelsFirst ? Array(outputShape[2...]) : Array(outputShape[1...rank])
    let pads: [Int] = (0..<rank).map { (axis: Int) -> Int in
        guard padding == "same" else { return 0 }
        let total: Int = (inputSpatial[axis] - 1) * strides[axis] + w.shape[axis] - outputSpatial[axis]
        return max(total, 0) / 2
    }
    var y = Tensor(zeros: outputShape)
    func outputIndex(_ sample: Int, _ position: [Int], _ filter: Int) -> Int {
        offset(channelsFirst ? [sample, filter] + position : [sample] + position + [filter], outputShape)
    }
    for sample in 0..<x.shape[0] {
        for position in allIndices(outputSpatial) {
            for filter in 0..<filters { y.values[outputIndex(sample, position, filter)] = bias[filter] }
        }
        for position in allIndices(inputSpatial) {
            for tap in allIndices(Array(w.shape[0..<rank])) {
                let target: [Int] = (0..<rank).map { (axis: Int) -> Int in position[axis] * strides[axis] - pads[axis] + tap[axis] }
                guard zip(target, outputSpatial).allSatisfy({ $0 >= 0 && $0 < $1 }) else { continue }
                for filter in 0..<filters {
                    for channel in 0..<channels {
                        let value = read(x, sample: sample, spatial: position, channel: channel, channelsFirst: channelsFirst) ?? 0
                        y.values[outputIndex(sample, target, filter)] += value * w.values[offset(tap + [filter, channel], w.shape)]
                    }
                }
            }
        }
    }
    return y
}

/// Max or average over the window cells inside the input (TensorFlow's max_pool / avg_pool).
private func naivePooling(_ x: Tensor, pool: [Int], strides: [Int], padding: String, channelsFirst: Bool, max isMax: Bool) -> Tensor {
    let rank = pool.count
    let channels = channelsFirst ? x.shape[1] : x.shape[rank + 1]
    let spatial = channelsFirst ? Array(x.shape[2...]) : Array(x.shape[1...rank])
    let windows = (0..<rank).map { window(spatial[$0], kernel: pool[$0], stride: strides[$0], dilation: 1, padding: padding) }
    let outputSpatial = windows.map(\.output)
    let shape = spatialShape(batch: x.shape[0], spatial: outputSpatial, channels: channels, channelsFirst: channelsFirst)
    var y = Tensor(zeros: shape)
    for sample in 0..<x.shape[0] {
        for position in allIndices(outputSpatial) {
            for channel in 0..<channels {
                let cells = allIndices(pool).compactMap { tap in
                    let source: [Int] = (0..<rank).map { (axis: Int) -> Int in position[axis] * strides[axis] - windows[axis].padBefore + tap[axis] }
                    return read(x, sample: sample, spatial: source, channel: channel, channelsFirst: channelsFirst)
                }
                let index = channelsFirst ? [sample, channel] + position : [sample] + position + [channel]
                y.values[offset(index, shape)] = isMax ? cells.max() ?? 0 : cells.reduce(0, +) / Float(cells.count)
            }
        }
    }
    return y
}

private func naivePermute(_ x: Tensor, _ axes: [Int]) -> Tensor {
    let shape = axes.map { x.shape[$0] }
    var y = Tensor(zeros: shape)
    for index in allIndices(x.shape) {
        y.values[offset(axes.map { index[$0] }, shape)] = x.values[offset(index, x.shape)]
    }
    return y
}

/// Pads (positive) or crops (negative) `[before, after]` per spatial axis, one element at a time.
private func naivePadding(_ x: Tensor, _ amounts: [[Int]], channelsFirst: Bool) -> Tensor {
    let first = channelsFirst ? 2 : 1
    var shape = x.shape
    for (axis, pair) in amounts.enumerated() { shape[first + axis] += pair[0] + pair[1] }
    var y = Tensor(zeros: shape)
    for index in allIndices(shape) {
        var source = index
        for (axis, pair) in amounts.enumerated() { source[first + axis] -= pair[0] }
        guard zip(source, x.shape).allSatisfy({ $0 >= 0 && $0 < $1 }) else { continue }
        y.values[offset(index, shape)] = x.values[offset(source, x.shape)]
    }
    return y
}

private func permutations(_ items: [Int]) -> [[Int]] {
    guard items.count > 1 else { return [items] }
    return items.indices.flatMap { index in
        var rest = items
        let first = rest.remove(at: index)
        return permutations(rest).map { [first] + $0 }
    }
}

/// Equal shapes, every value within float rounding (1e-5, relative above 1) of `want`.
func expectClose(_ got: Tensor, _ want: Tensor, _ label: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.shape == want.shape, "\(label): shape \(got.shape) vs \(want.shape)", sourceLocation: sourceLocation)
    guard got.shape == want.shape else { return }
    let worst = zip(got.values, want.values).map { abs($0 - $1) - 1e-5 * max(1, abs($1)) }.max() ?? 0
    #expect(worst <= 0, "\(label): max error \(worst) beyond tolerance", sourceLocation: sourceLocation)
}

