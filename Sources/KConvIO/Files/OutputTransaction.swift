import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Puts a set of written files in place as one change: all of them or, after any failure, none — the files they
/// replace back where they were. A model is often several files (a JSON config and its weights, a TensorFlow.js
/// model.json and its shards), and a reader given half a new set and half an old one loads a model that computes
/// neither's outputs.
///
/// Files are written into a hidden staging folder beside the outputs (`.kconv-<uuid>.tmp`, never taken for an
/// output), under `stagedPath(_:)`. `commit` then writes a journal, moves each file it replaces into the staging
/// folder's `old/`, moves each new file into place, and marks the journal done; a failure on the way undoes the
/// moves at once. A process killed in the middle (a window of a few renames) leaves the journal, and the next
/// transaction in that folder — or `recover(in:)` — puts the old files back, or finishes a change that was marked
/// done, and removes the staging folder. A staging folder belongs to its process for as long as it runs (an
/// `flock` on its `lock` file, which the kernel releases when the process dies), so a conversion running
/// alongside is never disturbed.
///
/// Without `replace`, a file is put in place only if nothing is there (`link(2)`, which fails if the name exists,
/// rather than a check followed by a rename), so a file that appears meanwhile is never overwritten.
package final class OutputTransaction {
    /// The staging folder.
    package let folder: URL
    private let lockDescriptor: Int32
    private var finished = false

    private static let prefix = ".kconv-"
    private static let suffix = ".tmp"

    /// Creates a staging folder in `directory`, after recovering what killed transactions left there
    /// (`recoveries` says what was done).
    package init(directory: URL) throws(OutputError) {
        recoveries = Self.recover(in: directory)
        folder = directory.appendingPathComponent("\(Self.prefix)\(UUID().uuidString)\(Self.suffix)")
        guard mkdir(folder.path, 0o755) == 0 else { throw OutputError(directory.path, "cannot create a staging folder", errno: errno) }
        lockDescriptor = open(folder.appendingPathComponent("lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockDescriptor >= 0, flock(lockDescriptor, LOCK_EX) == 0, mkdir(folder.appendingPathComponent("new").path, 0o755) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(at: folder)
            throw OutputError(directory.path, "cannot create a staging folder", errno: code)
        }
    }

    /// What recovering earlier, killed transactions did, one note each.
    package let recoveries: [String]

    deinit {
        if !finished { try? FileManager.default.removeItem(at: folder) }
        close(lockDescriptor)
    }

    /// Where to write the file that `commit` will put at `output`.
    package func stagedPath(_ output: String) -> String {
        folder.appendingPathComponent("new").appendingPathComponent(URL(fileURLWithPath: output).lastPathComponent).path
    }

    /// Puts the staged files at `outputs` (in this order; all in the staging folder's directory), replacing existing
    /// files if `replace` (else refusing any that exists, at the moment of the move), and takes `remove` (files the
    /// new set no longer uses, such as a replaced model.json's extra shards; also in that directory) away in the same
    /// change. All or nothing; the staging folder is removed.
    package func commit(_ outputs: [String], replace: Bool, remove: [String] = []) throws(OutputError) {
        let directory = folder.deletingLastPathComponent()
        let names = outputs.map { URL(fileURLWithPath: $0).lastPathComponent }
        let removed = remove.map { URL(fileURLWithPath: $0).lastPathComponent }
        for (path, name) in zip(outputs + remove, names + removed) where directory.appendingPathComponent(name).standardizedFileURL != URL(fileURLWithPath: path).standardizedFileURL {
            throw OutputError(path, "expected a file in \(directory.path), beside the other outputs")
        }
        var journal = Journal(outputs: names, removed: removed, done: false)
        try journal.write(to: folder)
        do throws(OutputError) {
            try makeFolder("old")
            for (index, name) in names.enumerated() {
                let output = directory.appendingPathComponent(name).path
                if replace { try moveAside(output, to: "old/\(index)") }
                try place(folder.appendingPathComponent("new/\(name)").path, at: output, replace: replace)
            }
            for (index, name) in removed.enumerated() { try moveAside(directory.appendingPathComponent(name).path, to: "old/removed-\(index)") }
            journal.done = true
            try journal.write(to: folder)
        } catch {
            Self.undo(journal, in: folder)
            throw error
        }
        finished = true
        try? FileManager.default.removeItem(at: folder)
    }

    private func makeFolder(_ name: String) throws(OutputError) {
        guard mkdir(folder.appendingPathComponent(name).path, 0o755) == 0 else {
            throw OutputError(folder.path, "cannot create a staging folder", errno: errno)
        }
    }

    /// Moves an existing `path` into the staging folder; nothing to do if there is none. A folder is never replaced.
    private func moveAside(_ path: String, to name: String) throws(OutputError) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT != S_IFDIR else { throw OutputError(path, "is a directory") }
        guard rename(path, folder.appendingPathComponent(name).path) == 0 else {
            throw OutputError(path, "cannot move the file it replaces aside", errno: errno)
        }
    }

    // MARK: - Recovery

    /// Finishes or undoes, then removes, every staging folder in `directory` whose process has gone: one whose
    /// journal is marked done is finished (the files it replaced are dropped), any other is undone (the files it
    /// replaced are put back and the new ones it had put in place removed). Returns a note for each.
    @discardableResult
    package static func recover(in directory: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var notes: [String] = []
        for name in names.sorted() where name.hasPrefix(prefix) && name.hasSuffix(suffix) {
            let staging = directory.appendingPathComponent(name)
            let lock = open(staging.appendingPathComponent("lock").path, O_RDWR | O_CLOEXEC)
            if lock < 0 {
                // A folder without a lock: left by a process killed right after creating it, or by an older kconv.
                // Give a process that is just creating one time to take its lock.
                let age = (try? FileManager.default.attributesOfItem(atPath: staging.path)[.modificationDate] as? Date).map { -$0.timeIntervalSinceNow }
                guard let age, age > 60 else { continue }
            } else {
                defer { close(lock) }
                guard flock(lock, LOCK_EX | LOCK_NB) == 0 else { continue }  // its process is still running
                if let journal = Journal.read(from: staging), !journal.done {
                    undo(journal, in: staging)
                    notes.append("put back the files an interrupted conversion was replacing: \(journal.outputs.joined(separator: ", "))")
                }
            }
            try? FileManager.default.removeItem(at: staging)
            notes.append("removed \(name), the staging folder of an interrupted conversion")
        }
        return notes
    }

    /// Takes back every step of `journal` that was made: each new file put in place is removed, each file moved
    /// aside is put back. Best effort (it runs after a failure, or for a process that is gone).
    private static func undo(_ journal: Journal, in staging: URL) {
        let directory = staging.deletingLastPathComponent()
        for (index, name) in journal.removed.enumerated().reversed() {
            _ = rename(staging.appendingPathComponent("old/removed-\(index)").path, directory.appendingPathComponent(name).path)
        }
        for (index, name) in journal.outputs.enumerated().reversed() {
            let output = directory.appendingPathComponent(name).path
            let staged = staging.appendingPathComponent("new/\(name)").path
            var stagedStatus = stat(), outputStatus = stat()
            let stagedExists = lstat(staged, &stagedStatus) == 0
            let outputExists = lstat(output, &outputStatus) == 0
            // Placed: the staged file is gone (renamed there), or is the very file there (linked, not yet unlinked).
            let placed = outputExists && (!stagedExists || (stagedStatus.st_dev == outputStatus.st_dev && stagedStatus.st_ino == outputStatus.st_ino))
            let old = staging.appendingPathComponent("old/\(index)").path
            var oldStatus = stat()
            let wasReplaced = lstat(old, &oldStatus) == 0
            if placed {
                if wasReplaced { _ = rename(old, output) } else { unlink(output) }
            } else if wasReplaced, !outputExists {
                _ = rename(old, output)
            }
        }
    }
}

