import Foundation
import Testing
import KConvIO

/// What `kconv inspect` and `kconv --help` print, compared with the text stored in Tests/KConvTests/Snapshots,
/// so that a change to either shows in review. `KCONV_RECORD_SNAPSHOTS=1 swift test --filter
/// CommandLineSnapshotTests` rewrites the stored text from what the built kconv prints now.
@Suite struct CommandLineSnapshotTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Snapshots")
    static let recording = ProcessInfo.processInfo.environment["KCONV_RECORD_SNAPSHOTS"] == "1"

    /// Compares `text` with snapshot `name` (the fixtures' location replaced by `Fixtures/cases`), or records it.
    static func check(_ text: String, against name: String) throws {
        let text = text.replacingOccurrences(of: Fixtures.cases.path, with: "Fixtures/cases")
        let file = directory.appendingPathComponent(name)
        if recording {
            try text.write(to: file, atomically: true, encoding: .utf8)
            return
        }
        let stored = try String(contentsOf: file, encoding: .utf8)
        #expect(text == stored, "\(name) differs from what kconv prints now; if the change is meant, record again with KCONV_RECORD_SNAPSHOTS=1")
    }

    @Test(arguments: [("seed_attention", "keras2.h5"), ("multi_head_attention_masks", "keras3.keras"), ("lambda_layer", "keras2.keras"), ("lambda_layer", "keras2.h5"),
                      ("bidir_merge_modes", "keras2.h5")])
    func inspect(_ fixture: String, _ file: String) throws {
        let result = try CommandLineTests.run(["inspect", Fixtures.cases.appendingPathComponent("\(fixture)/\(file)").path])
        #expect(result.status == 0, "\(result.stderr)")
        try Self.check(result.stdout, against: "inspect-\(fixture)-\(file).txt")
    }

    @Test(arguments: [[], ["run"], ["diff"], ["bench"], ["convert"]])
    func help(_ subcommand: [String]) throws {
        let result = try CommandLineTests.run(["help"] + subcommand, environment: ["COLUMNS": "80"])  // help wraps to the terminal
        #expect(result.status == 0, "\(result.stderr)")
        try Self.check(result.stdout, against: "help\(subcommand.map { "-" + $0 }.joined()).txt")
    }
}
