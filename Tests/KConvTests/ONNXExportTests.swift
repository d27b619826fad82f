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
    static func converted(_ fixture: String, opset: Int? = nil) throws -> Onnx_ModelProto {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("model.onnx").path
        let source = try KerasModel.load(ConvertTests.fixture(fixture))
        let report = try ModelConverter.convert(source, to: out, options: ConversionOptions(format: .onnx, opset: opset))
        #expect(report.check?.contains("bit for bit") == true)
        return try Onnx_ModelProto(serializedBytes: Data(contentsOf: URL(fileURLWithPath: out)))
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
    /// into its weights (only the one after a relu Conv2D stays a Mul and an Add); padding, upsampling and
    /// the residual Add keep the stack channels-first, so one Transpose goes in and none comes out (the
    /// global pool reduces the channels-first tensor directly). onnxruntime's numbers: parity.py.
    @Test func batchNormalizationFoldsIntoTheLayerBefore() throws {
        let model = try Self.converted("conv_batchnorm/keras2.h5")
        let normalizing = model.graph.node.filter { $0.name.hasPrefix("batch_normalization") }
        #expect(normalizing.map(\.opType) == ["Mul", "Add"])
        #expect(normalizing.allSatisfy { $0.name.hasPrefix("batch_normalization_3/") })
        #expect(model.graph.node.filter { $0.opType == "Transpose" }.count == 1)
        #expect(model.graph.node.filter { $0.opType == "Conv" || $0.opType == "ConvTranspose" }.count == 6)
        #expect(model.graph.node.filter { $0.opType == "Gemm" }.count == 2)
    }

    /// ONNX's LSTM gates run i, o, f, c; Keras's kernel columns i, f, c, o. Row `g·units + u` of W is column
    /// `keras(g)·units + u` of the Keras kernel.
    @Test func lstmGatesAreReordered() throws {
        let source = try KerasModel.load(ConvertTests.fixture("seed_lstm_many_to_one/keras2.h5"))
        let lstm = try #require(source.model.layers.first { $0.className == "LSTM" })
        let kernel = try #require(lstm.weights.first)
        let values = try kernel.values()
        let (inputs, width) = (kernel.shape[0], kernel.shape[1])
        let units = width / 4
        let model = try Self.converted("seed_lstm_many_to_one/keras2.h5")
        let node = try #require(model.graph.node.first { $0.opType == "LSTM" })
        let w = try #require(model.graph.initializer.first { $0.name == node.input[1] })
        #expect(w.dims == [1, Int64(width), Int64(inputs)])
        let written = w.rawData.withUnsafeBytes { raw in (0 ..< raw.count / 4).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
        for (onnxGate, kerasGate) in [0, 3, 1, 2].enumerated() {
            for unit in [0, units - 1] {
                for input in [0, inputs - 1] {
                    #expect(written[((onnxGate * units) + unit) * inputs + input] == values[input * width + kerasGate * units + unit])
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

    /// The check reads the written bytes back: a changed weight byte is caught.
    @Test func checkCatchesAChangedWeight() throws {
        let source = try KerasModel.load(ConvertTests.fixture("simple_rnn/keras2.h5"))
        let export = try ONNXExporter.export(try source.model.lowered().graph,
                                             ONNXModelDescription(name: "m", inputs: source.model.inputLayers.map { ($0.name, .float32) },
                                                                  outputNames: ["out"], producerVersion: "test", metadata: []))
        _ = try export.check(export.data)
        var model = export.model
        let index = try #require(model.graph.initializer.firstIndex { $0.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue) && $0.rawData.count > 4 })
        model.graph.initializer[index].rawData[0] ^= 1
        #expect(throws: ModelError.self) { try export.check(try model.serializedData()) }
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
