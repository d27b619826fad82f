import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvKeras
@testable import KConvONNX
import ONNXProto

/// The ONNX writer: what the written bytes hold when read back (names, dtypes, opset, metadata, weights laid
/// out as ONNX's operators want them) and the check that guards every write. Whether onnxruntime computes
/// Keras's outputs from them is Scripts/parity.py's `--target onnx`.
@Suite struct ONNXExportTests {
    /// A fixture converted through `kconv convert`'s path, read back from the file written.
    static func converted(_ fixture: String, opset: Int? = nil, float16: Bool = false) throws -> Onnx_ModelProto {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("model.onnx").path
        let source = try KerasModel.load(ConvertTests.fixture(fixture))
        let report = try ModelConverter.convert(source, to: out, options: ConversionOptions(format: .onnx, opset: opset, float16: float16))
        #expect(report.check?.contains(float16 ? "rounded to float16 bit for bit" : "bit for bit") == true)
        return try Onnx_ModelProto(serializedBytes: Data(contentsOf: URL(fileURLWithPath: out)))
    }

    /// The check's multiset comparison sorts by radix: the same order as `sorted()`, on every bit of a word
    /// (the extremes, duplicates, float bit patterns) and on an empty array.
    @Test func radixSortAgreesWithSorted() {
        var generator = SystemRandomNumberGenerator()
        let words = [0, .max, 1 << 31, 0x7FF, 0x800, 1 << 22, 5, 5] + (0 ..< 10_000).map { _ in UInt32.random(in: .min ... .max, using: &generator) }
            + (0 ..< 1000).map { Float($0 % 37) * -0.25 }.map(\.bitPattern)
        #expect(words.radixSorted() == words.sorted())
        #expect([UInt32]().radixSorted().isEmpty)
    }

    /// An initializer holds its source's words when they are equal in order or once sorted, never when a word
    /// differs or one is missing.
    @Test func initializersHoldTheirSourceWordsInSomeOrder() {
        let words: [UInt32] = [7, 1, 0xFFFF_FFFF, 1, 42]
        func holds(_ written: [UInt32]) -> Bool {
            words.withUnsafeBufferPointer(written.withUnsafeBytes { Data($0) }.holdsInSomeOrder)
        }
        #expect(holds(words))
        #expect(holds([1, 1, 7, 42, 0xFFFF_FFFF]))
        #expect(!holds([7, 1, 0xFFFF_FFFF, 1, 43]))
        #expect(!holds([7, 7, 0xFFFF_FFFF, 1, 42]))
        #expect(!holds([7, 1, 0xFFFF_FFFF, 1]))
        let halves: [UInt16] = [3, 2, 1]
        #expect(halves.withUnsafeBufferPointer(Data([1, 0, 3, 0, 2, 0]).holdsInSomeOrder))
        #expect(!halves.withUnsafeBufferPointer(Data([1, 0, 3, 0, 3, 0]).holdsInSomeOrder))
    }

    @Test func modelKeepsKerasNamesShapesAndProvenance() throws {
        let model = try Self.converted("conv2d/keras2.h5")
        #expect(model.producerName == "kconv")
        #expect(model.opsetImport.map(\.version) == [Int64(ONNXExporter.defaultOpset)])
        #expect(model.irVersion == 10)
        let metadata = Dictionary(uniqueKeysWithValues: model.metadataProps.map { ($0.key, $0.value) })
        #expect(metadata["source_keras_version"] == "2.21.0")
        #expect(metadata["converter"]?.hasPrefix("kconv ") == true)
        #expect(model.graph.input.map(\.name) == ["conv2d_input"])
        #expect(model.graph.output.map(\.name) == ["conv2d_transpose_1"])
        let dims = model.graph.input[0].type.tensorType.shape.dim
        #expect(dims.map(\.dimParam) == ["batch", "", "", ""])
        #expect(dims.dropFirst().map(\.dimValue) == [12, 12, 3])
        #expect(model.graph.input[0].type.tensorType.elemType == Int32(Onnx_TensorProto.DataType.float.rawValue))
    }

