import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A regular file named relative to a folder (a TensorFlow.js shard beside its model.json), reached without
/// leaving that folder: no absolute name, no `..`, no symbolic link at any step, and nothing but a regular file at
/// the end — a FIFO, a device, a socket or a directory is refused from its `lstat`, before it is opened, so it can
/// neither block nor be read. Its size is the opened file's own (`fstat`), and each read opens the file again the
/// same way and checks that it is still the file that was checked (device and inode), so a file swapped for a link
/// in between is refused too.
package struct ContainedFile: Sendable {
    /// The file's path as the folder and the name make it, for messages.
    package let path: String
    package let size: Int
    private let folder: String
    private let components: [String]
    private let device: UInt64
    private let inode: UInt64

    /// Opens `name` inside `folder` and checks it as described above.
    package init(_ name: String, in folder: String) throws(ContainedFileError) {
        let components = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !name.hasPrefix("/"), !components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw ContainedFileError("expected a name relative to its folder, without '.', '..' or empty parts, found '\(name)'")
        }
        self.folder = folder
        self.components = components
        self.path = (folder.hasSuffix("/") ? folder : folder + "/") + name
        let descriptor = try Self.open(folder: folder, components)
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw ContainedFileError("cannot read its size", errno: errno) }
        size = Int(status.st_size)
        device = UInt64(status.st_dev)
        inode = UInt64(status.st_ino)
    }

    /// `count` bytes from `offset`, all of them or an error.
    package func read(offset: Int, count: Int) throws(ContainedFileError) -> [UInt8] {
        let descriptor = try Self.open(folder: folder, components)
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, UInt64(status.st_dev) == device, UInt64(status.st_ino) == inode, Int(status.st_size) == size else {
            throw ContainedFileError("the file changed after the model was read")
        }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let got = bytes.withUnsafeMutableBytes { buffer in
                buffer.baseAddress.map { pread(descriptor, $0 + done, count - done, off_t(offset + done)) } ?? 0
            }
            if got < 0, errno == EINTR { continue }
            guard got >= 0 else { throw ContainedFileError("read failed", errno: errno) }
            guard got > 0 else { throw ContainedFileError("expected \(count) bytes at offset \(offset), found \(done): the file changed after the model was read") }
            done += got
        }
        return bytes
    }

    /// A read-only descriptor of the file: each folder on the way opened with `O_NOFOLLOW | O_DIRECTORY` from the
    /// last, the file itself `lstat`ed first and opened only when regular.
    private static func open(folder: String, _ components: [String]) throws(ContainedFileError) -> Int32 {
        var directory = Glibc.open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw ContainedFileError("cannot open its folder \(folder)", errno: errno) }
        defer { close(directory) }
        for (index, component) in components.enumerated() {
            var status = stat()
            guard fstatat(directory, component, &status, AT_SYMLINK_NOFOLLOW) == 0 else {
                throw ContainedFileError(errno == ENOENT ? "no such file" : "cannot look it up", errno: errno == ENOENT ? nil : errno)
            }
            let kind = status.st_mode & S_IFMT
            let last = index == components.count - 1
            guard kind == (last ? S_IFREG : S_IFDIR) else {
                throw ContainedFileError("expected \(last ? "a regular file" : "a folder") inside the model's folder, found \(describe(kind))\(last ? "" : " at '\(component)'")")
            }
            let next = openat(directory, component, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (last ? 0 : O_DIRECTORY))
            guard next >= 0 else { throw ContainedFileError("cannot open it", errno: errno) }
            if last {
                var opened = stat()
                guard fstat(next, &opened) == 0, opened.st_mode & S_IFMT == S_IFREG, opened.st_dev == status.st_dev, opened.st_ino == status.st_ino else {
                    close(next)
                    throw ContainedFileError("the file changed while it was opened")
                }
                return next
            }
            close(directory)
            directory = next
        }
        throw ContainedFileError("expected a file name, found none")
    }

    private static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFLNK: "a symbolic link (kconv follows no links out of a model's folder)"
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        case S_IFDIR: "a folder"
        case S_IFREG: "a regular file"
        default: "a file of unknown type"
        }
    }
}

/// Why a file inside a folder cannot be used, e.g. `expected a regular file inside the model's folder, found a FIFO`.
package struct ContainedFileError: Error, CustomStringConvertible, Sendable {
    package let message: String

    package init(_ message: String, errno code: Int32? = nil) {
        self.message = code.map { "\(message): \(String(cString: strerror($0)))" } ?? message
    }

    package var description: String { message }
}
