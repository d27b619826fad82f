import Foundation
import Testing

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

    static func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
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
        #expect(result.stdout.contains("Total params: 4385"))
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
}
