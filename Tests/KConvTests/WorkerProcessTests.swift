import Foundation
import Testing
import KConvIO

/// libhdf5 1.10.8 crashes or loops on some corrupted files (Fixtures/hostile/global_heap_*.h5, found by
/// Scripts/fuzz.py), and nothing kconv can ask libhdf5 first tells them apart. The command-line tool therefore reads
/// in a worker process: these tests run the real executable and check that such a file ends in one `kconv: error:`
/// line naming the file, the object and the call, exit status 1 and no signal — and that the worker neither
/// outlives its supervisor nor hides a stop from outside.
@Suite struct WorkerProcessTests {
    struct Outcome {
        var status: Int32
        var signaled: Bool
        var stderr: String
    }

    static func run(_ arguments: [String], environment extra: [String: String] = [:]) throws -> Outcome {
        let process = Process()
        process.executableURL = CommandLineTests.executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Outcome(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                       stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func hostile(_ name: String) -> String { HostileFileTests.folder.appendingPathComponent(name).path }

    @Test(arguments: ["global_heap_object_overflow.h5", "global_heap_index_overflow.h5"])
    func libhdf5CrashIsOneCleanError(_ name: String) throws {
        let path = Self.hostile(name)
        let reference = Fixtures.cases.appendingPathComponent("seed_lstm_one_to_one/keras2.ref.npz").path
        for command in [["inspect", path], ["verify", path, "--reference", reference]] {
            let outcome = try Self.run(command)
            #expect(!outcome.signaled, "\(command[0]) died of signal \(outcome.status)")
            #expect(outcome.status == 1)
            #expect(outcome.stderr == "kconv: error: \(path): /: cannot read attribute 'model_config': libhdf5 crashed (SIGSEGV) reading this file, which is corrupted; kconv read it in a worker process and stopped\n",
                    "\(outcome.stderr)")
        }
    }

    /// The free-space loop never ends inside libhdf5; the watchdog stops it after its allowance of CPU time
    /// (lowered here from 10 s to keep the test short).
    @Test func libhdf5LoopIsStopped() throws {
        let path = Self.hostile("global_heap_free_space_loop.h5")
        let outcome = try Self.run(["inspect", path], environment: [WorkerProcess.allowanceVariable: "0.5"])
        #expect(!outcome.signaled)
        #expect(outcome.status == 1)
        #expect(outcome.stderr == "kconv: error: \(path): /: cannot read attribute 'model_config': libhdf5 did not finish within 0.5 s of CPU time, so kconv stopped it (a corrupted file can make libhdf5 1.10 loop forever)\n",
                "\(outcome.stderr)")
    }

    /// A stop from outside is not a crash on the file: the supervisor passes SIGTERM on and ends by it. (Started
    /// with default signal handling: Foundation's `Process` passes on the test thread's blocked signals.)
    @Test func terminationIsPassedOn() throws {
        let arguments = [CommandLineTests.executable.path, "inspect", Self.hostile("global_heap_free_space_loop.h5")]
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        #expect(posix_spawn(&pid, arguments[0], nil, &attributes, argv, environ) == 0)
        let worker = try #require(Self.child(of: pid))
        kill(pid, SIGTERM)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        #expect(status & 0x7F == SIGTERM, "status \(status)")
        #expect(Self.ends(worker), "the worker outlived its supervisor")
    }

    /// `kill -9` of the supervisor (a timeout in a script) leaves no worker running on.
    @Test func workerEndsWithItsSupervisor() throws {
        let process = Process()
        process.executableURL = CommandLineTests.executable
        process.arguments = ["inspect", Self.hostile("global_heap_free_space_loop.h5")]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let worker = try #require(Self.child(of: process.processIdentifier))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(Self.ends(worker), "the worker outlived its supervisor")
    }

    /// The first child of `parent`, waited for up to 10 s.
    static func child(of parent: pid_t) -> pid_t? {
        for _ in 0..<200 {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            for entry in entries {
                guard let pid = pid_t(entry), let stat = processStat(pid), stat.parent == parent else { continue }
                return pid
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return nil
    }

    /// Whether `pid` is gone (or a zombie) within 5 s.
    static func ends(_ pid: pid_t) -> Bool {
        for _ in 0..<100 {
            guard let stat = processStat(pid), stat.state != "Z" else { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    /// State and parent from /proc/PID/stat ("pid (name) state ppid ...").
    static func processStat(_ pid: pid_t) -> (state: Character, parent: pid_t)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 2, let state = fields[0].first, let parent = pid_t(fields[1]) else { return nil }
        return (state, parent)
    }
}
