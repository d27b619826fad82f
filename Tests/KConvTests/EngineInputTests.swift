import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// Bad inputs to the engine: a clear error naming the input or the layer, never a crash.
@Suite struct EngineInputTests {
    static func model(_ caseName: String) throws -> Model {
        let model = try KerasModel.load(Fixtures.cases.appendingPathComponent("\(caseName)/keras2.h5").path).model
        try model.prepareForInference()
        return model
    }

    static func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return ""
        } catch {
            return String(describing: error)
        }
    }

    @Test func wrongInputCountNamesTheInputs() throws {
        let model = try Self.model("multi_io")
        let text = Self.message { _ = try model.predict([Tensor(zeros: [1, 4])]) }
        #expect(text.contains("takes 3 inputs (vec, seq, tok), found 1"), "\(text)")
    }

    /// A run within the memory budget lets later runs of the same sizes skip the size checks, until the budget
    /// changes: a lower one refuses the next run of those sizes, naming the layer.
    @Test func sizeChecksFollowTheBudget() throws {
        let model = try Self.model("seed_td_lstm")
        let plan = try #require((model.prepared as? PreparedModel)?.plan)
        let input = [Tensor(zeros: [3, 10, 5, 1])]
        _ = try model.predict(input)
        _ = try model.predict(input)
        plan.largestValue = 64
        let text = Self.message { _ = try model.predict(input) }
        #expect(text.contains("expected outputs of at most 64 bytes (kconv's memory budget)") && text.contains("layer '"), "\(text)")
    }

    @Test func wrongShapeNamesTheInputAndBothShapes() throws {
        let model = try Self.model("seed_td_lstm")
        let text = Self.message { _ = try model.predict([Tensor(zeros: [2, 10, 4, 1])]) }
        #expect(text.contains("input 'time_distributed_input'"), "\(text)")
        #expect(text.contains("(None, 10, 5, 1)") && text.contains("[2, 10, 4, 1]"), "\(text)")
    }

    @Test func embeddingIndexOutOfRangeNamesTheLayer() throws {
        let model = try Self.model("seed_bidir_embedding_td_softmax")
        let shape = model.inputLayers[0].batchShape.map { $0 ?? 1 }
        var indices = Tensor(zeros: shape)
        indices.values[3] = 1000
        let text = Self.message { _ = try model.predict([indices]) }
        #expect(text.contains("(Embedding)") && text.contains("1000") && text.contains("input_dim"), "\(text)")
        indices.values[3] = 2.5
        #expect(Self.message { _ = try model.predict([indices]) }.contains("whole number"))
    }

    @Test func nanPropagatesWithoutCrashing() throws {
        let model = try Self.model("seed_lstm_many_to_many")
        let shape = model.inputLayers[0].batchShape.map { $0 ?? 2 }
        var input = Tensor(zeros: shape)
        input.values[0] = .nan
        let output = try model.predict([input])
        #expect(output[0].values.contains { $0.isNaN })
    }

    @Test func unsupportedLayerMathsNamesTheLayer() throws {
        let model = try Self.model("lambda_layer")
        let text = Self.message { _ = try model.predict([Tensor(zeros: [1, 3])]) }
        #expect(text.contains("layer 'lambda' (Lambda)"), "\(text)")
    }

    @Test func configWithoutWeightsCannotRun() throws {
        let model = try KerasModel.load(Fixtures.cases.appendingPathComponent("seed_td_lstm/keras2.json").path).model
        let text = Self.message { try model.prepareForInference() }
        #expect(text.contains("no weights loaded"), "\(text)")
    }

    /// Integer indices stay exact past 2^24, where float32 can no longer tell 16777217 from 16777216: the
    /// row picked is the one asked for, and an index out of range is reported as given.
    @Test func integerIndicesStayExactPastFloatPrecision() throws {
        let rows = (1 << 24) + 2
        let table = Tensor(shape: [rows, 1], values: (0 ..< rows).map { Float($0 & 0xFF) })
        let indices = IndexTensor(shape: [1, 2], values: [16_777_217, 16_777_216])
        #expect(try gather(table, indices).values == [1, 0])
        #expect(try gather(table, Tensor(shape: [1, 1], values: [Float(16_777_217)])).values == [0])  // rounded as float32
        let error = #expect(throws: EngineError.self) { try gather(table, IndexTensor(shape: [1], values: [16_777_219])) }
        #expect(error?.message.contains("index 16777219 ") == true)
    }

    /// A model's integer input reaches its Embedding as integers (the reference's int32 token ids).
    @Test func integerModelInputsReachTheEmbeddingExactly() throws {
        let model = try KerasModel.load(Fixtures.cases.appendingPathComponent("embedding_mask_gru/keras3.keras").path).model
        let array = NumPyArray(shape: [1, 3], dtype: .int32, values: [1, 2, 0], integers: [1, 2, 0])
        let slots = try model.inputSlots([array])
        if DType(kerasName: model.inputLayers[0].dtype)?.isInteger == true {
            guard case .integers(let indices) = slots[0] else { Issue.record("expected integer slots, found \(slots[0])"); return }
            #expect(indices.values == [1, 2, 0])
        } else {
            Issue.record("the fixture's input is \(model.inputLayers[0].dtype), not an integer type")
        }
    }

    /// A layer kconv cannot compute, whose second output feeds another layer: the error names that layer and
    /// why, not a missing output index.
    @Test func secondOutputOfAnUnsupportedLayerNamesTheReason() throws {
        let config = #"{"class_name": "Functional", "keras_version": "2.21.0", "config": {"name": "m", "layers": [{"class_name": "InputLayer", "name": "x", "inbound_nodes": [], "config": {"name": "x", "batch_input_shape": [null, 3], "dtype": "float32"}}, {"class_name": "MyAttention", "name": "att", "config": {"name": "att"}, "inbound_nodes": [[["x", 0, 0, {}]]]}, {"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 2}, "inbound_nodes": [[["att", 0, 1, {}]]]}], "input_layers": [["x", 0, 0]], "output_layers": [["d", 0, 0]]}}"#
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-two-outputs-\(UUID().uuidString).json")
        try Data(config.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let model = try KerasModel.load(file.path).model
        let text = Self.message { try model.prepareForInference() }
        #expect(text.contains("layer 'att' (MyAttention): kconv does not implement class MyAttention"), "\(text)")
    }
}