    /// Channels-last at the interface, channels-first inside: one Transpose into the conv stack, one out.
    @Test func convolutionStackTransposesOnceEachWay() throws {
        let model = try Self.converted("conv2d/keras2.h5")
        let types = model.graph.node.map(\.opType)
        #expect(types.filter { $0 == "Transpose" }.count == 2)
        #expect(types.first == "Transpose" && types.last == "Transpose")
        #expect(types.filter { $0 == "Conv" || $0 == "ConvTranspose" }.count == 5)
    }

    /// BatchNormalization after a linear Conv, DepthwiseConv, SeparableConv, ConvTranspose or Dense is folded
    /// into its weights (only the one after a relu Conv2D stays, as one BatchNormalization that onnxruntime
    /// runs in its blocked layout); padding, upsampling and the residual Add keep the stack channels-first,
    /// so one Transpose goes in and none comes out (the global pool reduces the channels-first tensor
    /// directly). Convolutions and pools carry explicit pads, so onnxruntime can fuse the ZeroPadding2D's
    /// Pad into the Conv after it. onnxruntime's numbers: parity.py.
    @Test func batchNormalizationFoldsIntoTheLayerBefore() throws {
        let model = try Self.converted("conv_batchnorm/keras2.h5")
        let normalizing = model.graph.node.filter { $0.name.hasPrefix("batch_normalization") }
        #expect(normalizing.map(\.opType) == ["BatchNormalization"])
        #expect(!model.graph.node.contains { node in node.attribute.contains { $0.name == "auto_pad" } })
        #expect(normalizing.allSatisfy { $0.name.hasPrefix("batch_normalization_3/") })
        #expect(model.graph.node.filter { $0.opType == "Transpose" }.count == 1)
        #expect(model.graph.node.filter { $0.opType == "Conv" || $0.opType == "ConvTranspose" }.count == 6)
        #expect(model.graph.node.filter { $0.opType == "Gemm" }.count == 2)
    }

    /// A ReLU capped at `max_value` with no slope or threshold is one Clip (which onnxruntime fuses into
    /// the Conv before it, as in MobileNetV2's ReLU6); with a slope or threshold, a Min after them.
    @Test func cappedReluIsOneClip() throws {
        let model = try Self.converted("advanced_activations/keras2.h5")
        let capped = model.graph.node.filter { $0.name.hasPrefix("re_lu/") }.map(\.opType)
        #expect(capped == ["Clip"])
        let everything = model.graph.node.filter { $0.name.hasPrefix("re_lu_3/") }.map(\.opType)
        #expect(everything.last == "Min" && !everything.contains("Clip"))
    }

    /// ONNX's LSTM gates run i, o, f, c; Keras's kernel columns i, f, c, o. Row `g·units + u` of W is column
    /// `keras(g)·units + u` of the Keras kernel; with --float16, W is a float16 initializer behind a Cast and
    /// holds that value rounded to float16.
    @Test(arguments: [false, true])
    func lstmGatesAreReordered(_ float16: Bool) throws {
        let source = try KerasModel.load(ConvertTests.fixture("seed_lstm_many_to_one/keras2.h5"))
        let lstm = try #require(source.model.layers.first { $0.className == "LSTM" })
        let kernel = try #require(lstm.weights.first)
        let values = try kernel.values()
        let (inputs, width) = (kernel.shape[0], kernel.shape[1])
        let units = width / 4
        let model = try Self.converted("seed_lstm_many_to_one/keras2.h5", float16: float16)
        let node = try #require(model.graph.node.first { $0.opType == "LSTM" })
        let cast = model.graph.node.first { $0.opType == "Cast" && $0.output == [node.input[1]] }
        #expect((cast != nil) == float16)
        let w = try #require(model.graph.initializer.first { $0.name == (cast?.input[0] ?? node.input[1]) })
        #expect(w.dims == [1, Int64(width), Int64(inputs)])
        #expect(w.dataType == Int32((float16 ? Onnx_TensorProto.DataType.float16 : .float).rawValue))
        let written = float16 ? w.rawData.words(as: UInt16.self).map { Float(Float16(bitPattern: $0)) }
                              : w.rawData.words(as: UInt32.self).map(Float.init(bitPattern:))
        for (onnxGate, kerasGate) in [0, 3, 1, 2].enumerated() {
            for unit in [0, units - 1] {
                for input in [0, inputs - 1] {
                    let value = values[input * width + kerasGate * units + unit]
                    #expect(written[((onnxGate * units) + unit) * inputs + input] == (float16 ? Float(Float16(value)) : value))
                }
            }
        }
        #expect(node.attribute.first { $0.name == "direction" }?.s == Data("forward".utf8))
    }

