import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// `kconv convert --format tfjs`: every fixture model file written as a TensorFlow.js layers model and read
/// back by kconv with the same layers, configs and bit-identical weights; the files checked against the
/// format tensorflowjs 4.x writes (no JavaScript runtime here); shard cutting, --force and atomic writes.
@Suite struct TFJSTests {
    /// Small enough that most fixtures need several shards and tensors span them.
    static let shardSize = 1000

    @Test(arguments: Fixtures.modelFiles().filter { !ConvertTests.writtenAsOtherClasses.contains($0.caseName) })
    func roundTrip(_ file: Fixtures.ModelFile) throws {
        let source = try file.load()
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let options = ConversionOptions(format: .tfjs, shardSize: Self.shardSize)
        if let word = ConvertTests.refusals["\(file.caseName) \(file.library) \(KerasDialect.keras2)"] {
            let error = #expect(throws: ModelError.self, "\(file)") { try ModelConverter.convert(source, to: directory.path, options: options) }
            #expect(error?.description.contains(word) == true, "\(error?.description ?? "")")
            #expect(ConvertTests.contents(directory).isEmpty, "a refused conversion left \(ConvertTests.contents(directory))")
            return
        }
        let report = try ModelConverter.convert(source, to: directory.path, options: options)
        let json = directory.appendingPathComponent("model.json").path
        #expect(report.files.first == json)
        if source.model.unsupportedReason == nil {
            let check = report.check ?? "not checked"
            #expect(check.contains("outputs on seeded inputs match") || check.contains("outputs equal by construction"), "\(file): \(check)")
        }

        let reloaded = try KerasModel.load(json)
        #expect(reloaded.format == .tfjs && reloaded.weightsLayout == .tfjs && reloaded.dialect == .keras2)
        // hard_sigmoid from Keras 3 is written exactly by scaling the weights feeding it: those differ.
        let rescaled = report.notes.contains { $0.contains("scaled by") }
        // Layers Keras 2 computes as several (Keras 3's hard_swish) are written as those.
        let expected = try source.model.expanded(for: .keras2).model
        try ConvertTests.expectSame(expected, reloaded.model, "\(file) → tfjs", weights: !rescaled)
        // Same configs: what kconv reads back writes the same Keras 2 config as the source.
        let export = { (model: Model) in try ConfigExport(target: .keras2, options: ExportOptions()).modelEntry(model) }
        #expect(try export(expected) == export(reloaded.model), "\(file): configs differ")
        try ConvertTests.expectVocabulary(of: json, format: .tfjs, dialect: .keras2)
        let expectedNames = file.library == "keras2" && file.format == "h5" ? try Self.h5WeightNames(file.path) : nil
        try Self.expectFormat(directory, source: expected, shardSize: Self.shardSize, h5Names: expectedNames,
                              values: rescaled ? reloaded.model : expected)
    }

    /// The files as tensorflowjs writes them: the keys of model.json in order, the Keras 2 topology, one
    /// manifest group listing every weight (named as real Keras named it in the `.h5`, when given) with its
    /// shape as float32, and shards of exactly `shardSize` bytes but the last, holding the weights'
    /// little-endian bytes in manifest order — and no other file. `values`: the model whose weights the shards
    /// hold, when not the source's (weights rescaled for hard_sigmoid).
    static func expectFormat(_ directory: URL, source: Model, shardSize: Int, h5Names: [String]?, values weightsModel: Model? = nil) throws {
        let document = try JSONValue.parse(String(contentsOfFile: directory.appendingPathComponent("model.json").path, encoding: .utf8))
        let top = try #require(document.objectValue)
        #expect(top.keys == ["format", "generatedBy", "convertedBy", "modelTopology", "weightsManifest"])
        #expect(top["format"] == "layers-model" && top["generatedBy"] == .string("keras v\(KerasH5Writer.kerasVersion)"))
        let topology = try #require(top["modelTopology"]?.objectValue)
        #expect(topology.keys == ["keras_version", "backend", "model_config"])
        let config = try ConfigExport(target: .keras2, options: ExportOptions()).modelEntry(source)
        #expect(topology["model_config"] == .object(config))

        let groups = try #require(top["weightsManifest"]?.arrayValue)
        #expect(groups.count == 1)
        let weights = try #require(groups.first?["weights"]?.arrayValue)
        let paths = try #require(groups.first?["paths"]?.arrayValue).compactMap(\.stringValue)
        #expect(weights.allSatisfy { $0.objectValue?.keys == ["name", "shape", "dtype"] && $0["dtype"] == "float32" })

        // Layers by name, byte-wise, as h5py lists the groups of `model_weights`; weights in spec order.
        let layers = source.layers.filter { !$0.weightSpecs.isEmpty }
            .sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
        let names = weights.compactMap { $0["name"]?.stringValue }
        let written = try TFJSWriter.weightNames(source, config: config)
        #expect(names == (h5Names ?? layers.flatMap { written[$0.name] ?? [] }))
        #expect(weights.map { $0["shape"]?.arrayValue?.compactMap(\.intValue) ?? [] } == layers.flatMap { $0.weightSpecs.map(\.shape) })

        let holders = Dictionary(uniqueKeysWithValues: (weightsModel ?? source).layers.map { ($0.name, $0) })
        let values = try layers.flatMap { try (holders[$0.name] ?? $0).weights.flatMap { try $0.values() } }
        let count = (values.count * 4 + shardSize - 1) / shardSize
        #expect(paths == (0..<count).map { "group1-shard\($0 + 1)of\(count).bin" })
        #expect(ConvertTests.contents(directory) == (["model.json"] + paths).sorted())
        let shards = try paths.map { try Data(contentsOf: directory.appendingPathComponent($0)) }
        #expect(shards.dropLast().allSatisfy { $0.count == shardSize })
        #expect((1...shardSize).contains(shards.last?.count ?? shardSize), "a last shard holds 1 to shardSize bytes")
        #expect(shards.reduce(Data(), +) == Data(littleEndianBytes(values)))
    }