/// Moves the finished file `staged` to `path` (same file system). With `replace`, a rename (atomic: readers see
/// the old file or the new one). Without, `link(2)`, which fails if `path` exists — at the moment of the move, so a
/// file created meanwhile is never overwritten — then the staged name is removed; on a file system without hard
/// links, the name is reserved with `O_CREAT | O_EXCL` and the file renamed over the reservation.
package func place(_ staged: String, at path: String, replace: Bool) throws(OutputError) {
    if replace {
        guard rename(staged, path) == 0 else { throw OutputError(path, "cannot move the written file into place", errno: errno) }
        return
    }
    if link(staged, path) == 0 {
        unlink(staged)
        return
    }
    let code = errno
    guard code == EEXIST || code == EPERM || code == ENOTSUP || code == EOPNOTSUPP || code == EMLINK else {
        throw OutputError(path, "cannot move the written file into place", errno: code)
    }
    guard code != EEXIST else { throw OutputError(path, "exists; pass --force to replace it") }
    let reservation = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard reservation >= 0 else {
        throw errno == EEXIST ? OutputError(path, "exists; pass --force to replace it") : OutputError(path, "cannot create the file", errno: errno)
    }
    close(reservation)
    guard rename(staged, path) == 0 else {
        let code = errno
        unlink(path)
        throw OutputError(path, "cannot move the written file into place", errno: code)
    }
}

