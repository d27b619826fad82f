import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// For every fixture, library and format: kconv's summary must equal what Keras itself reported —
/// per-layer params, trainable params, output shapes (wrapped and nested layers included), totals,
/// and the model's inputs and outputs.
@Suite struct InspectFixtureTests {
    static let files = Fixtures.modelFiles()

    @Test func fixturesArePresent() {
        #expect(Self.files.count >= 100, "expected the committed fixtures under \(Fixtures.cases.path)")
    }

    @Test(arguments: files)
    func summaryMatchesKeras(_ file: Fixtures.ModelFile) throws {
        let expected = try file.expected()
        let summary = ModelSummary(try file.load())
        var mismatches: [String] = []
        func check<T: Equatable>(_ what: String, _ found: T, _ want: T?) {
            if let want, found != want { mismatches.append("\(what): kconv \(found), Keras \(want)") }
        }
        check("total_params", summary.totalParams, expected["total_params"]?.intValue)
        // Which of a custom layer's weights train is in its Python code: no file records it.
        if !summary.rows.contains(where: Self.holdsUnknownWeights) {
            check("trainable_params", summary.trainableParams, expected["trainable_params"]?.intValue)
            check("non_trainable_params", summary.nonTrainableParams, expected["non_trainable_params"]?.intValue)
        }
        // A subclassed model: the weights' shapes, in any order (each file lists them in its own).
        check("weight shapes", (summary.subclassed?.weights ?? []).map(\.shape.description).sorted(),
              expected["weights"]?.arrayValue?.map { ($0["shape"]?.arrayValue ?? []).compactMap(\.intValue).description }.sorted())
        check("model class", summary.modelClass, expected["model_class"]?.stringValue)
        check("inputs", summary.inputs.map { ModelSummary.describe($0.shape) },
              expected["inputs"]?.arrayValue?.map { Self.shapeText($0["shape"]) })
        // Downstream of a layer kconv cannot compute (a Lambda), shapes are honestly unknown.
        let unknownAllowed = !summary.unsupportedLayers.isEmpty
        let outputs = expected["outputs"]?.arrayValue?.map { Self.shapeText($0["shape"]) }
        check("outputs", zip(summary.outputs, outputs ?? []).map { unknownAllowed && $0.shape == nil ? $1 : ModelSummary.describe($0.shape) }, outputs)
        let rows = expected["layers"]?.arrayValue ?? []
        let layerRows = summary.rows.filter { !$0.isOperation }
        check("layer count", layerRows.count, rows.count)
        for (row, want) in zip(layerRows, rows) { Self.compare(row, want, path: "", into: &mismatches) }
        let unsupported = summary.unsupportedLayers.map(\.name)
        check("unsupported layers", unsupported, expected["unsupported"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        #expect(mismatches.isEmpty, "\(file): \(mismatches.joined(separator: "; "))")
    }

    /// Keras 3's summary lists operation nodes among the layers, in config order (as `model.summary()`
    /// printed for this file); `model.layers`, which the fixtures record, leaves them out.
    @Test func operationNodesAreListedAsKerasSummaryDoes() throws {
        let loaded = try KerasModel.load(Fixtures.cases.appendingPathComponent("conv_lstm2d_mask/keras3.keras").path)
        let rows = ModelSummary(loaded).rows
        #expect(rows.map(\.name) == ["input_layer", "not_equal", "any", "conv_lstm2d", "conv_lstm2d_1"])
        #expect(rows.map(\.isOperation) == [false, true, true, false, false])
        #expect(rows[2].inbound == [["not_equal[0][0]"]])
    }

    /// Sub-models called twice, as both Kerases' `model.summary()` printed them: each call is numbered from 0 in
    /// "Connected to" (tf-keras too, though its config starts a nested model at 1), and a sub-model whose calls
    /// all give one shape shows that shape.
    @Test(arguments: ["keras2.h5", "keras3.keras"])
    func sharedSubModelsAreSummarisedAsKerasDoes(_ name: String) throws {
        let loaded = try KerasModel.load(Fixtures.cases.appendingPathComponent("shared_submodels/\(name)").path)
        let summary = ModelSummary(loaded)
        let rows = Dictionary(uniqueKeysWithValues: summary.rows.map { ($0.name, $0) })
        #expect(rows["head"]?.inbound == [["encoder[0][0]"], ["encoder[1][0]"]])
        #expect(rows["joined"]?.inbound == [["head[0][0]", "head[1][0]"]])
        let encoderLine = summary.text.split(separator: "\n").first { $0.hasPrefix("encoder (Functional)") }
        #expect(encoderLine?.contains("(None, 4)") == true, "\(encoderLine ?? "no encoder row")")
    }

    /// After a layer kconv cannot compute, Keras 3's `build_config` records still give the shapes: of the
    /// layer after it (its own record) and of the unknown layer itself (its reader's record).
    @Test func shapesAfterAnUnsupportedLayerComeFromBuildConfig() throws {
        let loaded = try KerasModel.load(Fixtures.cases.appendingPathComponent("custom_layer_functional/keras3.keras").path)
        let summary = ModelSummary(loaded)
        let shapes = summary.rows.map { ModelSummary.describe($0.outputShapes.first?.first ?? nil) }
        #expect(summary.rows.map(\.name) == ["input_layer", "dense", "channel_scale", "dense_1"])
        #expect(shapes == ["(None, 4)", "(None, 3)", "(None, 3)", "(None, 2)"])
        #expect(summary.outputs.map { ModelSummary.describe($0.shape) } == ["(None, 2)"])
    }

    /// Keras 2 files record no build shapes: after a Lambda or a custom layer, the next Dense's kernel tells the
    /// unknown layer's output (its rows), so every shape is known, as Keras printed them.
    @Test(arguments: [("lambda_layer", "keras2.h5", ["dense", "lambda", "dense_1"], ["(None, 4)", "(None, 4)", "(None, 2)"]),
                      ("custom_layer_functional", "keras2.h5", ["input_1", "dense", "channel_scale", "dense_1"],
                       ["(None, 4)", "(None, 3)", "(None, 3)", "(None, 2)"])])
    func shapesAfterAnUnsupportedLayerComeFromTheNextLayersWeights(_ fixture: String, _ file: String, _ names: [String], _ shapes: [String]) throws {
        let summary = ModelSummary(try KerasModel.load(Fixtures.cases.appendingPathComponent("\(fixture)/\(file)").path))
        #expect(summary.rows.map(\.name) == names)
        #expect(summary.rows.map { ModelSummary.describe($0.outputShapes.first?.first ?? nil) } == shapes)
        #expect(summary.outputs.map { ModelSummary.describe($0.shape) } == [shapes.last])
    }

    /// A Reshape to a fully given shape tells its output past a layer kconv cannot compute.
    @Test func aReshapeToAGivenShapeIsKnownAfterAnUnsupportedLayer() throws {
        let config: JSONValue = try JSONValue.parse("""
            {"class_name": "Sequential", "config": {"name": "s", "layers": [
              {"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [null, 6], "dtype": "float32"}},
              {"class_name": "Lambda", "config": {"name": "lambda", "function": "", "function_type": "lambda"}},
              {"class_name": "Reshape", "config": {"name": "reshape", "target_shape": [3, 2]}},
              {"class_name": "Flatten", "config": {"name": "flatten"}}]}}
            """)
        let summary = ModelSummary(KerasModel(path: "s.json", weightsPath: nil, format: .json, weightsLayout: .none, kerasVersion: "2.21.0",
                                              backend: nil, dialect: .keras2, model: try KerasModel.buildModel(config, dialect: .keras2)))
        #expect(summary.rows.map { ModelSummary.describe($0.outputShapes.first?.first ?? nil) } == ["?", "(None, 3, 2)", "(None, 6)"])
    }

    /// Compares one summary row with Keras's record of the layer, recursing into wrapped and nested layers.
    static func compare(_ row: ModelSummary.Row, _ want: JSONValue, path: String, into mismatches: inout [String]) {
        let where_ = path + (want["name"]?.stringValue ?? "?")
        func check<T: Equatable>(_ what: String, _ found: T, _ expected: T?) {
            if let expected, found != expected { mismatches.append("\(where_) \(what): kconv \(found), Keras \(expected)") }
        }
        check("name", row.name, want["name"]?.stringValue)
        check("class", row.className, want["class_name"]?.stringValue)
        check("params", row.params, want["params"]?.intValue)
        if !holdsUnknownWeights(row) { check("trainable params", row.trainableParams, want["trainable_params"]?.intValue) }
        // Shapes downstream of a layer kconv cannot compute are unknown; Keras knows them.
        let known = row.outputShapes.allSatisfy { $0.allSatisfy { $0 != nil } }
        if known, let shape = want["output_shape"] {
            check("output shape", row.outputShapes.count == 1 ? ModelSummary.outputJSON(row.outputShapes[0]) : .null, shape)
        }
        if known, let shapes = want["output_shapes"]?.arrayValue {
            check("output shapes", row.outputShapes.map(ModelSummary.outputJSON), shapes)
        }
        let children = (want["layers"]?.arrayValue ?? [])
            + [want["inner"], want["forward"], want["backward"]].compactMap { $0 }
        check("wrapped/nested layer count", row.children.count, children.count)
        for (child, expected) in zip(row.children, children) { compare(child, expected, path: where_ + "/", into: &mismatches) }
    }

    /// A layer kconv does not know, holding weights: the file gives their shapes, not whether they train.
    static func holdsUnknownWeights(_ row: ModelSummary.Row) -> Bool {
        row.unsupportedReason != nil && row.children.isEmpty && row.params > 0 || row.children.contains(where: holdsUnknownWeights)
    }

    static func shapeText(_ value: JSONValue?) -> String {
        guard let dims = value?.arrayValue else { return "?" }
        return dims.map(\.intValue).kerasDescription
    }
}