    /// The weight names of a Keras 2 `.h5` as tensorflowjs lists them: `model_weights` groups by name,
    /// each group's `weight_names` in order, without `:0`.
    static func h5WeightNames(_ path: String) throws -> [String] {
        let groups = try LegacyWeightGroups(root: HDF5File.open(path).root.group("model_weights"))
        return groups.layers.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
            .flatMap { $0.arrays.map { $0.name.hasSuffix(":0") ? String($0.name.dropLast(2)) : $0.name } }
    }

    static func fixture(_ name: String) throws -> KerasModel {
        try KerasModel.load(Fixtures.cases.appendingPathComponent(name).path)
    }

    // MARK: Shards

    /// A shard size that is no multiple of 4 cuts values in two, as tensorflowjs cuts bytes.
    @Test func valuesSpanShards() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try Self.fixture("seed_attention/keras2.h5")
        let report = try ModelConverter.convert(source, to: directory.path, options: ConversionOptions(format: .tfjs, shardSize: 999))
        #expect(report.files.count > 10)
        try Self.expectFormat(directory, source: source.model, shardSize: 999, h5Names: try Self.h5WeightNames(source.path))
        try ConvertTests.expectSame(source.model, try KerasModel.load(report.files[0]).model, "seed_attention, 999-byte shards")
    }

    /// tensorflowjs's default: 4 MiB shards; a model of 4.2 MB needs two, the first exactly 4 MiB. (Not
    /// checked on writing, to keep the test fast: the bias, read back from the second shard, is compared.)
    @Test func defaultShardSizeIsFourMebibytes() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let configPath = directory.appendingPathComponent("config.json").path
        try """
        {"class_name": "Sequential", "config": {"name": "big", "layers": [
          {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 1000], "name": "x"}},
          {"class_name": "Dense", "config": {"name": "dense", "units": 1050}}]}}
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        let config = try KerasModel.load(configPath)
        let dense = try #require(config.model.layers.first)
        try dense.bind(dense.weightSpecs.map { spec in
            WeightArray(name: spec.name, shape: spec.shape) { (0..<spec.count).map { Float($0 % 977) / 977 } }
        })
        let source = KerasModel(path: configPath, weightsPath: nil, format: .json, weightsLayout: .legacy, kerasVersion: nil,
                                backend: nil, dialect: .keras2, model: config.model)
        let out = directory.appendingPathComponent("web")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: false)
        let report = try ModelConverter.convert(source, to: out.path, options: ConversionOptions(format: .tfjs, check: false))
        let sizes = try report.files.dropFirst().map { try Data(contentsOf: URL(fileURLWithPath: $0)).count }
        #expect(report.files.map { URL(fileURLWithPath: $0).lastPathComponent } == ["model.json", "group1-shard1of2.bin", "group1-shard2of2.bin"])
        #expect(sizes == [4 * 1024 * 1024, (1000 * 1050 + 1050) * 4 - 4 * 1024 * 1024])
        let bias = try #require(try KerasModel.load(report.files[0]).model.layers.first?.weights.last)
        #expect(try bias.values() == (0..<1050).map { Float($0 % 977) / 977 })
    }

    // MARK: Refusals and safety

    /// An existing model.json or shard needs --force; with it, the shards the old model.json listed and the
    /// new one does not are removed, and nothing else.
    @Test func forceReplacesAndRemovesStaleShards() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let big = try Self.fixture("seed_attention/keras2.h5"), small = try Self.fixture("simple_rnn/keras2.h5")
        let options = ConversionOptions(format: .tfjs, shardSize: 1000)
        let first = try ModelConverter.convert(big, to: directory.path, options: options)
        try Data("mine".utf8).write(to: directory.appendingPathComponent("notes.txt"))
        let before = ConvertTests.contents(directory)

        let error = #expect(throws: ModelError.self) { try ModelConverter.convert(small, to: directory.path, options: options) }
        #expect(error?.description.contains("--force") == true, "\(error?.description ?? "")")
        #expect(ConvertTests.contents(directory) == before)
        #expect(try KerasModel.load(first.files[0]).model.name == big.model.name)

        var forced = options
        forced.force = true
        let second = try ModelConverter.convert(small, to: directory.path, options: forced)
        #expect(second.files.count < first.files.count)
        // Every old shard name ends in "of<n>" with a larger n than the new ones: all of them go.
        #expect(second.notes.contains { $0.contains("removed \(first.files.count - 1) weight shard(s)") }, "\(second.notes)")
        let names = second.files.map { URL(fileURLWithPath: $0).lastPathComponent }
        #expect(ConvertTests.contents(directory) == (names + ["notes.txt"]).sorted())
        try ConvertTests.expectSame(small.model, try KerasModel.load(second.files[0]).model, "replaced")
    }

    /// A shard of the output that is an input (the source's own shard) is refused even with --force.
    @Test func neverWritesOverTheSourceShards() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try Self.fixture("simple_rnn/keras2.h5")
        let written = try ModelConverter.convert(source, to: directory.path, options: ConversionOptions(format: .tfjs))
        let reread = try KerasModel.load(written.files[0])
        let other = directory.appendingPathComponent("other.json").path
        let error = #expect(throws: ModelError.self) {
            try ModelConverter.convert(reread, to: other, options: ConversionOptions(format: .tfjs, force: true))
        }
        #expect(error?.description.contains("is an input") == true, "\(error?.description ?? "")")
        #expect(ConvertTests.contents(directory) == ["group1-shard1of1.bin", "model.json"])
    }

    /// A failure while writing the shards leaves neither model.json nor any shard.
    @Test func failedConversionLeavesNothing() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try Self.fixture("seed_attention/keras2.h5")
        let dense = try #require(source.model.layers.last)
        try dense.bind(dense.weights.map { array in
            WeightArray(name: array.name, shape: array.shape) { throw ModelError("unreadable on purpose") }
        })
        let error = #expect(throws: ModelError.self) {
            try ModelConverter.convert(source, to: directory.path, options: ConversionOptions(format: .tfjs, shardSize: 100))
        }
        #expect(error?.description.contains("unreadable on purpose") == true, "\(error?.description ?? "")")
        #expect(ConvertTests.contents(directory).isEmpty, "left \(ConvertTests.contents(directory))")
    }

    /// A missing directory is created, as tensorflowjs_converter does; Keras 3 form is refused.
    @Test func outputDirectoryIsCreatedAndKeras2Only() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try Self.fixture("simple_rnn/keras2.h5")
        let web = directory.appendingPathComponent("web")
        _ = try ModelConverter.convert(source, to: web.path, options: ConversionOptions(format: .tfjs))
        #expect(FileManager.default.fileExists(atPath: web.appendingPathComponent("model.json").path))
        try FileManager.default.removeItem(at: web)
        let keras3 = #expect(throws: ModelError.self) {
            try ModelConverter.convert(source, to: directory.path, options: ConversionOptions(format: .tfjs, target: .keras3))
        }
        #expect(keras3?.description.contains("Keras 2 form") == true)
        #expect(ConvertTests.contents(directory).isEmpty)
    }

    /// The command line: a directory OUT means tfjs; inspect and verify read the model.json.
    @Test func commandLine() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let fixture = Fixtures.cases.appendingPathComponent("seed_lstm_one_to_one")
        let convert = try CommandLineTests.run(["convert", fixture.appendingPathComponent("keras2.h5").path, directory.path, "--shard-size", "512"])
        #expect(convert.status == 0, "\(convert.stderr)")
        #expect(convert.stdout.contains("-> Keras 2 tfjs") && convert.stdout.contains("group1-shard1of"), "\(convert.stdout)")
        let json = directory.appendingPathComponent("model.json").path
        let inspect = try CommandLineTests.run(["inspect", json])
        #expect(inspect.status == 0 && inspect.stdout.contains("TensorFlow.js layers model"), "\(inspect.stdout)\(inspect.stderr)")
        let verify = try CommandLineTests.run(["verify", json, "--reference", fixture.appendingPathComponent("keras2.ref.npz").path])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let misuse = try CommandLineTests.run(["convert", fixture.appendingPathComponent("keras2.h5").path, json + ".h5", "--shard-size", "512"])
        #expect(misuse.status != 0 && misuse.stderr.contains("--shard-size"), "\(misuse.stderr)")
    }
}

/// Little-endian IEEE bytes of Float32 values, as TensorFlow.js stores them.
func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> ($0 * 8)) } }
}