/// An output that cannot be put in place, e.g. `out.h5: exists; pass --force to replace it`.
package struct OutputError: Error, CustomStringConvertible, Sendable {
    package let path: String
    package let message: String

    package init(_ path: String, _ message: String, errno code: Int32? = nil) {
        self.path = path
        self.message = code.map { "\(message): \(String(cString: strerror($0)))" } ?? message
    }

    package var description: String { "\(path): \(message)" }
}

/// What a transaction is doing, in its staging folder's `journal`: the names of the outputs in order, in the staging
/// folder's directory (each staged under `new/<name>`; the file it replaces goes to `old/<index>`), the names of the
/// files it removes (to `old/removed-<index>`), and whether every move was made. Names only, never paths: a journal
/// can only ever move files within its own directory.
private struct Journal {
    var outputs: [String]
    var removed: [String]
    var done: Bool

    /// Written to `journal.new`, then renamed over `journal`: a reader finds the old journal or the new one.
    func write(to folder: URL) throws(OutputError) {
        let value = JSONValue.object([
            "outputs": .array(outputs.map { .string($0) }),
            "removed": .array(removed.map { .string($0) }),
            "done": .bool(done),
        ])
        let temporary = folder.appendingPathComponent("journal.new").path
        do {
            try FileOutput.write(Array(value.serialized().utf8), to: temporary)
        } catch {
            throw OutputError(folder.path, "cannot write the staging journal: \(error)")
        }
        guard rename(temporary, folder.appendingPathComponent("journal").path) == 0 else {
            throw OutputError(folder.path, "cannot write the staging journal", errno: errno)
        }
    }

    static func read(from folder: URL) -> Journal? {
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent("journal").path),
              let value = try? JSONValue.parse(String(decoding: data, as: UTF8.self)),
              let outputs = value["outputs"]?.arrayValue, let removed = value["removed"]?.arrayValue else { return nil }
        let names = (outputs + removed).compactMap(\.stringValue).filter { !$0.isEmpty && !$0.contains("/") && $0 != "." && $0 != ".." }
        guard names.count == outputs.count + removed.count else { return nil }
        return Journal(outputs: Array(names.prefix(outputs.count)), removed: Array(names.dropFirst(outputs.count)),
                       done: value["done"]?.boolValue ?? false)
    }
}
