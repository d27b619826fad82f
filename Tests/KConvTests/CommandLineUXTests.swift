import Foundation
import Testing
@testable import KConv
@testable import KConvKeras
import KConvIO

/// What a new user meets in the first hour, through the built `kconv`: inputs without Python, bounded
/// benchmarks, directories and extensions, one error style, `diff`.
@Suite struct CommandLineUXTests {
    static func run(_ arguments: [String]) throws -> CommandLineTests.Result { try CommandLineTests.run(arguments) }

    /// A fresh directory, removed by `body`'s end.
    static func inTemporaryDirectory(_ body: (URL) throws -> Void) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-ux-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try body(directory)
    }

    static func model(_ fixture: String, _ file: String = "keras2.h5") -> String {
        Fixtures.cases.appendingPathComponent("\(fixture)/\(file)").path
    }

    // MARK: 1. run --random

    /// Token ids drawn within the Embedding's vocabulary, saved as int32, the same for the same seed; running
    /// the saved inputs gives the same outputs.
    @Test func runRandomDrawsInputsFromTheSpecAndSavesThem() throws {
        try Self.inTemporaryDirectory { directory in
            let model = Self.model("seed_bidir_embedding_td_softmax")
            let inputs = directory.appendingPathComponent("in.npz").path, outputs = directory.appendingPathComponent("out.npz").path
            let first = try Self.run(["run", model, "--random", "--seed", "7", "--batch", "3", "--save-inputs", inputs, "--output", outputs])
            #expect(first.status == 0, "\(first.stderr)")
            let saved = try NumPy.readNPZ(inputs)
            #expect(saved.map(\.name) == ["in_0"])
            let ids = try #require(saved[0].array.integers)
            #expect(saved[0].array.dtype == .int32)
            #expect(saved[0].array.shape == [3, 100])
            let vocabulary = try #require(KerasModel.load(model).model.embeddingVocabulary(fedBy: KerasModel.load(model).model.inputs[0]))
            #expect(ids.allSatisfy { (0..<Int64(vocabulary)).contains($0) })
            #expect(Set(ids).count > 10)

            let replayed = directory.appendingPathComponent("replayed.npz").path
            #expect(try Self.run(["run", model, "--input", inputs, "--output", replayed]).status == 0)
            #expect(try NumPy.readNPZ(replayed)[0].array == NumPy.readNPZ(outputs)[0].array)

            let again = directory.appendingPathComponent("again.npz").path
            #expect(try Self.run(["run", model, "--random", "--seed", "7", "--batch", "3", "--save-inputs", again, "--output", outputs, "--force"]).status == 0)
            #expect(try NumPy.readNPZ(again)[0].array == saved[0].array)
            #expect(try Self.run(["run", model, "--random", "--seed", "8", "--batch", "3", "--save-inputs", again, "--output", outputs, "--force"]).status == 0)
            #expect(try NumPy.readNPZ(again)[0].array != saved[0].array)
        }
    }

    /// Unknown lengths take --length (token ids here: the input feeds an Embedding); float inputs lie in [-1, 1).
    @Test func runRandomGivesUnknownDimensionsTheLength() throws {
        try Self.inTemporaryDirectory { directory in
            let inputs = directory.appendingPathComponent("in.npz").path, outputs = directory.appendingPathComponent("out.npz").path
            let tokens = try Self.run(["run", Self.model("seed_attention"), "--random", "--length", "5", "--save-inputs", inputs, "--output", outputs])
            #expect(tokens.status == 0, "\(tokens.stderr)")
            #expect(try NumPy.readNPZ(inputs)[0].array.shape == [2, 5])

            let floats = try Self.run(["run", Self.model("seed_lstm_sequences"), "--random", "--save-inputs", inputs, "--output", outputs, "--force"])
            #expect(floats.status == 0, "\(floats.stderr)")
            let array = try NumPy.readNPZ(inputs)[0].array
            #expect(array.dtype == .float32)
            #expect(array.shape == [2, 2, 3])
            #expect(array.values.allSatisfy { $0 >= -1 && $0 < 1 })
        }
    }

    @Test(arguments: [
        ["--random", "--input", "x.npz"], [], ["--random", "--batch", "0"], ["--save-inputs", "in.npz", "--input", "x.npz"],
        ["--random", "--save-inputs", "in.npy"],
    ])
    func runRefusesAMisusedCommandLine(_ extra: [String]) throws {
        let result = try Self.run(["run", Self.model("seed_td_lstm"), "--output", "/tmp/never-written.npz"] + extra)
        #expect(result.status == 64, "\(result.stderr)")
    }

    /// `--output x.npy` would be an .npz under an .npy name.
    @Test func runOutputMustBeNPZ() throws {
        let result = try Self.run(["run", Self.model("seed_td_lstm"), "--random", "--output", "/tmp/never-written.npy"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--output must name an .npz file"))
    }

    /// Outputs are written in the dtypes Keras gave them (int64 lookups, Keras 3's int32 buckets, float32
    /// encodings), with Keras's values.
    @Test(arguments: ["keras2.keras", "keras3.keras"])
    func runWritesKerasOutputDtypes(_ file: String) throws {
        try Self.inTemporaryDirectory { directory in
            let reference = Self.model("preprocessing_lookup", file.replacingOccurrences(of: ".keras", with: ".ref.npz"))
            let output = directory.appendingPathComponent("out.npz").path
            let result = try Self.run(["run", Self.model("preprocessing_lookup", file), "--input", reference, "--output", output])
            #expect(result.status == 0, "\(result.stderr)")
            let want = try NumPy.readNPZ(reference).filter { $0.name.hasPrefix("out_") }
            let got = try NumPy.readNPZ(output)
            #expect(got.map(\.name) == want.map(\.name))
            for ((name, array), (_, expected)) in zip(got, want) {
                #expect(array.dtype == expected.dtype, "\(name)")
                #expect(array.shape == expected.shape && (array.integers ?? []) == (expected.integers ?? []), "\(name)")
                #expect(zip(array.values, expected.values).allSatisfy { abs($0 - $1) <= 1e-5 + 1e-4 * abs($1) }, "\(name)")
            }
            #expect(Set(want.map(\.array.dtype)).count > 1, "the fixture should have outputs of several dtypes")
        }
    }

    // MARK: 2. bench

    /// 10 000 runs of 100 would take minutes: --seconds stops both phases, and nothing but the result
    /// reaches a pipe.
    @Test func benchStopsAfterSecondsAndShowsNoProgressInAPipe() throws {
        let start = Date()
        let result = try Self.run(["bench", Self.model("seed_attention"), "--runs", "100000", "--warmup", "100000", "--seconds", "0.5", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Date().timeIntervalSince(start) < 20)
        #expect(result.stderr.isEmpty)
        let json = try JSONValue.parse(result.stdout)
        let runs = try #require(json["runs"]?.intValue)
        #expect(runs >= 1 && runs < 100000)
    }

    @Test func benchStopsAfterRuns() throws {
        let result = try Self.run(["bench", Self.model("seed_td_lstm"), "--runs", "3", "--warmup", "0", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONValue.parse(result.stdout)
        #expect(json["runs"]?.intValue == 3)
        // What ran: the kernels' instruction-set level, the BLAS and its core, the threads, and the spread.
        #expect(["SSE2", "AVX2+FMA", "AVX-512"].contains(json["instruction_set"]?.stringValue ?? ""))
        #expect(json["blas"]?.stringValue?.hasPrefix("oneDNN") == true)
        #expect((json["threads"]?.intValue ?? 0) >= 1)
        let (fastest, median, slow) = (json["min_ms"]?.doubleValue ?? -1, json["median_ms"]?.doubleValue ?? -1, json["p90_ms"]?.doubleValue ?? -1)
        #expect(0 < fastest && fastest <= median && median <= slow)
    }

    /// --threads sets the engine's thread count, which `bench --json` reports; one and two threads compute the
    /// same outputs (work is split over independent rows, never over a sum; a kernel may still round a row's sum
    /// differently for a part of other size).
    @Test func threadsOptionSetsTheEngineThreads() throws {
        try Self.inTemporaryDirectory { directory in
            let model = Self.model("app_mobilenet_v2")
            var outputs: [[Float]] = []
            for threads in ["1", "2"] {
                let bench = try Self.run(["bench", model, "--threads", threads, "--runs", "1", "--warmup", "0", "--json"])
                #expect(bench.status == 0, "\(bench.stderr)")
                #expect(try JSONValue.parse(bench.stdout)["threads"]?.intValue == Int(threads))
                let output = directory.appendingPathComponent("out\(threads).npz").path
                let run = try Self.run(["run", model, "--random", "--batch", "8", "--threads", threads, "--output", output])
                #expect(run.status == 0, "\(run.stderr)")
                outputs.append(try NumPy.readNPZ(output)[0].array.values)
            }
            #expect(outputs[0].count == 8 * 10)
            #expect(zip(outputs[0], outputs[1]).allSatisfy { abs($0 - $1) <= 1e-6 + 1e-5 * abs($1) })
            #expect(try Self.run(["bench", model, "--threads", "0"]).status == 64)
        }
    }

    @Test(arguments: [["--batch", "0"], ["--runs", "0"], ["--seconds", "0"], ["--seconds", "nan"], ["--warmup", "-1"], ["--runs", "-5"]])
    func benchRefusesNonPositiveLimits(_ option: [String]) throws {
        let result = try Self.run(["bench", Self.model("seed_td_lstm")] + option)
        #expect(result.status == 64, "\(result.stdout)\(result.stderr)")
    }

    // MARK: 3. Paths and formats

    /// A TensorFlow.js export's directory is read through its model.json; a directory without one is
    /// refused in one line saying so. A missing output directory for --format tfjs is created.
    @Test func directoriesAreTensorFlowJSModels() throws {
        try Self.inTemporaryDirectory { directory in
            let empty = try Self.run(["inspect", directory.path])
            #expect(empty.status == 1)
            #expect(empty.stderr == "kconv: error: \(directory.path): is a directory without a model.json: give a model file, or a TensorFlow.js model's directory\n")

            let web = directory.appendingPathComponent("web").path
            let converted = try Self.run(["convert", Self.model("seed_td_lstm"), web, "--format", "tfjs"])
            #expect(converted.status == 0, "\(converted.stderr)")
            #expect(FileManager.default.fileExists(atPath: web + "/model.json"))
            let inspected = try Self.run(["inspect", web])
            #expect(inspected.status == 0, "\(inspected.stderr)")
            #expect(inspected.stdout.contains("TensorFlow.js layers model"))
            #expect(try Self.run(["verify", web, "--against", Self.model("seed_td_lstm")]).status == 0)
        }
    }

    /// A conversion into a new directory that fails leaves no directory behind.
    @Test func failedTFJSConversionRemovesTheDirectoryItMade() throws {
        try Self.inTemporaryDirectory { directory in
            let web = directory.appendingPathComponent("web").path
            let result = try Self.run(["convert", Self.model("conv2d", "keras2.json"), web, "--format", "tfjs"])
            #expect(result.status == 1)
            #expect(!FileManager.default.fileExists(atPath: web))
        }
    }

    @Test(arguments: [("out.h5", "keras"), ("out.keras", "h5"), ("out.onnx", "json"), ("out.bin", "keras"), ("out.h5", "onnx")])
    func outputExtensionContradictingFormatIsRefused(_ name: String, _ format: String) throws {
        try Self.inTemporaryDirectory { directory in
            let out = directory.appendingPathComponent(name).path
            let result = try Self.run(["convert", Self.model("seed_td_lstm"), out, "--format", format])
            #expect(result.status == 64)
            #expect(result.stderr.contains("--format \(format) writes"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    /// --float16 is for ONNX: a Keras or TensorFlow.js output is refused before anything is written.
    @Test(arguments: ["out.h5", "out.keras", "out.json", "web"])
    func float16IsRefusedForKerasOutputs(_ name: String) throws {
        try Self.inTemporaryDirectory { directory in
            let out = directory.appendingPathComponent(name).path
            let result = try Self.run(["convert", Self.model("seed_td_lstm"), out, "--float16"] + (name == "web" ? ["--format", "tfjs"] : []))
            #expect(result.status == 64)
            #expect(result.stderr.contains("--float16 applies to ONNX output only"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }

    // MARK: 4. One error style

    /// Errors found in files or refusals: one line naming the file, exit 1, no usage text.
    @Test func fileErrorsNameTheFile() throws {
        let config = Self.model("conv2d", "keras2.json")
        let noWeights = try Self.run(["run", config, "--random", "--output", "/tmp/never-written.npz"])
        #expect(noWeights.status == 1)
        #expect(noWeights.stderr == "kconv: error: \(config): layer 'conv2d' (Conv2D): no weights loaded: give the weights file that goes with this config\n")

        let reference = Self.model("multi_io", "keras2.ref.npz")
        let mismatch = try Self.run(["verify", Self.model("conv2d"), "--reference", reference])
        #expect(mismatch.status == 1)
        #expect(mismatch.stderr.hasPrefix("kconv: error: \(reference) (reference for \(Self.model("conv2d"))): input 'conv2d_input' must have shape"), "\(mismatch.stderr)")

        let lambda = Self.model("lambda_layer")
        let unsupported = try Self.run(["bench", lambda])
        #expect(unsupported.status == 1)
        #expect(unsupported.stderr.hasPrefix("kconv: error: \(lambda): layer 'lambda' (Lambda): "), "\(unsupported.stderr)")
    }

    /// An existing output is a refused operation, not a misused command line: exit 1, no usage.
    @Test func existingOutputIsAFileError() throws {
        try Self.inTemporaryDirectory { directory in
            let out = directory.appendingPathComponent("out.npz").path
            try Data().write(to: URL(fileURLWithPath: out))
            let result = try Self.run(["run", Self.model("seed_td_lstm"), "--random", "--output", out])
            #expect(result.status == 1)
            #expect(result.stderr == "kconv: error: \(out): exists; pass --force to overwrite it\n")
        }
    }

    @Test func typoedSubcommandSuggestsTheNearest() throws {
        let result = try Self.run(["inspcet", "model.h5"])
        #expect(result.status == 64)
        #expect(result.stderr.hasPrefix("kconv: error: 'inspcet' is not a kconv subcommand; did you mean 'inspect'?"))
        let far = try Self.run(["frobnicate"])
        #expect(far.status == 64)
        #expect(!far.stderr.contains("did you mean"))
        #expect(try Self.run(["help", "diff"]).status == 0)
    }

    // MARK: inspect

    /// Long connection lists wrap and the unsupported tag sits under its layer: no table line past 100 columns.
    @Test func inspectTablesStayWithin100Columns() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Fixtures.cases.path).sorted().flatMap { fixture in
            ["keras2.h5", "keras3.keras"].map { Self.model(fixture, $0) }.filter { FileManager.default.fileExists(atPath: $0) }
        }
        #expect(files.count > 50)
        for file in files {
            let result = try Self.run(["inspect", file])
            guard result.status == 0 else { continue }
            // A subclassed model's table is its weights tree.
            let table = result.stdout.split(separator: "\n").drop { !$0.hasPrefix("Layer (type)") && !$0.hasPrefix("Weight ") }.prefix { !$0.hasPrefix("Total params") }
            #expect(!table.isEmpty, "\(file)")
            #expect(table.allSatisfy { $0.count <= 100 }, "\(file): \(table.map(\.count).max() ?? 0) columns")
        }
    }

    /// A MultiHeadAttention after layers kconv cannot compute: its parameters counted from the variables its
    /// sub-layers hold in the file, 137,415 in all as the weights file holds (kconv counted 37,831 before).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: Fixtures.wild.appendingPathComponent("jennamferguson__Project1_Connect4__Play_Game_transformer_model_final.keras").path)))
    func inspectCountsUnsupportedLayersFromTheirWeights() throws {
        let file = Fixtures.wild.appendingPathComponent("jennamferguson__Project1_Connect4__Play_Game_transformer_model_final.keras").path
        let result = try Self.run(["inspect", file])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Total params: 137,415 (536.78 KB)"), "\(result.stdout)")
        let row = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("multi_head_attention (MultiHeadAttention)") })
        #expect(row.contains("24,896"), "\(row)")
    }

    // MARK: convert stages

    /// On a terminal (`script` gives kconv one) convert names its stages; in a pipe stderr stays empty.
    @Test func convertShowsItsStagesOnATerminalOnly() throws {
        try Self.inTemporaryDirectory { directory in
            let out = directory.appendingPathComponent("m.keras").path
            let piped = try Self.run(["convert", Self.model("seed_td_lstm"), out])
            #expect(piped.status == 0)
            #expect(piped.stderr.isEmpty)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            process.arguments = ["-qec", "'\(CommandLineTests.executable.path)' convert '\(Self.model("seed_td_lstm"))' '\(out)' --force", "/dev/null"]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(text)")
            #expect(text.contains("convert: reading "), "\(text)")
            #expect(text.contains("convert: writing \(out)"))
            #expect(text.contains("convert: checking \(out)"))
        }
    }

    // MARK: 5. diff

    /// A Keras 2 file and kconv's Keras 3 conversion of it: same configs, weights and outputs.
    @Test(arguments: ["seed_bidir_embedding_td_softmax", "multi_io", "conv2d", "seed_attention"])
    func diffOfAConversionIsEmpty(_ fixture: String) throws {
        try Self.inTemporaryDirectory { directory in
            let converted = directory.appendingPathComponent("m.keras").path
            #expect(try Self.run(["convert", Self.model(fixture), converted]).status == 0)
            let result = try Self.run(["diff", Self.model(fixture), converted])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.hasSuffix("EQUIVALENT\n"))
            #expect(!result.stdout.contains("config:"))
        }
    }

    /// Two unrelated models: the layers each has alone, exit 1; --json says the same.
    @Test func diffNamesAddedAndRemovedLayers() throws {
        let result = try Self.run(["diff", Self.model("seed_td_lstm"), Self.model("seed_lstm_sequences")])
        #expect(result.status == 1)
        #expect(result.stdout.contains("removed: layer 'time_distributed' (TimeDistributed)"))
        #expect(result.stdout.contains("added: layer 'lstm' (LSTM)"))
        let json = try Self.run(["diff", Self.model("seed_td_lstm"), Self.model("seed_lstm_sequences"), "--json"])
        #expect(json.status == 1)
        let object = try JSONValue.parse(json.stdout)
        #expect(object["equivalent"] == .bool(false))
        #expect(object["added"]?.arrayValue?.contains(.string("layer 'lstm' (LSTM)")) == true)
    }

    /// hard_sigmoid crosses to Keras 3 with its weights scaled by 1.2: the same outputs, different weights,
    /// and --weights-tolerance decides whether they count.
    @Test func diffReportsWeightDifferencesAgainstTheTolerance() throws {
        try Self.inTemporaryDirectory { directory in
            let source = Self.model("hard_sigmoid_layers")
            let converted = directory.appendingPathComponent("m.keras").path
            #expect(try Self.run(["convert", source, converted]).status == 0)
            let strict = try Self.run(["diff", source, converted])
            #expect(strict.status == 1)
            #expect(strict.stdout.contains("weight: layer 'dense' (Dense): dense/kernel:0: max abs diff"), "\(strict.stdout)")
            #expect(strict.stdout.contains("max rel diff 0.2"))
            #expect(strict.stdout.contains("output out_0: shape [2, 6, 30]"))
            let loose = try Self.run(["diff", source, converted, "--weights-tolerance", "1"])
            #expect(loose.status == 0, "\(loose.stdout)")
        }
    }

    /// A renamed layer and a changed config field, found from the files alone (a JSON config edited).
    @Test func diffFindsRenamesAndConfigChanges() throws {
        try Self.inTemporaryDirectory { directory in
            let original = try String(contentsOfFile: Self.model("seed_td_lstm", "keras2.json"), encoding: .utf8)
            let edited = directory.appendingPathComponent("edited.json")
            try original.replacingOccurrences(of: "\"time_distributed_1\"", with: "\"head\"")
                .replacingOccurrences(of: "\"unit_forget_bias\": true", with: "\"unit_forget_bias\": false").write(to: edited, atomically: true, encoding: .utf8)
            let result = try Self.run(["diff", Self.model("seed_td_lstm", "keras2.json"), edited.path])
            #expect(result.status == 1)
            #expect(result.stdout.contains("renamed: layer 'time_distributed_1' (TimeDistributed) -> layer 'head' (TimeDistributed)"), "\(result.stdout)")
            #expect(result.stdout.contains("config: layer 'time_distributed' (TimeDistributed): config.layer.config.unit_forget_bias: true -> false"))
            #expect(result.stdout.contains("weights: not loaded"))
        }
    }
}
