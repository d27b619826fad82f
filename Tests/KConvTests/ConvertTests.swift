import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// `kconv convert`: every fixture model file to every target, read back by kconv with the same layers,
/// shapes and bit-identical weights; refusals, --force, atomic writes and untranslatable configs.
@Suite struct ConvertTests {
    struct Target: Sendable, CustomStringConvertible {
        var format: ConversionFormat
        var dialect: KerasDialect
        var file: String
        var description: String { "\(file) (\(dialect))" }
    }

    static let targets = [
        Target(format: .h5, dialect: .keras2, file: "model.h5"),
        Target(format: .keras, dialect: .keras3, file: "model.keras"),
        Target(format: .json, dialect: .keras2, file: "model.json"),
        Target(format: .json, dialect: .keras3, file: "model.json"),
    ]

    /// (case, source library, target Keras) pairs kconv must refuse, and a word the refusal must contain.
    static let refusals: [String: String] = [
        "lambda_layer keras2 Keras 3": "Lambda",
        "keras3_attention keras3 Keras 2": "tf-keras has no GroupedQueryAttention",
        "multi_head_attention_masks keras2 Keras 3": "takes the Keras masks off the tensors it reads",
        "multi_head_attention_masks keras3 Keras 2": "takes the Keras masks off the tensors it reads",
        "preprocessing_keras3 keras3 Keras 2": "tf-keras has no such augmentation",
        "preprocessing_layouts keras3 Keras 2": "Keras 2 cannot express \"channels_first\"",
        "conv_lstm2d_mask keras3 Keras 2": "Keras 2 has no layer for the Keras 3 operation",
        "subclassed_model keras2 Keras 2": "a subclassed model computes in its Python call() method",
        "subclassed_model keras2 Keras 3": "a subclassed model computes in its Python call() method",
        "subclassed_model keras3 Keras 2": "a subclassed model computes in its Python call() method",
        "subclassed_model keras3 Keras 3": "a subclassed model computes in its Python call() method",
    ]

    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-convert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    static func contents(_ directory: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }

    /// Cases Scripts/parity.py checks against Keras instead: layers written as another class (CuDNNLSTM as
    /// LSTM), so a copy does not read back as the same layers,
    /// and cases with a user's layer class, which converts only where its config and weights' layout carry
    /// over unchanged (the same Keras generation, a weights layout the source had).
    static let writtenAsOtherClasses: Set<String> = ["cudnn_rnn", "custom_layer_functional"]