    /// Keras 1/2 hard_sigmoid is HardSigmoid(0.2, 0.5); Keras 3's relu6(x+3)/6 is HardSigmoid(1/6, 0.5).
    @Test(arguments: [("keras2", Float(0.2)), ("keras3", Float(1.0 / 6.0))])
    func hardSigmoidKeepsItsVersionsMaths(_ library: String, _ alpha: Float) throws {
        let model = try Self.converted("lstm_hard_sigmoid/\(library).h5")
        let node = try #require(model.graph.node.first { $0.opType == "LSTM" })
        let activations = node.attribute.first { $0.name == "activations" }?.strings.map { String(decoding: $0, as: UTF8.self) }
        #expect(activations?.first == "HardSigmoid")
        #expect(node.attribute.first { $0.name == "activation_alpha" }?.floats == [alpha])
        #expect(node.attribute.first { $0.name == "activation_beta" }?.floats == [0.5])
    }

    @Test func bidirectionalIsOneNode() throws {
        let model = try Self.converted("seed_bidir_embedding_lstm/keras2.h5")
        let nodes = model.graph.node.filter { $0.opType == "LSTM" }
        #expect(nodes.count == 1)
        #expect(nodes.first?.attribute.first { $0.name == "direction" }?.s == Data("bidirectional".utf8))
    }

    /// Embedding(mask_zero=True) becomes the GRU's sequence lengths.
    @Test func maskBecomesSequenceLengths() throws {
        let model = try Self.converted("embedding_mask_gru/keras2.h5")
        let gru = try #require(model.graph.node.first { $0.opType == "GRU" })
        #expect(gru.input.count > 4 && !gru.input[4].isEmpty)
        #expect(gru.attribute.first { $0.name == "linear_before_reset" }?.i == 1)
    }

    /// Weights permuted into ONNX's layouts agree with an element-by-element permutation, for every axis order
    /// of a rank-4 kernel and for runs of length 1.
    @Test func permutedAgreesWithNaive() {
        for shape in [[2, 3, 4, 5], [3, 1, 2, 1]] {
            let values = (0 ..< shape.reduce(1, *)).map(Float.init)
            for permutation in [0, 1, 2, 3].permutations {
                let outputShape = permutation.map { shape[$0] }
                var naive: [Float] = []
                for a in 0 ..< outputShape[0] { for b in 0 ..< outputShape[1] { for c in 0 ..< outputShape[2] { for d in 0 ..< outputShape[3] {
                    var source = [0, 0, 0, 0]
                    for (axis, position) in zip(permutation, [a, b, c, d]) { source[axis] = position }
                    naive.append(values[((source[0] * shape[1] + source[1]) * shape[2] + source[2]) * shape[3] + source[3]])
                } } } }
                #expect(permuted(values, shape: shape, permutation) == naive, "\(shape) \(permutation)")
            }
        }
    }

    /// The file is written in parts, each message's bulk last: it reads back as the model it was made from,
    /// as many bytes as serializing it whole, with initializers whose raw data is long (a two-byte size), empty
    /// but present, or absent (values in float_data), and for a model without a graph.
    @Test func filePartsReadBackAsTheModel() throws {
        var model = Onnx_ModelProto()
        model.irVersion = 10
        model.producerName = "kconv"
        var graph = Onnx_GraphProto()
        graph.name = "g"
        var node = Onnx_NodeProto()
        node.opType = "Add"
        node.input = ["a", "b"]
        node.output = ["c"]
        graph.node = [node]
        graph.input = [ONNXExporter.valueInfo("a", dtype: .float32, shape: [.size(75)])]
        var long = Onnx_TensorProto(), empty = Onnx_TensorProto(), listed = Onnx_TensorProto()
        long.name = "b"
        long.dims = [75]
        long.rawData = Data((0 ..< 300).map { UInt8($0 % 251) })
        empty.name = "empty"
        empty.rawData = Data()
        listed.name = "listed"
        listed.floatData = [1, 2]
        graph.initializer = [long, empty, listed]
        model.graph = graph
        for model in [model, Onnx_ModelProto()] {
            let written = try ONNXExporter.fileParts(of: model).reduce(Data(), +)
            #expect(try Onnx_ModelProto(serializedBytes: written) == model)
            #expect(try written.count == model.serializedData().count)
        }
    }

