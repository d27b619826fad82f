import Foundation

/// A file written with POSIX calls and nothing between: each `write` loops until every byte is out, and
/// closing reports what close(2) reports. One write(2) can write less than asked — always for more than
/// 0x7ffff000 bytes (2 GiB) on Linux, and for any size when interrupted or when the disk fills or a file-size
/// limit is reached on the way — and treating that as done leaves a silently truncated file.
package final class FileOutput {
    private var descriptor: Int32

    /// Creates (or truncates) the file at `path`.
    package init(creating path: String) throws(FileWriteError) {
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileWriteError("cannot create the file", errno: errno) }
    }

    /// Opens the existing file at `path` for writing in place (`write(_:at:)`), truncating nothing.
    package init(updating path: String) throws(FileWriteError) {
        descriptor = open(path, O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FileWriteError("cannot open the file for writing", errno: errno) }
    }

    /// Writes `bytes` where the file is, or from byte `position` on.
    package func write(_ bytes: UnsafeRawBufferPointer, at position: Int? = nil) throws(FileWriteError) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let written = position.map { pwrite(descriptor, base + offset, bytes.count - offset, off_t($0 + offset)) }
                ?? Foundation.write(descriptor, base + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw FileWriteError("write failed", errno: errno)
            }
            // write(2) writes nothing for a non-empty buffer only when it cannot write at all.
            guard written > 0 else { throw FileWriteError("write failed", errno: ENOSPC) }
            offset += written
        }
    }

    package func write(_ data: Data, at position: Int? = nil) throws(FileWriteError) {
        do {
            try data.withUnsafeBytes { try write($0, at: position) }
        } catch let error as FileWriteError {
            throw error
        } catch {
            throw FileWriteError("write failed: \(error)")
        }
    }

    package func write(_ bytes: [UInt8], at position: Int? = nil) throws(FileWriteError) {
        do {
            try bytes.withUnsafeBytes { try write($0, at: position) }
        } catch let error as FileWriteError {
            throw error
        } catch {
            throw FileWriteError("write failed: \(error)")
        }
    }

    /// Closes the file; a failure here (some file systems report a full disk only now) is an error too.
    package func close() throws(FileWriteError) {
        guard descriptor >= 0 else { return }
        let closing = descriptor
        descriptor = -1
        guard Foundation.close(closing) == 0 else { throw FileWriteError("close failed", errno: errno) }
    }

    deinit {
        if descriptor >= 0 { _ = Foundation.close(descriptor) }
    }

    /// Writes `bytes` to a new file at `path` (replacing any file there), all of them or an error.
    package static func write(_ bytes: [UInt8], to path: String) throws(FileWriteError) {
        let output = try FileOutput(creating: path)
        try output.write(bytes)
        try output.close()
    }
}

/// A failed write, e.g. `write failed: No space left on device`.
package struct FileWriteError: Error, CustomStringConvertible, Sendable {
    package let message: String

    package init(_ message: String) { self.message = message }

    package init(_ what: String, errno code: Int32) {
        message = "\(what): \(String(cString: strerror(code)))"
    }

    package var description: String { message }
}
