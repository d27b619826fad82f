import Foundation
import Testing
import Synchronization
@testable import KConv
@testable import KConvKeras
import KConvIO

/// Outputs go into place as one change: a file that appears at the destination meanwhile is never overwritten
/// without --force, a failure half-way puts back what was replaced, and what a killed conversion left (its staging
/// folder and its journal) is undone by the next one.
@Suite struct OutputTransactionTests {
    static func read(_ url: URL) -> String? {
        (try? Data(contentsOf: url)).map { String(decoding: $0, as: UTF8.self) }
    }

    static func stagingFolders(_ directory: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasPrefix(".kconv-") }
    }

    /// The check for an existing file happens when the file is moved (link(2) fails on an existing name), not
    /// before: a file created after the check is kept.
    @Test func createIfAbsentNeverOverwrites() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out.h5")
        let transaction = try OutputTransaction(directory: directory)
        try Data("new".utf8).write(to: URL(fileURLWithPath: transaction.stagedPath(output.path)))
        try Data("racing writer".utf8).write(to: output)  // appears after any check a conversion made
        let error = #expect(throws: OutputError.self) { try transaction.commit([output.path], replace: false) }
        #expect(error?.description == "\(output.path): exists; pass --force to replace it")
        #expect(Self.read(output) == "racing writer")
    }

    /// Two conversions to one new path: exactly one wins, and the loser reports the file exists (Keras formats and
    /// ONNX alike).
    @Test(arguments: ["out.keras", "out.onnx"]) func concurrentConversionsToOnePathOneWins(_ name: String) throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = Fixtures.cases.appendingPathComponent("seed_lstm_one_to_one/keras2.h5").path
        let output = directory.appendingPathComponent(name).path
        let results = Mutex<[CommandLineTests.Result]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            if let result = try? CommandLineTests.run(["convert", source, output, "--no-check"]) { results.withLock { $0.append(result) } }
        }
        let all = results.withLock { $0 }
        #expect(all.map(\.status).sorted() == [0, 1], "\(all.map(\.stderr))")
        #expect(all.allSatisfy { $0.status == 0 || $0.stderr.contains("exists; pass --force to replace it") }, "\(all.map(\.stderr))")
        #expect(Self.stagingFolders(directory).isEmpty)
    }

    /// A failure after some files were replaced puts every replaced file back.
    @Test func failureHalfWayPutsTheOldSetBack() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights = directory.appendingPathComponent("m.weights.h5"), config = directory.appendingPathComponent("m.json")
        try Data("old weights".utf8).write(to: weights)
        // The config's place holds a folder, which is never replaced.
        try FileManager.default.createDirectory(at: config, withIntermediateDirectories: false)
        try Data().write(to: config.appendingPathComponent("keep"))
        let transaction = try OutputTransaction(directory: directory)
        try Data("new weights".utf8).write(to: URL(fileURLWithPath: transaction.stagedPath(weights.path)))
        try Data("new config".utf8).write(to: URL(fileURLWithPath: transaction.stagedPath(config.path)))
        let error = #expect(throws: OutputError.self) { try transaction.commit([weights.path, config.path], replace: true) }
        #expect(error?.description == "\(config.path): is a directory")
        #expect(Self.read(weights) == "old weights")
        #expect(FileManager.default.fileExists(atPath: config.appendingPathComponent("keep").path))
    }

    /// What `kill -9` between the two renames of a JSON + weights replacement leaves: the new weights in place,
    /// the old ones moved aside, the new config still staged, the journal not done.
    static func killedHalfWay(in directory: URL, done: Bool = false) throws -> URL {
        let staging = directory.appendingPathComponent(".kconv-\(UUID().uuidString).tmp")
        for folder in ["new", "old"] {
            try FileManager.default.createDirectory(at: staging.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try Data().write(to: staging.appendingPathComponent("lock"))
        try Data(#"{"outputs": ["m.weights.h5", "m.json"], "removed": [], "done": \#(done)}"#.utf8).write(to: staging.appendingPathComponent("journal"))
        try Data("old weights".utf8).write(to: staging.appendingPathComponent("old/0"))
        try Data("new weights".utf8).write(to: directory.appendingPathComponent("m.weights.h5"))
        try Data("new config".utf8).write(to: staging.appendingPathComponent("new/m.json"))
        try Data("old config".utf8).write(to: directory.appendingPathComponent("m.json"))
        return staging
    }

    @Test func nextRunUndoesAKilledReplacement() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try Self.killedHalfWay(in: directory)
        let notes = OutputTransaction.recover(in: directory)
        #expect(Self.read(directory.appendingPathComponent("m.weights.h5")) == "old weights")
        #expect(Self.read(directory.appendingPathComponent("m.json")) == "old config")
        #expect(Self.stagingFolders(directory).isEmpty)
        #expect(notes.first == "put back the files an interrupted conversion was replacing: m.weights.h5, m.json", "\(notes)")
    }

    /// The next conversion into the folder recovers it too, and says so.
    @Test func conversionRecoversTheFolderFirst() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try Self.killedHalfWay(in: directory)
        let source = Fixtures.cases.appendingPathComponent("seed_lstm_one_to_one/keras2.h5").path
        let result = try CommandLineTests.run(["convert", source, directory.appendingPathComponent("other.keras").path, "--no-check"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("note: put back the files an interrupted conversion was replacing"), "\(result.stdout)")
        #expect(Self.read(directory.appendingPathComponent("m.weights.h5")) == "old weights")
        #expect(Self.stagingFolders(directory).isEmpty)
    }

    /// A journal marked done means every file was in place: recovery only drops what was replaced.
    @Test func nextRunFinishesADoneReplacement() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let staging = try Self.killedHalfWay(in: directory, done: true)
        try FileManager.default.moveItem(at: staging.appendingPathComponent("new/m.json"), to: directory.appendingPathComponent("m.json.placed"))
        try FileManager.default.removeItem(at: directory.appendingPathComponent("m.json"))
        try FileManager.default.moveItem(at: directory.appendingPathComponent("m.json.placed"), to: directory.appendingPathComponent("m.json"))
        OutputTransaction.recover(in: directory)
        #expect(Self.read(directory.appendingPathComponent("m.weights.h5")) == "new weights")
        #expect(Self.read(directory.appendingPathComponent("m.json")) == "new config")
        #expect(Self.stagingFolders(directory).isEmpty)
    }

    /// A staging folder whose process still runs (it holds the lock) is left alone.
    @Test func liveTransactionIsLeftAlone() throws {
        let directory = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let transaction = try OutputTransaction(directory: directory)
        OutputTransaction.recover(in: directory)
        #expect(FileManager.default.fileExists(atPath: transaction.folder.path))
        #expect(Self.stagingFolders(directory).count == 1)
    }

    /// A journal names files, never paths: one naming a file elsewhere is not followed.
    @Test func journalCannotReachOutsideItsFolder() throws {
        let directory = try ConvertTests.temporaryDirectory()
        let outside = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory); try? FileManager.default.removeItem(at: outside) }
        let victim = outside.appendingPathComponent("victim")
        try Data("victim".utf8).write(to: victim)
        let staging = directory.appendingPathComponent(".kconv-planted.tmp")
        try FileManager.default.createDirectory(at: staging.appendingPathComponent("old"), withIntermediateDirectories: true)
        try Data().write(to: staging.appendingPathComponent("lock"))
        try Data(#"{"outputs": [], "removed": ["\#(victim.path)"], "done": false}"#.utf8).write(to: staging.appendingPathComponent("journal"))
        try Data("planted".utf8).write(to: staging.appendingPathComponent("old/removed-0"))
        OutputTransaction.recover(in: directory)
        #expect(Self.read(victim) == "victim")
    }
}