    /// The check compares the written bytes with the model's and its weights with the source's: a changed weight byte
    /// is caught either way, in float32 and float16 weights, and so is a short file.
    @Test(arguments: [Onnx_TensorProto.DataType.float, .float16])
    func checkCatchesAChangedWeight(_ dtype: Onnx_TensorProto.DataType) throws {
        let export = try Self.exported("simple_rnn/keras2.h5", float16Weights: dtype == .float16)
        _ = try export.check(export.parts.reduce(Data(), +))
        var model = export.model
        let index = try #require(model.graph.initializer.firstIndex { initializer in
            guard case .permuted? = export.initializerSources[initializer.name] else { return false }
            return initializer.dataType == Int32(dtype.rawValue) && initializer.rawData.count > 4
        })
        model.graph.initializer[index].rawData[0] ^= 1
        #expect(throws: ModelError.self) { try export.check(try model.serializedData()) }
        #expect(throws: ModelError.self) { try export.check(export.parts.reduce(Data(), +).dropLast()) }
        // Written as meant, but what was meant does not hold the source's weights.
        let astray = ONNXExport(parts: try ONNXExporter.fileParts(of: model), model: model, initializerSources: export.initializerSources,
                                maskedLayers: export.maskedLayers)
        #expect(throws: ModelError.self) { try astray.check(astray.parts.reduce(Data(), +)) }
    }

    /// A convolution kernel is checked in the order its permutation gives: two of its values swapped (the same
    /// values in another order) is caught.
    @Test func checkCatchesAKernelOutOfOrder() throws {
        let export = try Self.exported("conv2d/keras2.h5")
        var model = export.model
        let index = try #require(model.graph.initializer.firstIndex { initializer in
            guard case .permuted(_, let permutation)? = export.initializerSources[initializer.name] else { return false }
            return permutation != Array(permutation.indices)
        })
        var values = model.graph.initializer[index].rawData.words(as: UInt32.self)
        let other = try #require(values.firstIndex { $0 != values[0] })
        values.swapAt(0, other)
        model.graph.initializer[index].rawData = values.withUnsafeBytes { Data($0) }
        let swapped = ONNXExport(parts: try ONNXExporter.fileParts(of: model), model: model, initializerSources: export.initializerSources,
                                 maskedLayers: export.maskedLayers)
        let error = #expect(throws: ModelError.self) { try swapped.check(swapped.parts.reduce(Data(), +)) }
        #expect(error?.description.contains("does not hold the values of") == true)
    }

    /// The fixture's model exported to ONNX.
    static func exported(_ fixture: String, float16Weights: Bool = false) throws -> ONNXExport {
        let source = try KerasModel.load(ConvertTests.fixture(fixture))
        return try ONNXExporter.export(try source.model.lowered().graph,
                                       ONNXModelDescription(name: "m", inputs: source.model.inputLayers.map { ($0.name, .float32) },
                                                            outputNames: source.model.outputs.map { "out\($0.node)" }, producerVersion: "test", metadata: []),
                                       float16Weights: float16Weights)
    }

    /// A Keras Dot or EinsumDense whose equation is a matrix product becomes MatMul (onnxruntime's Einsum
    /// kernel is slower); other equations stay Einsum.
    @Test func matrixProductEinsumsAreMatMuls() throws {
        let model = try Self.converted("seed_attention/keras2.h5")
        #expect(model.graph.node.filter { $0.opType == "MatMul" }.count == 2)
        #expect(!model.graph.node.contains { $0.opType == "Einsum" })
        let cases: [(String, Bool)] = [("abz,azc->abc", true), ("ij,jk->ik", true), ("abc,cd->abd", true), ("abcd,cde->abe", false),
                                       ("abz,acz->abc", false), ("abz,azc->acb", false), ("abz,zc->abc", true), ("ab,bc->ca", false)]
        for (equation, isProduct) in cases {
            let terms = try #require(EinsumOp(equation: equation).terms)
            #expect(ONNXTranslator.isMatrixProduct(terms) == isProduct, "\(equation)")
        }
    }

    /// --float16 stores every weight (rearranged or folded from the source's) as float16, each read through a
    /// Cast to float32, so every operator still computes in float32; the interface stays float32, and kconv's
    /// own constants (scalars and the like) stay float32 so they keep their exact values.
    @Test func float16StoresEveryWeightBehindACast() throws {
        let full = try Self.converted("conv_batchnorm/keras2.h5")
        let half = try Self.converted("conv_batchnorm/keras2.h5", float16: true)
        let float32 = Int32(Onnx_TensorProto.DataType.float.rawValue), float16 = Int32(Onnx_TensorProto.DataType.float16.rawValue)
        let halves = half.graph.initializer.filter { $0.dataType == float16 }
        let casts = half.graph.node.filter { $0.opType == "Cast" && halves.map(\.name).contains($0.input[0]) }
        #expect(casts.count == halves.count)
        #expect(casts.allSatisfy { $0.attribute.first { $0.name == "to" }?.i == Int64(float32) })
        // Each weight of the float32 file is now the output of a Cast, with the same shape and values rounded.
        let weights = full.graph.initializer.filter { $0.dataType == float32 && $0.rawData.count > 4 }
        #expect(!weights.isEmpty)
        for weight in weights {
            let cast = try #require(casts.first { $0.output == [weight.name] }, "\(weight.name) is not cast from float16")
            let stored = try #require(halves.first { $0.name == cast.input[0] })
            #expect(stored.dims == weight.dims)
            #expect(stored.rawData.words(as: UInt16.self) == weight.rawData.words(as: UInt32.self).map { Float16(Float(bitPattern: $0)).bitPattern })
        }
        #expect(half.graph.initializer.filter { $0.dataType == float32 }.allSatisfy { $0.rawData.count <= 4 })
        #expect(half.graph.input.map(\.type) == full.graph.input.map(\.type))
        #expect(half.graph.output.map(\.type) == full.graph.output.map(\.type))
    }

    /// A weight float16 cannot hold (it would round to infinity) is refused, naming it; a constant of
    /// kconv's own stays float32 and is never in question.
    @Test func float16RefusesAWeightBeyondItsRange() throws {
        var builder = ONNXGraphBuilder()
        builder.scope = "dense"
        _ = builder.floats([1, 65504], shape: [2], name: "dense/kernel", source: .derived)
        _ = builder.floats([1e5], shape: [1], name: "const", source: .computed)
        try builder.storeWeightsAsFloat16()
        _ = builder.floats([1, 70000], shape: [2], name: "dense/bias", source: .derived)
        let error = #expect(throws: ModelError.self) { try builder.storeWeightsAsFloat16() }
        #expect(error?.description.contains("'dense/bias' holds 70000.0, beyond float16's range") == true, "\(String(describing: error))")
    }

    @Test func opsetOutsideOnnxruntimesRangeIsRefused() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try KerasModel.load(ConvertTests.fixture("simple_rnn/keras2.h5"))
        let out = directory.appendingPathComponent("model.onnx").path
        let error = #expect(throws: ModelError.self) {
            try ModelConverter.convert(source, to: out, options: ConversionOptions(format: .onnx, opset: 12))
        }
        #expect(error?.description.contains("13") == true)
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// Opset 13 has no Gelu, Mish or LayerNormalization operator: their maths are spelled out.
    @Test func olderOpsetSpellsOutNewerOperators() throws {
        let model = try Self.converted("normalization/keras3.h5", opset: 13)
        #expect(!model.graph.node.contains { $0.opType == "LayerNormalization" })
        #expect(model.opsetImport.map(\.version) == [13])
        #expect(model.irVersion == 7)
    }

    @Test func aLayerKconvCannotComputeIsNamed() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try KerasModel.load(ConvertTests.fixture("lambda_layer/keras2.h5"))
        let error = #expect(throws: ModelError.self) {
            try ModelConverter.convert(source, to: directory.appendingPathComponent("m.onnx").path, options: ConversionOptions(format: .onnx))
        }
        #expect(error?.layer?.contains("Lambda") == true)
    }
}

private extension Array {
    /// Every ordering of the elements.
    var permutations: [[Element]] {
        guard count > 1 else { return [self] }
        return indices.flatMap { index in
            var rest = self
            let first = rest.remove(at: index)
            return rest.permutations.map { [first] + $0 }
        }
    }
}
