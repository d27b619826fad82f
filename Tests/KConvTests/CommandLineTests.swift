import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// The `kconv` executable as a user meets it: exit codes and what reaches stdout and stderr.
@Suite struct CommandLineTests {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The built `kconv` next to the test bundle (`swift build` builds it with the tests).
    static let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("kconv")

    /// Runs kconv with `arguments`, its environment this process's with `environment` over it.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test func inspectPrintsTheSummary() throws {
        let path = Fixtures.cases.appendingPathComponent("seed_td_lstm/keras2.h5").path
        let result = try Self.run(["inspect", path])
        #expect(result.status == 0)
        #expect(result.stdout.contains("time_distributed (TimeDistributed)"))
        #expect(result.stdout.contains("Total params: 4,385 (17.13 KB)"))
    }

    /// A broken file: one line on stderr (no HDF5 diagnostic dump), nothing on stdout, exit status 1.
    @Test(arguments: ["truncated.h5", "not_a_model.h5", "wrong_shape.h5", "garbage.json"])
    func badInputIsOneLineAndNonZero(_ name: String) throws {
        let result = try Self.run(["inspect", Fixtures.bad.appendingPathComponent(name).path])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("kconv: error: "), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(!result.stderr.contains("HDF5-DIAG"))
    }

    @Test func runWritesOutputsAndRefusesToOverwrite() throws {
        let folder = Fixtures.cases.appendingPathComponent("seed_bidir_embedding_td_softmax")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out.npz").path
        let arguments = ["run", folder.appendingPathComponent("keras2.h5").path,
                         "--input", folder.appendingPathComponent("keras2.ref.npz").path, "--output", output]
        let first = try Self.run(arguments)
        #expect(first.status == 0, "\(first.stderr)")
        let reference = Dictionary(try NumPy.readNPZ(folder.appendingPathComponent("keras2.ref.npz").path).map { ($0.name, $0.array) },
                                   uniquingKeysWith: { a, _ in a })
        let written = try NumPy.readNPZ(output)
        #expect(written.map(\.name) == ["out_0"])
        let want = try #require(reference["out_0"])
        #expect(Comparison(name: "out_0", got: written[0].array.tensor, want: want.tensor, atol: 1e-5, rtol: 1e-4).passed)
        let again = try Self.run(arguments)
        #expect(again.status != 0)
        #expect(again.stderr.contains("--force"))
        #expect(try Self.run(arguments + ["--force"]).status == 0)
    }

    /// verify exits 0 on Keras's own reference and 1 when the outputs differ: the Keras 3 reference of the
    /// hard_sigmoid LSTM was computed with Keras 3's different hard_sigmoid.
    @Test func verifyExitStatusFollowsTheComparison() throws {
        let folder = Fixtures.cases.appendingPathComponent("lstm_hard_sigmoid")
        let model = folder.appendingPathComponent("keras2.h5").path
        let pass = try Self.run(["verify", model, "--reference", folder.appendingPathComponent("keras2.ref.npz").path])
        #expect(pass.status == 0, "\(pass.stdout)\(pass.stderr)")
        #expect(pass.stdout.contains("PASS"))
        let fail = try Self.run(["verify", model, "--reference", folder.appendingPathComponent("keras3.ref.npz").path])
        #expect(fail.status == 1)
        #expect(fail.stdout.contains("FAIL"))
    }

    @Test func versionIsPrinted() throws {
        let result = try Self.run(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout == "kconv \(KConvVersion.current)\n")
    }

    /// A NaN tolerance would pass every element: it is refused as a misused command line.
    @Test(arguments: ["nan", "-1", "inf"])
    func verifyRefusesToleranceThatCannotFail(_ atol: String) throws {
        let path = Fixtures.cases.appendingPathComponent("seed_td_lstm/keras2.h5").path
        let reference = Fixtures.cases.appendingPathComponent("seed_td_lstm/keras2.ref.npz").path
        let result = try Self.run(["verify", path, "--reference", reference, "--atol=\(atol)"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--atol must be a finite number ≥ 0"))
    }

    /// Names from a file reach the terminal with their control characters escaped, never as escape sequences.
    @Test func controlCharactersInNamesAreEscaped() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-names-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("model.json")
        let text = #"{"class_name": "Sequential", "config": {"name": "m", "layers": [{"class_name": "Dense", "config": {"name": "d\u001b[2J", "units": 2, "batch_input_shape": [null, 3]}}]}}"#
        try Data(text.utf8).write(to: config)
        let result = try Self.run(["inspect", config.path])
        #expect(result.status == 0)
        #expect(!result.stdout.unicodeScalars.contains("\u{1B}"))
        #expect(result.stdout.contains(#"d\u{1B}[2J (Dense)"#))
    }
}
