import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// The hostile files of issue #15 (Fixtures/hostile, written by its generate.py): each attacks the I/O layer
/// and must be refused with one line naming the file, what kconv expected and what it found — before
/// anything outside the file is opened, and before anything the file merely claims is allocated.
@Suite struct HostileFileTests {
    static let folder = Fixtures.root.appendingPathComponent("hostile")

    struct Case: Sendable, CustomStringConvertible {
        let file: String
        /// Every fragment must appear in the error message.
        let fragments: [String]
        var description: String { file }
    }

    static let models: [Case] = [
        // Never read outside the given file.
        Case(file: "external_link.h5", fragments: [
            "/model_weights/lstm/lstm/lstm_cell/kernel:0: look up object: ",
            "expected an object stored in this file, found an external link to outside.h5:/kernel"]),
        Case(file: "soft_link_to_external.h5", fragments: [
            "/model_weights/lstm: look up object: ",
            "expected an object stored in this file, found a soft link to /elsewhere, an external link to outside.h5:/lstm"]),
        Case(file: "external_storage.h5", fragments: [
            "/model_weights/lstm/lstm/lstm_cell/kernel:0: open dataset: ",
            "expected data stored in this file, found raw data kept in the external file outside.bin"]),
        Case(file: "virtual_dataset.h5", fragments: [
            "/model_weights/lstm/lstm/lstm_cell/kernel:0: open dataset: ",
            "expected data stored in this file, found a virtual dataset mapping outside.h5:/kernel"]),
        // Ambiguous archives: Python's zipfile (and so Keras) reads the last of two same-named members.
        Case(file: "duplicate_config.keras", fragments: [
            "expected each member name once, found 'config.json' 2 times", "Keras reads the last"]),
        Case(file: "case_variant.keras", fragments: [
            "expected member names that differ by more than case or a leading './', found 'config.json' and 'Config.json'"]),
        Case(file: "dot_slash.keras", fragments: [
            "expected member names that differ by more than case or a leading './', found 'config.json' and './config.json'"]),
        // A few KB declaring gigabytes.
        Case(file: "zip_bomb.keras", fragments: [
            "model.weights.h5: ", "expected at most 4210560 bytes uncompressed", "found a declared 3221225472"]),
    ]

    @Test(arguments: models)
    func modelIsRefused(_ hostile: Case) {
        let path = Self.folder.appendingPathComponent(hostile.file).path
        #expect(FileManager.default.fileExists(atPath: path))
        expectError(hostile, path: path) { _ = try KerasModel.load(path) }
    }

    static let arrays: [Case] = [
        Case(file: "huge_shape.npy", fragments: [
            "expected 4611686018427387904 data bytes for shape (1099511627776, 1048576) of float32, found 16"]),
        Case(file: "overflowing_shape.npy", fragments: [
            "shape (0, 4611686018427387904, 4611686018427387904) of float32: ",
            "expected sizes whose product fits in 64 bits, found 0 × 4611686018427387904 × 4611686018427387904"]),
        Case(file: "bomb.npz", fragments: [
            "in_0: ", "expected at most 4299312 bytes uncompressed", "found a declared 3221225472"]),
    ]

    @Test(arguments: arrays)
    func arrayIsRefused(_ hostile: Case) {
        let path = Self.folder.appendingPathComponent(hostile.file).path
        #expect(FileManager.default.fileExists(atPath: path))
        expectError(hostile, path: path) {
            if hostile.file.hasSuffix(".npz") { _ = try NumPy.readNPZ(path) } else { _ = try NumPy.readNPY(path) }
        }
    }

    /// An external link whose target is a FIFO used to block forever in open(2) inside HDF5. Refusing the link
    /// before traversing it means the FIFO is never opened. (On a regression the FIFO is opened for writing
    /// after a timeout, which releases the blocked reader, so the test fails instead of hanging.)
    @Test func externalLinkToAFIFONeverBlocks() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = directory.appendingPathComponent("external_link.h5").path
        try FileManager.default.copyItem(atPath: Self.folder.appendingPathComponent("external_link.h5").path, toPath: model)
        let fifo = directory.appendingPathComponent("outside.h5").path
        #expect(mkfifo(fifo, 0o600) == 0)

