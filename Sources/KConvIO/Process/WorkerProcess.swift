// The command-line tool's isolation: each command runs in a worker process, a second copy of kconv started with
// the same arguments, and the process the user started only waits for it. Whatever a file makes libhdf5 do in the
// worker — crash, loop, abort — ends as one error line naming the file and a non-zero exit, never a signal.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a command-line tool's command in a worker process: see `runCommandInWorker(report:)`.
package enum WorkerProcess {
    /// Set in a worker's environment: "<supervisor's pid>:<status page descriptor>".
    static let workerVariable = "KCONV_WORKER"

    /// Set (to anything) to run the command in the process itself, without a worker: for debugging, and to
    /// measure what the worker contains (`Scripts/fuzz.py --in-process`). The libhdf5 watchdog still runs.
    package static let inProcessVariable = "KCONV_IN_PROCESS"

    /// Set in a worker's environment when the user's standard error is a terminal: a descriptor for it, so progress
    /// lines reach the terminal while the worker runs rather than through the pipe when it ends.
    static let terminalVariable = "KCONV_TERMINAL_FD"

    /// Where a command shows progress lines: the user's terminal, or nil when standard error is not one.
    package static var progressDescriptor: Int32? {
        if let value = ProcessInfo.processInfo.environment[terminalVariable], let descriptor = Int32(value), isatty(descriptor) == 1 {
            return descriptor
        }
        return isatty(STDERR_FILENO) == 1 ? STDERR_FILENO : nil
    }

    /// The CPU seconds one call into libhdf5 may take before the watchdog ends it (default 10; see `HDF5Activity`).
    package static let allowanceVariable = "KCONV_HDF5_CPU_SECONDS"

    /// Call first in `main`, before anything reads a file.
    ///
    /// In the process the user started (the supervisor) this never returns: it starts the worker — this executable
    /// again, with the same arguments and standard input and output, its standard error through a pipe — waits for
    /// it, and exits as it did. When the worker dies of a crash signal, the supervisor reports, through `report`,
    /// one error naming the call into libhdf5 the worker was in (file, object and operation, from a page the two
    /// share) and exits with status 1; the worker's own dying words on standard error (a libc or Swift runtime
    /// message) are left out, so the error stays one line. Signals that stop a command (SIGINT, SIGTERM, SIGHUP,
    /// SIGQUIT) are passed on to the worker, and the supervisor then ends by the same signal. A worker whose
    /// supervisor disappears (`kill -9`) stops within a fraction of a second.
    ///
    /// In the worker (and in a process run with `KCONV_IN_PROCESS`) it returns at once, after starting the libhdf5
    /// watchdog: a call into libhdf5 that outlives its allowance of CPU time (`HDF5Activity`) is reported through
    /// `report` and ends the process with status 1.
    package static func runCommandInWorker(report: @escaping @Sendable (String) -> Void) {
        let environment = ProcessInfo.processInfo.environment
        if let worker = environment[workerVariable] {
            becomeWorker(worker, report: report)
        } else if environment[inProcessVariable] != nil {
            startWatchdog(report: report, supervisor: nil)
        } else {
            supervise(report: report)
        }
    }

    // MARK: - The worker

    private static func becomeWorker(_ value: String, report: @escaping @Sendable (String) -> Void) {
        unsetenv(workerVariable)  // anything the worker itself starts is not a worker
        let parts = value.split(separator: ":").compactMap { Int32($0) }
        if parts.count == 2, parts[1] >= 0 {
            let mapped = mmap(nil, StatusPage.size, PROT_READ | PROT_WRITE, MAP_SHARED, parts[1], 0)
            if let mapped, mapped != MAP_FAILED { HDF5Activity.share(mapped) }
            close(parts[1])
        }
        // A crash on a hostile file leaves no core file behind.
        var noCore = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &noCore)
        startWatchdog(report: report, supervisor: parts.first)
    }

    private static func startWatchdog(report: @escaping @Sendable (String) -> Void, supervisor: pid_t?) {
        let seconds = ProcessInfo.processInfo.environment[allowanceVariable].flatMap(Double.init).flatMap { $0 > 0 && $0.isFinite ? $0 : nil }
        HDF5Activity.startWatchdog(allowance: seconds ?? HDF5Activity.defaultAllowance, timedOut: { error in
            report(error.description)
            _exit(1)
        }, alsoCheck: {
            if let supervisor, getppid() != supervisor { _exit(1) }
        })
    }

    // MARK: - The supervisor

    private static func supervise(report: @escaping @Sendable (String) -> Void) -> Never {
        let page = StatusFile()
        var errorPipe: [Int32] = [-1, -1]
        guard pipe(&errorPipe) == 0 else { failToStart("cannot create a pipe", errno: errno, report: report) }
        _ = fcntl(errorPipe[0], F_SETFD, FD_CLOEXEC)

        var environment = ProcessInfo.processInfo.environment
        environment[workerVariable] = "\(getpid()):\(page?.descriptor ?? -1)"
        environment["SWIFT_BACKTRACE"] = "enable=no"  // the supervisor reports a crash; no backtrace on the terminal
        let terminal = isatty(STDERR_FILENO) == 1 ? dup(STDERR_FILENO) : -1  // inherited by the worker
        defer { if terminal >= 0 { close(terminal) } }
        if terminal >= 0 { environment[terminalVariable] = String(terminal) }
        let executable = FileManager.default.fileExists(atPath: "/proc/self/exe") ? "/proc/self/exe" : CommandLine.arguments[0]
        let arguments = CommandLine.arguments
        let environmentStrings = environment.map { "\($0.key)=\($0.value)" }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], STDERR_FILENO)
        posix_spawn_file_actions_addclose(&actions, errorPipe[1])
        var pid: pid_t = 0
        let spawned = withCStrings(arguments) { argv in
            withCStrings(environmentStrings) { envp in posix_spawn(&pid, executable, &actions, nil, argv, envp) }
        }
        guard spawned == 0 else { failToStart("cannot start the worker process \(executable)", errno: spawned, report: report) }
        close(errorPipe[1])

        workerPID = pid
        for signal in forwardedSignals {
            // A signal the caller ignores (nohup's SIGHUP) stays ignored, as it is in the worker.
            let previous = Glibc.signal(signal, forwardToWorker)
            if unsafeBitCast(previous, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self) { _ = Glibc.signal(signal, SIG_IGN) }
        }
        let errorOutput = readAll(errorPipe[0])
        close(errorPipe[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { failToStart("cannot wait for the worker process", errno: errno, report: report) }
        }

        let termination = status & 0x7F
        if termination == 0 {  // exited
            writeAll(STDERR_FILENO, errorOutput)
            exit((status >> 8) & 0xFF)
        }
        if forwardedSignals.contains(termination) || [SIGPIPE, SIGXFSZ, SIGALRM, SIGUSR1, SIGUSR2].contains(termination) {
            // Stopped from outside, not by its input: end the same way.
            writeAll(STDERR_FILENO, errorOutput)
            _ = Glibc.signal(termination, SIG_DFL)
            kill(getpid(), termination)
            exit(128 + termination)
        }
        report(crashReport(signal: termination, page: page?.read(), errorOutput: errorOutput))
        exit(1)
    }

    /// What the supervisor says when its worker died of `signal`.
    static func crashReport(signal: Int32, page: (location: HDF5Location, operation: String, inside: Bool)?, errorOutput: [UInt8]) -> String {
        let how = signal == SIGKILL ? "was killed (SIGKILL: out of memory?)" : "crashed (\(signalName(signal)))"
        if let page, page.inside {
            return page.location.error(page.operation, "libhdf5 \(how) reading this file, which is corrupted; kconv read it in a worker process and stopped").description
        }
        // Not inside libhdf5: kconv's own failure (a Swift runtime error prints a "Fatal error: ..." line first).
        let lastWords = String(decoding: errorOutput, as: UTF8.self).split(whereSeparator: \.isNewline)
            .last { $0.contains("Fatal error") || $0.contains("error:") }.map { ": " + $0.prefix(300) } ?? ""
        let after = page.map { " after reading \($0.location.filePath)" } ?? ""
        return "kconv's worker process \(how)\(after)\(lastWords); this is a bug in kconv: please report it with the input"
    }

    static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [SIGSEGV: "SIGSEGV", SIGBUS: "SIGBUS", SIGILL: "SIGILL", SIGFPE: "SIGFPE", SIGABRT: "SIGABRT",
                                      SIGTRAP: "SIGTRAP", SIGSYS: "SIGSYS", SIGXCPU: "SIGXCPU", SIGKILL: "SIGKILL"]
        return names[signal] ?? "signal \(signal)"
    }

    private static let forwardedSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]

    private static func failToStart(_ what: String, errno code: Int32, report: (String) -> Void) -> Never {
        report("\(what): \(String(cString: strerror(code)))")
        exit(1)
    }

    /// Everything until end of file, up to 1 MiB (the rest is read and dropped).
    private static func readAll(_ descriptor: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return bytes }
            if bytes.count < 1 << 20 { bytes += buffer[0..<count] }
        }
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }

    private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { pointers.forEach { free($0) } }
        return body(pointers)
    }
}

/// The worker being supervised, for the signal handler (which cannot capture anything).
nonisolated(unsafe) private var workerPID: pid_t = 0

private func forwardToWorker(_ signal: Int32) {
    if workerPID > 0 { kill(workerPID, signal) }
}

/// The status page's backing file: created, unlinked at once (so nothing is left behind, whatever happens) and
/// handed to the worker by descriptor.
private struct StatusFile {
    let descriptor: Int32
    let page: UnsafeMutableRawPointer

    init?() {
        let folder = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        var template = Array((folder + "/kconv-status-XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.map { mkstemp($0) } ?? -1 }
        guard descriptor >= 0 else { return nil }
        _ = unlink(String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        guard ftruncate(descriptor, off_t(StatusPage.size)) == 0,
              let mapped = mmap(nil, StatusPage.size, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0), mapped != MAP_FAILED else {
            close(descriptor)
            return nil
        }
        self.descriptor = descriptor
        self.page = mapped
    }

    func read() -> (location: HDF5Location, operation: String, inside: Bool)? { StatusPage.read(page) }
}