    @Test(arguments: Fixtures.modelFiles().filter { !writtenAsOtherClasses.contains($0.caseName) })
    func roundTrip(_ file: Fixtures.ModelFile) throws {
        let source = try file.load()
        for target in Self.targets {
            let directory = try Self.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let out = directory.appendingPathComponent(target.file).path
            let options = ConversionOptions(format: target.format, target: target.dialect)
            if let word = Self.refusals["\(file.caseName) \(file.library) \(target.dialect)"] {
                let error = #expect(throws: ModelError.self, "\(file) → \(target)") {
                    try ModelConverter.convert(source, to: out, options: options)
                }
                #expect(error?.description.contains(word) == true, "\(error?.description ?? "")")
                #expect(Self.contents(directory).isEmpty, "a refused conversion left \(Self.contents(directory))")
                continue
            }
            let report = try ModelConverter.convert(source, to: out, options: options)
            #expect(report.check != nil)
            let reloaded = try KerasModel.load(out, weights: target.format == .json ? ModelConverter.weightsPath(forJSON: out) : nil)
            #expect(reloaded.dialect == target.dialect, "\(file) → \(target)")
            // hard_sigmoid crossing versions is written exactly by scaling weights: those differ, the outputs match.
            let rescaled = report.notes.contains { $0.contains("scaled by") }
            #expect(!rescaled || report.check?.contains("outputs on seeded inputs match") == true, "\(report.check ?? "")")
            // Layers the target computes as several are written as those; a JSON config keeps Keras 3's new names.
            let expected = try source.model.expanded(for: target.dialect).model
            let renamed = target.format == .json && target.dialect == .keras3
                ? Dictionary(uniqueKeysWithValues: Keras3Names.renames(expected).map { ($0.original, $0.written) }) : [:]
            try Self.expectSame(expected, reloaded.model, "\(file) → \(target)", weights: !rescaled, renamed: renamed)
            try Self.expectVocabulary(of: out, format: target.format, dialect: target.dialect)
        }
    }

    /// Same layer names, classes, parameter counts, weight shapes, output shapes, and (unless `weights` is
    /// false) bit-identical weights.
    /// Layers recording a tf call (TFOpLambda) are operations in Keras 3, not layers: they are left out.
    /// `renamed`: the names the copy gives source layers.
    static func expectSame(_ source: Model, _ copy: Model, _ what: String, weights: Bool = true, renamed: [String: String] = [:]) throws {
        let sourceLayers = source.layers.filter { !$0.recordsCallOnly }, copyLayers = copy.layers.filter { !$0.recordsCallOnly }
        #expect(sourceLayers.map { renamed[$0.name] ?? $0.name } == copyLayers.map(\.name), "\(what)")
        #expect(sourceLayers.map(\.className) == copyLayers.map(\.className), "\(what)")
        #expect(sourceLayers.map(\.paramCount) == copyLayers.map(\.paramCount), "\(what)")
        #expect(sourceLayers.map(\.trainableParamCount) == copyLayers.map(\.trainableParamCount), "\(what)")
        #expect(source.inputShapes == copy.inputShapes, "\(what)")
        // Past a layer kconv cannot compute, only Keras 3's build records give shapes; a Keras 2 copy has none.
        let (shapes, copyShapes) = (source.outputShapesOfModel, copy.outputShapesOfModel)
        #expect(shapes.count == copyShapes.count && zip(shapes, copyShapes).allSatisfy { $0 == nil || $1 == nil || $0 == $1 },
                "\(what): \(shapes) vs \(copyShapes)")
        for (a, b) in zip(sourceLayers, copyLayers) {
            #expect(a.weightSpecs.map(\.shape) == b.weightSpecs.map(\.shape), "\(what): \(a.label)")
            for (x, y) in zip(a.weights, b.weights) where weights {
                let want = try x.values().map(\.bitPattern), got = try y.values().map(\.bitPattern)
                #expect(want == got, "\(what): \(a.label) weight \(x.name) differs")
            }
        }
    }

    /// The written config speaks only the target's vocabulary.
    static func expectVocabulary(of path: String, format: ConversionFormat, dialect: KerasDialect) throws {
        let text: String
        switch format {
        case .h5: text = try #require(try HDF5File.open(path).root.attribute("model_config")?.stringValue)
        case .json, .tfjs: text = try String(contentsOfFile: path, encoding: .utf8)
        case .onnx: return  // no Keras config
        case .keras:
            let archive = ZipReader(try Data(contentsOf: URL(fileURLWithPath: path)))
            let entries = try archive.entries()
            // The weights first: HDF5 writes them into the archive, after their local header (`ZipWriter.write(inPlace:...)`).
            #expect(entries.map(\.name) == ["model.weights.h5", "metadata.json", "config.json"])
            #expect(entries.allSatisfy { $0.method == 0 }, "Keras stores archive members uncompressed")
            let config = try #require(entries.first { $0.name == "config.json" })
            text = String(decoding: try archive.contents(of: config), as: UTF8.self)
        }
        let keys = Self.keys(in: try JSONValue.parse(text))
        let foreign = dialect == .keras2 ? ["module", "registered_name", "batch_shape", "build_config", "shared_object_id", "quantization_config", "optional"]
                                         : ["time_major", "batch_input_shape", "implementation", "input_length"]
        #expect(keys.intersection(foreign).isEmpty, "\(path) holds \(keys.intersection(foreign).sorted())")
        if dialect == .keras2 { #expect(!text.contains("DTypePolicy") && !text.contains("__keras_tensor__")) }
    }

    /// Every key of every object, except inside a Lambda's config (passed through as written; its `module` is
    /// the Python module of its function).
    static func keys(in value: JSONValue) -> Set<String> {
        if value["class_name"] == "Lambda" { return [] }
        if let object = value.objectValue { return object.reduce(into: Set(object.keys)) { $0.formUnion(keys(in: $1.value)) } }
        if let items = value.arrayValue { return items.reduce(into: Set()) { $0.formUnion(keys(in: $1)) } }
        return []
    }

    static func fixture(_ name: String) -> String { Fixtures.cases.appendingPathComponent(name).path }

    // MARK: Refusals and safety

    @Test func existingOutputNeedsForce() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("model.h5").path
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: out))
        let source = try KerasModel.load(Self.fixture("simple_rnn/keras2.h5"))
        let error = #expect(throws: ModelError.self) { try ModelConverter.convert(source, to: out, options: ConversionOptions(format: .h5)) }
        #expect(error?.description.contains("--force") == true)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "keep me")
        _ = try ModelConverter.convert(source, to: out, options: ConversionOptions(format: .h5, force: true))
        #expect(try KerasModel.load(out).model.layers.count == 3)
        #expect(Self.contents(directory) == ["model.h5"])
    }

    @Test func neverWritesOverAnInput() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("model.h5").path
        try FileManager.default.copyItem(atPath: Self.fixture("simple_rnn/keras2.h5"), toPath: copy)
        let before = try Data(contentsOf: URL(fileURLWithPath: copy))
        let source = try KerasModel.load(copy)
        #expect(throws: ModelError.self) { try ModelConverter.convert(source, to: copy, options: ConversionOptions(format: .h5, force: true)) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == before)
    }

    /// A failure while writing removes the partial output: here a weights array that cannot be read, which
    /// the writer meets after it created the file.
    @Test func failedConversionLeavesNothing() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try KerasModel.load(Self.fixture("simple_rnn/keras2.h5"))
        let dense = try #require(source.model.layers.last)
        let broken = dense.weights.map { array in
            WeightArray(name: array.name, shape: array.shape) { throw ModelError("unreadable on purpose") }
        }
        try dense.bind(broken)
        for target in Self.targets {
            let out = directory.appendingPathComponent(target.file).path
            let error = #expect(throws: ModelError.self) {
                try ModelConverter.convert(source, to: out, options: ConversionOptions(format: target.format, target: target.dialect))
            }
            #expect(error?.description.contains("unreadable on purpose") == true, "\(error?.description ?? "")")
            #expect(Self.contents(directory).isEmpty, "left \(Self.contents(directory))")
        }
    }

    /// A config read without weights converts to a config alone, and only to JSON.
    @Test func configWithoutWeights() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try KerasModel.load(Self.fixture("simple_rnn/keras2.json"))
        let h5 = directory.appendingPathComponent("model.h5").path
        let error = #expect(throws: ModelError.self) { try ModelConverter.convert(source, to: h5, options: ConversionOptions(format: .h5)) }
        #expect(error?.description.contains("--weights") == true)
        let json = directory.appendingPathComponent("model.json").path
        let report = try ModelConverter.convert(source, to: json, options: ConversionOptions(format: .json, target: .keras3))
        #expect(report.files == [json])
        #expect(Self.contents(directory) == ["model.json"])
        #expect(try KerasModel.load(json).model.layers.map(\.paramCount) == source.model.layers.map(\.paramCount))
    }

    /// Sub-models called at several nodes are referred to as the target Keras itself numbers them: a config
    /// converted from one Keras's file names the same nodes, in its inbound nodes and output_layers, as the
    /// other Keras wrote for the same model (Keras 2 counts a nested model's calls from 1, Keras 3's inbound
    /// nodes from 0).
    @Test(arguments: [("keras2", "keras3", KerasDialect.keras3), ("keras3", "keras2", KerasDialect.keras2)])
    func subModelNodesAreNumberedAsTheTargetKerasNumbersThem(_ library: String, _ other: String, _ target: KerasDialect) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("model.json").path
        _ = try ModelConverter.convert(try KerasModel.load(Self.fixture("shared_submodels/\(library).h5")), to: out,
                                       options: ConversionOptions(format: .json, target: target))
        let written = try JSONValue.parse(try String(contentsOfFile: out, encoding: .utf8))
        let keras = try JSONValue.parse(try String(contentsOfFile: Self.fixture("shared_submodels/\(other).json"), encoding: .utf8))
        let references = { (model: JSONValue) in
            (model["config"]?["layers"]?.arrayValue ?? []).map { [$0["name"] ?? .null] + Self.nodeReferences(in: $0["inbound_nodes"] ?? .null) }
                + [Self.nodeReferences(in: model["config"]?["output_layers"] ?? .null)]
        }
        #expect(references(written) == references(keras))
        #expect(references(keras).joined().contains(["encoder", 1, 0]))
    }

    /// Every `[layer, node, tensor]` reference in a config value, in either Keras's form.
    static func nodeReferences(in value: JSONValue) -> [JSONValue] {
        if let history = value["keras_history"] { return [history] }
        if let tensor = GraphBuilder.configTensor(value) {
            return [[.string(tensor.layer), .int(Int64(tensor.node)), .int(Int64(tensor.tensor))]]
        }
        if let items = value.arrayValue { return items.flatMap(nodeReferences) }
        if let object = value.objectValue { return object.flatMap { nodeReferences(in: $0.value) } }
        return []
    }

    /// Keras 2's hard_sigmoid is Keras 3's at 1.2x: an LSTM's gates are written with their columns scaled
    /// (i, f, o; not the cell candidate's), both ways, and the converted outputs match the source's.
    @Test(arguments: [("keras2", KerasDialect.keras3, Float(1.2)), ("keras3", KerasDialect.keras2, Float(5.0 / 6.0))])
    func hardSigmoidConvertsExactlyByScalingTheGates(_ library: String, _ target: KerasDialect, _ factor: Float) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("model.json").path
        let source = try KerasModel.load(Self.fixture("lstm_hard_sigmoid/\(library).h5"))
        let report = try ModelConverter.convert(source, to: out, options: ConversionOptions(format: .json, target: target))
        #expect(report.notes.contains { $0.contains("scaled by") })
        #expect(report.check?.contains("outputs") == true, "\(report.check ?? "")")
        let written = try KerasModel.load(out, weights: directory.appendingPathComponent("model.weights.h5").path)
        let lstm = try #require(written.model.layers.first as? Recurrent)
        #expect(lstm.recurrentActivation == (target == .keras3 ? .hardSigmoidRelu6 : .hardSigmoidLinear))
        let before = try source.model.layers[0].weights[0].values(), after = try lstm.weights[0].values()
        let units = lstm.units
        for (index, (a, b)) in zip(before, after).enumerated() {
            let gate = index % (4 * units) / units
            #expect(b == (gate == 2 ? a : a * factor), "kernel element \(index), gate \(gate)")
        }
    }

    /// ConvNeXt's LayerScale, which neither Keras registers: a `.keras` config names the module Keras 3 imports it
    /// from, and writing it for tf-keras says which custom object its reader must pass.
    @Test func layerScaleIsWrittenWhereEachKerasFindsIt() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let keras = directory.appendingPathComponent("model.keras").path
        let fromKeras2 = try ModelConverter.convert(try KerasModel.load(Self.fixture("layer_scale/keras2.h5")), to: keras,
                                                    options: ConversionOptions(format: .keras))
        #expect(!fromKeras2.notes.contains { $0.contains("custom_objects") })
        let layer = try #require(try KerasModel.load(keras).model.layers.first { $0 is LayerScale })
        #expect(layer.registration?.module == .string("keras.src.applications.convnext"))
        #expect(layer.registration?.registeredName == .string("LayerScale"))

        let h5 = directory.appendingPathComponent("model.h5").path
        let fromKeras3 = try ModelConverter.convert(try KerasModel.load(Self.fixture("layer_scale/keras3.keras")), to: h5,
                                                    options: ConversionOptions(format: .h5))
        let custom = "custom_objects={\"LayerScale\": tf_keras.src.applications.convnext.LayerScale}"
        #expect(fromKeras3.notes.filter { $0.contains(custom) }.count == 1, "\(fromKeras3.notes)")
    }

    /// A standalone Activation('hard_sigmoid') has no weights to scale: it is written after a Rescaling that
    /// makes the target's hard_sigmoid the source's (1.2 to Keras 3, 5/6 to Keras 2); Keras 3's hard_swish,
    /// which tf-keras lacks, becomes that pair multiplied by the input. The last layer keeps the name.
    @Test(arguments: [("keras2.h5", ConversionFormat.keras, ["act_hard_sigmoid_rescaling": 1.2]),
                      ("keras3.keras", ConversionFormat.h5, ["act_hard_sigmoid_rescaling": 5.0 / 6.0, "act_hard_swish_rescaling": 5.0 / 6.0,
                                                            "act_hard_silu_rescaling": 5.0 / 6.0])])
    func standaloneHardActivationsAreWrittenAsLayers(_ file: String, _ format: ConversionFormat, _ scales: [String: Double]) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("model." + format.rawValue).path
        let source = try KerasModel.load(Self.fixture("hard_activations/" + file))
        let report = try ModelConverter.convert(source, to: out, options: ConversionOptions(format: format))
        #expect(report.check?.contains("outputs on seeded inputs match") == true, "\(report.check ?? "")")
        #expect(report.notes.contains { $0.contains("layer 'act_hard_sigmoid' (Activation)") && $0.contains("Rescaling 'act_hard_sigmoid_rescaling'") })
        let written = try KerasModel.load(out).model
        for (name, scale) in scales {
            let rescaling = try #require(written.layers.first { $0.name == name } as? Rescaling)
            #expect(rescaling.scale.values == [scale] && rescaling.offset.values == [0])
        }
        let names = written.layers.map(\.name)
        #expect(names.contains("act_hard_sigmoid"))
        if format == .h5 {
            #expect(written.layers.first { $0.name == "act_hard_swish" }?.className == "Multiply")
            #expect(names.contains("act_hard_swish_hard_sigmoid") && names.contains("act_hard_silu_hard_sigmoid"))
        }
    }

    /// A user's class is written as it was, with a warning that the target loads it only with custom objects;
    /// Keras's own classes (a Lambda) get none.
    @Test(arguments: [("custom_layer_functional/keras2.h5", ["Keras 2 loads", "custom_objects holding ChannelScale (layer 'channel_scale')"]),
                      ("lambda_layer/keras2.h5", [])])
    func classesNeedingCustomObjectsAreWarnedOf(_ file: String, _ phrases: [String]) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try KerasModel.load(Self.fixture(file))
        let report = try ModelConverter.convert(source, to: directory.appendingPathComponent("model.h5").path, options: ConversionOptions(format: .h5))
        #expect(report.warnings.count == (phrases.isEmpty ? 0 : 1), "\(report.warnings)")
        #expect(phrases.allSatisfy { phrase in report.warnings.contains { $0.contains(phrase) } }, "\(report.warnings)")
    }

    /// tf-keras names such as `block/conv` are written for Keras 3 as `block_conv_pad`, and `block_conv_1` where
    /// `block_conv` is taken; the .keras archive keeps the map in metadata.json, and kconv reading it back gives
    /// the original names, which a conversion to .h5 writes again (its groups created in name order, so
    /// `block/conv` exists before `block/conv/pad`).
    @Test func namesKeras3RefusesAreRenamedAndRestored() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try KerasModel.load(Self.fixture("slash_names/keras2.h5"))
        let archive = directory.appendingPathComponent("model.keras").path
        let report = try ModelConverter.convert(source, to: archive, options: ConversionOptions(format: .keras))
        #expect(report.notes.contains { $0.contains("block/conv → block_conv_1") && $0.contains("block/conv/pad → block_conv_pad") })
        let zip = ZipReader(try Data(contentsOf: URL(fileURLWithPath: archive)))
        let member = { (name: String) throws -> JSONValue in
            let entry = try #require(try zip.entries().first { $0.name == name })
            return try JSONValue.parse(String(decoding: try zip.contents(of: entry), as: UTF8.self))
        }
        #expect(try member("metadata.json")[Keras3Names.metadataKey] == ["block_conv_pad": "block/conv/pad", "block_conv_1": "block/conv",
                                                                       "block_conv_BatchNorm": "block/conv/BatchNorm"])
        let names = try #require(try member("config.json")["config"]?["layers"]?.arrayValue).compactMap { $0["name"]?.stringValue }
        #expect(names == ["input_1", "block_conv_pad", "block_conv_1", "block_conv_BatchNorm", "block_conv", "pool"])
        let reloaded = try KerasModel.load(archive)
        #expect(reloaded.model.layers.map(\.name) == source.model.layers.map(\.name))

        let back = directory.appendingPathComponent("back.h5").path
        _ = try ModelConverter.convert(reloaded, to: back, options: ConversionOptions(format: .h5))
        try Self.expectSame(source.model, try KerasModel.load(back).model, "slash_names → .keras → .h5")
    }

    /// A config value the target has no words for is an error naming the layer and key.
    @Test(arguments: [
        ("""
        {"class_name": "Sequential", "keras_version": "2.15.0", "config": {"name": "s", "layers": [
          {"class_name": "LSTM", "config": {"name": "lstm", "units": 2, "time_major": true, "batch_input_shape": [null, 4, 3]}}]}}
        """, KerasDialect.keras3, "config.time_major"),
        ("""
        {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
          {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 3], "name": "x"}},
          {"module": "keras.layers", "class_name": "LayerNormalization", "config": {"name": "norm", "rms_scaling": true}}]}}
        """, KerasDialect.keras2, "config.rms_scaling"),
    ])
    func untranslatableConfigIsAnError(_ config: String, _ target: KerasDialect, _ field: String) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("config.json").path
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        let source = try KerasModel.load(path)
        let out = directory.appendingPathComponent("out.json").path
        let error = #expect(throws: ModelError.self) {
            try ModelConverter.convert(source, to: out, options: ConversionOptions(format: .json, target: target))
        }
        #expect(error?.description.contains(field) == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("layer '") == true, "\(error?.description ?? "")")
        #expect(Self.contents(directory) == ["config.json"])
    }

    /// Name lists past HDF5's object-header limit are split into `name0`, `name1`, ... as Keras splits them
    /// (numpy's array_split: the first `count % chunks` one longer), and read back whole; short lists stay
    /// one attribute.
    @Test func longNameListsAreChunkedAsKerasChunksThem() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let root = try HDF5File.create(directory.appendingPathComponent("names.h5").path).root
        let names = (0 ..< 2 * KerasH5Writer.namesPerAttribute + 5).map { "layer_with_a_long_name_\($0)" }
        try KerasH5Writer.setNameList(root, "layer_names", names)
        try KerasH5Writer.setNameList(root, "weight_names", ["dense/kernel:0", "dense/bias:0"])
        #expect(try root.attribute("layer_names") == nil)
        let sizes = try (0..<3).map { try #require(try root.attribute("layer_names\($0)")?.stringList).count }
        #expect(sizes == [names.count / 3 + 1, names.count / 3 + 1, names.count / 3])
        #expect(try root.attribute("layer_names3") == nil)
        #expect(try LegacyWeightGroups.nameList(root, "layer_names") == names)
        #expect(try root.attribute("weight_names")?.stringList == ["dense/kernel:0", "dense/bias:0"])
    }

    @Test func commandLineRefusesAnExistingOutput() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("model.keras").path
        let source = Self.fixture("seed_lstm_one_to_one/keras2.h5")
        let first = try CommandLineTests.run(["convert", source, out])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("optimizer state"))
        let second = try CommandLineTests.run(["convert", source, out])
        #expect(second.status == 1)
        #expect(second.stderr.hasPrefix("kconv: error: ") && second.stderr.contains("--force"), "\(second.stderr)")
    }

    /// A written model that lowers to its source's graph is not run: its outputs are equal by construction.
    /// The weights are still compared bit for bit first, so a written weight that differs still fails.
    @Test func identicalGraphsAreNotRunButDifferentWeightsStillFail() throws {
        let file = Self.fixture("conv2d/keras2.h5")
        let source = try KerasModel.load(file).model, written = try KerasModel.load(file).model
        let summary = try ConversionCheck.compare(source, written, weights: WeightRewrites(), outputs: true)
        #expect(summary.contains("graphs identical") && summary.contains("outputs equal by construction"), "\(summary)")
        #expect(source.prepared == nil && written.prepared == nil, "the check ran a model whose graph was identical")
        let conv = try #require(source.layers.first { !$0.weights.isEmpty })
        var doubled = WeightRewrites()
        doubled.scale(conv, [WeightScaling(0)], by: 2)
        let error = #expect(throws: ModelError.self) { try ConversionCheck.compare(source, written, weights: doubled, outputs: true) }
        #expect(error?.description.contains("values differ") == true, "\(error?.description ?? "")")
        // Where a checked conversion keeps every array's values once read, a written weight that differs still fails.
        try WeightArray.readingEachOnce { () throws in
            _ = try ConversionCheck.compare(source, written, weights: WeightRewrites(), outputs: true)
            let copy = try #require(written.layers.first { !$0.weights.isEmpty })
            let kernel = copy.weights[0]
            copy.weights[0] = WeightArray(name: kernel.name, shape: kernel.shape) { try kernel.values().map { -$0 } }
            let kept = #expect(throws: ModelError.self) { try ConversionCheck.compare(source, written, weights: WeightRewrites(), outputs: true) }
            #expect(kept?.description.contains("values differ") == true, "\(kept?.description ?? "")")
        }
    }

    /// Graphs differing only in one constant's bits, one op attribute or one input are not the same.
    @Test func graphsDifferingInAConstantAnAttributeOrAnInputAreNotTheSame() throws {
        func graph(firstWeight: Float = 1, activation: Activation = .relu, bias: Bool = true) -> Graph {
            var graph = Graph()
            let x = graph.newValue(ValueType(dtype: .float32, shape: [.symbol("batch"), .size(2)]))
            let kernel = graph.constant(Constant(origin: "dense", name: "kernel", shape: [2, 2]) { [firstWeight, 2, 3, 4] })
            let b = graph.constant(Constant(origin: "dense", name: "bias", shape: [2]) { [0, 1] })
            graph.inputs = [x]
            graph.outputs = graph.add(.dense(activation: activation), inputs: [x, kernel, bias ? b : nil],
                                      outputs: [graph.type(of: x)], origin: "dense")
            return graph
        }
        #expect(try graph().computesTheSame(as: graph()))
        #expect(try !graph().computesTheSame(as: graph(firstWeight: -0.0)))
        #expect(try !graph(firstWeight: 0).computesTheSame(as: graph(firstWeight: -0.0)))
        #expect(try !graph().computesTheSame(as: graph(activation: .linear)))
        #expect(try !graph().computesTheSame(as: graph(bias: false)))
    }

    /// The blockwise comparison finds one differing bit anywhere, past the first block and in the last word, and
    /// tells 0 from -0 and NaN payloads apart.
    @Test func bitIdenticalFindsOneBitAnywhere() {
        let values = (0 ..< 10_001).map { Float($0) * 0.5 }
        #expect(bitIdentical(values, values))
        #expect(bitIdentical([], []))
        #expect(!bitIdentical(values, Array(values.dropLast())))
        for index in [0, 4095, 4096, 9000, 10_000] {
            var changed = values
            changed[index] = Float(bitPattern: changed[index].bitPattern ^ 1)
            #expect(!bitIdentical(values, changed), "\(index)")
        }
        #expect(!bitIdentical([0], [-0.0]))
        #expect(!bitIdentical([Float(bitPattern: 0x7FC0_0000)], [Float(bitPattern: 0x7FC0_0001)]))
    }

    /// Inside `readingEachOnce` each array is read from its file once, and each array keeps its own values;
    /// outside it (and when not enabled) every call reads again.
    @Test func weightsAreReadOnceInsideTheScope() throws {
        final class Count: @unchecked Sendable { var reads = 0 }
        let count = Count()
        let first = WeightArray(name: "a", shape: [2]) { count.reads += 1; return [1, 2] }
        let second = WeightArray(name: "b", shape: [2]) { [3, 4] }
        try WeightArray.readingEachOnce { () throws in
            for _ in 0 ..< 3 { #expect(try first.values() == [1, 2]) }
            #expect(try second.values() == [3, 4])
        }
        #expect(count.reads == 1)
        _ = try first.values()
        try WeightArray.readingEachOnce(false) { _ = try first.values(); _ = try first.values() }
        #expect(count.reads == 4)
    }
}