        let outcome = LoadOutcome()
        let done = DispatchSemaphore(value: 0)
        Thread {
            do { _ = try KerasModel.load(model) } catch { outcome.message = String(describing: error) }
            done.signal()
        }.start()
        if done.wait(timeout: .now() + 20) == .timedOut {
            Issue.record("loading a model with an external link to a FIFO blocked")
            // Opening the FIFO for writing lets a blocked open(2) return (HDF5 opens it more than once).
            while done.wait(timeout: .now() + 0.1) == .timedOut {
                let writer = open(fifo, O_WRONLY | O_NONBLOCK)
                if writer >= 0 { close(writer) }
            }
        }
        #expect(outcome.message?.contains("found an external link to outside.h5:/kernel") == true, "\(outcome.message ?? "loaded")")
    }

    /// Soft links are followed to check where they lead, as HDF5 would follow them: at most 16 along a path,
    /// counted over the whole walk, so a cycle ends and a chain that fans out (4**20 paths) stays quick.
    @Test(arguments: ["cycle_a", "fan0/fan1"])
    func softLinkChainsEnd(_ name: String) throws {
        let root = try HDF5File.open(Self.folder.appendingPathComponent("soft_links.h5").path).root
        let error = #expect(throws: HDF5Error.self) { try root.kind(of: name) }
        #expect(error?.message == "expected at most 16 soft links along a path, found more (a cycle?)", "\(error.map(String.init(describing:)) ?? "")")
    }

    /// A config asking for RepeatVector(2**30) made the engine allocate 8 GiB for its output and abort. Running it
    /// is refused before the allocation, against the budget `--max-memory` sets, naming the layer. (Converting it
    /// no longer runs it: the written graph is the source's, so the check needs no forward pass.)
    @Test func hugeConfiguredTensorIsRefusedBeforeAllocation() throws {
        let model = Self.folder.appendingPathComponent("repeat_vector_huge.h5").path
        let result = try CommandLineTests.run(["bench", model, "--batch", "2", "--runs", "1", "--warmup", "0", "--max-memory", "1G"])
        #expect(result.status == 1, "exit status \(result.status): \(result.stderr)")
        #expect(result.stderr.contains("layer 'repeat_vector' (RepeatVector): "), "\(result.stderr)")
        #expect(result.stderr.contains("expected outputs of at most 1073741824 bytes (kconv's memory budget), found shape [2, 1073741824, 1]"), "\(result.stderr)")
    }

    /// Sizes a layer's config gives and kconv computes constants from: a CLAHE tile grid of 2**63 − 1 tiles
    /// overflowed the tile arithmetic (a crash the worker contained), a MelSpectrogram's fft_length of 2e6 asked
    /// for an 8 TB DFT kernel, and a tf_idf lookup's max_tokens of 1e15 for 4 PB of idf weights. Each is
    /// refused, naming the layer, before anything is allocated.
    static let configuredSizes: [(input: String, layer: String, error: String)] = [
        ("[null, 8, 8, 3]",
         #"{"module": "keras.layers", "class_name": "ContrastLimitedAdaptiveHistogramEqualization", "config": {"name": "clahe", "tile_grid_size": [9223372036854775807, 2]}}"#,
         "layer 'clahe' (ContrastLimitedAdaptiveHistogramEqualization): config.tile_grid_size: expected at most 16777216 tiles per axis"),
        ("[null, 3000000]",
         #"{"module": "keras.layers", "class_name": "MelSpectrogram", "config": {"name": "mel", "fft_length": 2000000, "sequence_stride": 1000000, "num_mel_bins": 4}}"#,
         "layer 'mel' (MelSpectrogram): the (fft_length, 1, fft_length / 2 + 1) DFT kernel of 2000000 × 1000001 float32: expected at most"),
        ("[null, 2]",
         #"{"module": "keras.layers", "class_name": "StringLookup", "config": {"name": "lookup", "vocabulary": ["a"], "idf_weights": [1.0], "output_mode": "tf_idf", "pad_to_max_tokens": true, "max_tokens": 1000000000000000}}"#,
         "layer 'lookup' (StringLookup): the idf weights, one per token up to max_tokens of 1000000000000000 × 1 float32: expected at most"),
    ]

    @Test(arguments: configuredSizes.indices)
    func configuredSizeIsRefusedBeforeAllocation(_ index: Int) throws {
        let (shape, layer, message) = Self.configuredSizes[index]
        let input = #"{"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": \#(shape), "name": "input"}}"#
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-configured-size-\(UUID().uuidString).json").path
        try Data(#"{"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [\#(input), \#(layer)]}}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        expectError(Case(file: "configured size \(index)", fragments: [message]), path: path) {
            let model = try KerasModel.load(path)
            _ = try locating(file: path) { try model.model.lowered() }
        }
    }

    private func expectError(_ hostile: Case, path: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("\(hostile.file) was read, but it is hostile")
        } catch {
            let message = String(describing: error)
            #expect(message.hasPrefix(path + ": "), "the error must start with the file: \(message)")
            #expect(!message.contains("\n"), "the error must be one line: \(message)")
            for fragment in hostile.fragments {
                #expect(message.contains(fragment), "\(hostile.file): '\(fragment)' missing from: \(message)")
            }
        }
    }
}

private final class LoadOutcome: @unchecked Sendable {  // written by one thread, read after it signals
    var message: String?
}

/// A disk that fills up while kconv writes (simulated with a file-size limit, which fails writes past it as
/// a full disk does) must give one clean error and leave nothing behind. It used to go unnoticed by the
/// writer, leave HDF5 with a half-closed file, and crash the process when HDF5 cleaned up at exit.
@Suite struct FullDiskTests {
    static func runLimited(_ kilobytes: Int, _ arguments: [String]) throws -> CommandLineTests.Result {
        let quoted = ([CommandLineTests.executable.path] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // SIGXFSZ stays ignored across exec, so a write past the limit fails with EFBIG instead of killing.
        process.arguments = ["-c", "trap '' XFSZ; ulimit -f \(kilobytes) && exec \(quoted)"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandLineTests.Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                                       stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// Limits below the written file's size (16 KB for out.h5; 18.7 KB for out.keras, whose weights are built in
    /// memory, so both out.keras limits fail in the zip writer).
    @Test(arguments: [("out.h5", 4), ("out.h5", 8), ("out.h5", 12), ("out.keras", 8), ("out.keras", 18)])
    func convertOntoAFullDiskFailsCleanly(_ name: String, _ kilobytes: Int) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = Fixtures.cases.appendingPathComponent("seed_lstm_one_to_one/keras2.h5").path
        let output = directory.appendingPathComponent(name).path
        for check in [[], ["--no-check"]] {
            let result = try Self.runLimited(kilobytes, ["convert", source, output] + check)
            #expect(result.status == 1, "exit status \(result.status): \(result.stderr)")
            #expect(result.stderr.hasPrefix("kconv: error: \(output): "), "\(result.stderr)")
            #expect(result.stderr.contains("File too large"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty, "left behind after \(check)")
        }
    }
}
