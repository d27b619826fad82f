// What libhdf5 is doing right now, so that a call it never returns from — a crash or an endless loop on a
// corrupted file — still ends in an error naming the file, the object and the operation.
//
// libhdf5 1.10 trusts some of a file's internal sizes (a global heap object's length, for one) and can crash or
// loop on a corrupted file; nothing kconv can check through its API tells such a file apart beforehand. So the
// command-line tool reads in a worker process (`WorkerProcess`): each call into libhdf5 is recorded here, in a
// page the supervising process can read after the worker died, and a watchdog thread ends a call that runs past
// its allowance of CPU time.
import Foundation
import Synchronization

/// The call into libhdf5 in progress, and the watchdog that ends one that never returns.
package enum HDF5Activity {
    /// The CPU time any one call into libhdf5 may take, in seconds: ample for metadata (opening, links,
    /// attributes), which takes milliseconds on any real file. Dataset reads get more by their size
    /// (`allowBytes`). The environment variable `KCONV_HDF5_CPU_SECONDS` changes it for a command (tests do).
    package static let defaultAllowance: Double = 10

    /// Dataset bytes per second of extra allowance: far below what libhdf5 reads, inflates or converts.
    package static let bytesPerSecond: Double = 8 * 1024 * 1024

    fileprivate struct Call: Sendable {
        var sequence: UInt64 = 0
        var inside = false
        var location = HDF5Location(filePath: "", objectPath: "")
        var operation = ""
        var base = HDF5Activity.defaultAllowance
        var allowance = HDF5Activity.defaultAllowance
        var thread: pthread_t?
    }

    private static let current = Mutex(Call())

    /// Nesting of `withHDF5` regions; only touched with the HDF5 lock held.
    nonisolated(unsafe) private static var depth = 0

    /// Where the supervising process reads the call in progress after a crash, when this is a worker.
    nonisolated(unsafe) private static var page: UnsafeMutableRawPointer?

    /// Records the start of a call (with the HDF5 lock held). Nested regions name the innermost operation but
    /// keep the outermost call's CPU clock and allowance.
    static func enter(_ location: HDF5Location, _ operation: String) {
        depth += 1
        let outermost = depth == 1
        current.withLock { call in
            if outermost {
                call.sequence &+= 1
                call.inside = true
                call.allowance = call.base
                call.thread = pthread_self()
            }
            call.location = location
            call.operation = operation
        }
        if let page { StatusPage.write(location, operation, inside: true, to: page) }
    }

    /// Records the end of a call (with the HDF5 lock held).
    static func leave() {
        depth -= 1
        guard depth == 0 else { return }
        current.withLock { $0.inside = false; $0.thread = nil }
        if let page { StatusPage.markOutside(page) }
    }

    /// Gives the call in progress more CPU time for reading `bytes` of dataset values.
    package static func allowBytes(_ bytes: Int) {
        current.withLock { $0.allowance = $0.base + Double(bytes) / bytesPerSecond }
    }

    /// Makes every later call visible in `page` (`StatusPage.size` bytes shared with the supervising process).
    static func share(_ page: UnsafeMutableRawPointer) {
        StatusPage.clear(page)
        self.page = page
    }

    /// Starts a thread that, when one call into libhdf5 has used more CPU time than its allowance, calls
    /// `timedOut` with the error naming the call (and `timedOut` must end the process: the call never returns).
    /// `alsoCheck` runs at each wake-up too (a worker checks that its supervisor is still there).
    package static func startWatchdog(allowance: Double = defaultAllowance, timedOut: @escaping @Sendable (HDF5Error) -> Void,
                                      alsoCheck: @escaping @Sendable () -> Void = {}) {
        current.withLock { $0.base = allowance }
        let thread = Thread {
            var watched: (sequence: UInt64, start: Double)?
            while true {
                Thread.sleep(forTimeInterval: 0.2)
                alsoCheck()
                let call = current.withLock { $0 }
                guard call.inside, let thread = call.thread, let now = cpuSeconds(of: thread) else {
                    watched = nil
                    continue
                }
                if watched?.sequence != call.sequence { watched = (call.sequence, now) }
                if let start = watched?.start, now - start > call.allowance {
                    timedOut(call.location.error(call.operation, "libhdf5 did not finish within \(format(call.allowance)) s of CPU time, so kconv stopped it (a corrupted file can make libhdf5 1.10 loop forever)"))
                }
            }
        }
        thread.name = "kconv-hdf5-watchdog"
        thread.start()
    }

    /// The CPU time `thread` has used, in seconds.
    private static func cpuSeconds(of thread: pthread_t) -> Double? {
        var clock = clockid_t()
        var time = timespec()
        guard pthread_getcpuclockid(thread, &clock) == 0, clock_gettime(clock, &time) == 0 else { return nil }
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.1f", seconds)
    }
}

/// The page a worker shares with its supervisor: whether the worker is inside a call into libhdf5, and the
/// file, object and operation of the last call, as three NUL-terminated strings.
package enum StatusPage {
    package static let size = 4096
    private static let textStart = 8

    static func clear(_ page: UnsafeMutableRawPointer) {
        page.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    }

    static func write(_ location: HDF5Location, _ operation: String, inside: Bool, to page: UnsafeMutableRawPointer) {
        page.storeBytes(of: 0, as: UInt8.self)  // no half-written record is ever marked as the current one
        var bytes: [UInt8] = []
        bytes.reserveCapacity(size - textStart)
        for part in [location.filePath, location.objectPath, operation] {
            // Each part keeps at most a third of the page, in whole characters; a NUL would end it early.
            var utf8: [UInt8] = []
            for scalar in part.unicodeScalars {
                let encoded = scalar == "\0" ? [UInt8(ascii: "?")] : Array(String(scalar).utf8)
                guard utf8.count + encoded.count < (size - textStart) / 3 else { break }
                utf8 += encoded
            }
            bytes += utf8 + [0]
        }
        bytes.withUnsafeBytes { text in
            if let base = text.baseAddress { (page + textStart).copyMemory(from: base, byteCount: text.count) }
        }
        page.storeBytes(of: inside ? 1 : 2, as: UInt8.self)
    }

    static func markOutside(_ page: UnsafeMutableRawPointer) {
        if page.load(as: UInt8.self) == 1 { page.storeBytes(of: 2, as: UInt8.self) }
    }

    /// What a dead worker's page says: the last call into libhdf5 and whether it was still in it; nil when it
    /// never called libhdf5.
    package static func read(_ page: UnsafeRawPointer) -> (location: HDF5Location, operation: String, inside: Bool)? {
        let state = page.load(as: UInt8.self)
        guard state == 1 || state == 2 else { return nil }
        let text = UnsafeRawBufferPointer(start: page + textStart, count: size - textStart)
        let parts = text.split(separator: 0, maxSplits: 3, omittingEmptySubsequences: false).prefix(3)
            .map { String(decoding: $0, as: UTF8.self) }
        guard parts.count == 3 else { return nil }
        return (HDF5Location(filePath: parts[0], objectPath: parts[1]), parts[2], state == 1)
    }
}
