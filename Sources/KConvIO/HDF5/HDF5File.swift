import CHDF5
import Foundation

/// An open HDF5 file. Closed when this object and every group/dataset opened from it are released.
package final class HDF5File: @unchecked Sendable {  // immutable; the C calls are serialised by hdf5Lock
    /// The file's path on disk; for a file held in memory (`open(image:name:)`), the name it was given, which
    /// error messages use.
    package let path: String
    package let handle: HDF5Handle
    /// The bytes of a file opened as an image (`open(image:name:)`), which HDF5 reads where they lie.
    package let image: Data?

    private init(path: String, handle: HDF5Handle, image: Data? = nil) {
        self.path = path
        self.handle = handle
        self.image = image
    }

    /// Whether `path` is a readable HDF5 file (checks the signature; never throws).
    package static func isHDF5(_ path: String) -> Bool {
        withHDF5(at: HDF5Location(filePath: path, objectPath: ""), "open file") { H5Fis_hdf5(path) > 0 }
    }

    /// Opens an existing file read-only. Throws "no such file" or "not an HDF5 file" before HDF5
    /// gets a chance to produce a less readable error.
    package static func open(_ path: String) throws -> HDF5File {
        let location = HDF5Location(filePath: path, objectPath: "")
        return try withHDF5(at: location, "open file") {
            guard FileManager.default.fileExists(atPath: path) else {
                throw location.error("open file", "no such file")
            }
            guard try location.check(H5Fis_hdf5(path), "open file") > 0 else {
                throw location.error("open file", "not an HDF5 file")
            }
            let access = try unlockedAccess(location, "open file")
            let id = withExtendedLifetime(access) { H5Fopen(path, kc_h5f_acc_rdonly(), access.id) }
            return HDF5File(path: path, handle: try location.handle(id, close: closeFile, "open file"))
        }
    }

    /// Creates a file for writing, replacing any existing file at `path`. With a `userBlock` (a power of two, at
    /// least 512), the HDF5 data starts that many bytes in and HDF5 leaves the bytes before it alone: a zip
    /// archive's earlier members and the local header of this one (`ZipWriter.write(_:inPlace:to:writeLast:)`).
    package static func create(_ path: String, userBlock: Int = 0) throws -> HDF5File {
        let location = HDF5Location(filePath: path, objectPath: "")
        return try withHDF5(at: location, "create file") {
            let access = try unlockedAccess(location, "create file")
            let creation = try location.handle(H5Pcreate(kc_h5p_file_create()), close: H5Pclose, "create file")
            try location.check(H5Pset_userblock(creation.id, hsize_t(userBlock)), "create file")
            let id = withExtendedLifetime((access, creation)) { H5Fcreate(path, kc_h5f_acc_trunc(), creation.id, access.id) }
            return HDF5File(path: path, handle: try location.handle(id, close: closeFile, "create file"))
        }
    }

    /// Opens an HDF5 file image — the bytes of a whole file, such as a `.keras` archive's `model.weights.h5` — read-only,
    /// in memory: nothing is read from or written to disk. `name` stands for the file in error messages (e.g.
    /// `model.keras/model.weights.h5`). HDF5 reads the bytes where they lie (a mapped archive's member), lent to it
    /// (`kc_lend_file_image`) rather than copied twice (VGG16: 553 MB of fresh memory each); the handles of the file
    /// and of its access list keep `image`, which is never mutated, so its bytes stay in place. An image without the
    /// HDF5 signature is refused before HDF5 sees it.
    package static func open(image: Data, name: String) throws -> HDF5File {
        let location = HDF5Location(filePath: name, objectPath: "")
        let operation = "open file"
        guard hasSignature(image) else { throw location.error(operation, "not an HDF5 file") }
        return try withHDF5(at: location, operation) {
            let access = try inMemoryAccess(location, operation, borrowing: image)
            // An empty image would mean "no image" to the core driver, which would then read `name` from disk: refused above.
            _ = try image.withUnsafeBytes { bytes in
                try location.check(kc_lend_file_image(access.id, UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count), operation)
            }
            let id = withExtendedLifetime(access) { H5Fopen(inMemoryName(name), kc_h5f_acc_rdonly(), access.id) }
            let file = HDF5File(path: name, handle: try location.handle(id, close: closeFile, borrowing: image, operation), image: image)
            // HDF5 itself refuses an image shorter than its superblock's end of address ("truncated file"); the
            // core driver must also hold exactly the bytes given, no more and no fewer.
            let size = try fileSize(file.handle, at: location, operation)
            guard size == image.count else {
                throw location.error(operation, "expected a file image of \(size) bytes (its end of file), found \(image.count)")
            }
            return file
        }
    }

    /// File access through HDF5's core driver, without a backing store: the file lives in memory only.
    private static func inMemoryAccess(_ location: HDF5Location, _ operation: String, borrowing image: Data? = nil) throws -> HDF5Handle {
        let access = try location.handle(H5Pcreate(kc_h5p_file_access()), close: H5Pclose, borrowing: image, operation)
        try location.check(H5Pset_fapl_core(access.id, inMemoryIncrement, false), operation)
        return access
    }

    /// How much an in-memory file grows by at a time.
    private static let inMemoryIncrement = 1 << 20

    /// The name HDF5 itself gets for an in-memory file: unique, and never an existing path. HDF5 treats two open
    /// core-driver files with the same name as one file (a second open would return the first image), and opening an
    /// image under a name that exists on disk fails ("file already exists").
    private static func inMemoryName(_ name: String) -> String {
        "\(name)#kconv-in-memory-\(UUID().uuidString)"
    }

    /// Whether `image` carries HDF5's signature where a file may put its superblock: at 0, 512, 1024, 2048, ...
    private static func hasSignature(_ image: Data) -> Bool {
        let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
        var offset = 0
        while offset <= image.count - signature.count {
            let start = image.startIndex + offset
            if image[start..<start + signature.count].elementsEqual(signature) { return true }
            offset = offset == 0 ? 512 : offset * 2
        }
        return false
    }

    /// Writes out everything HDF5 still holds in memory for this file, so that a write error (a full disk)
    /// is thrown here instead of being lost when the file is closed. Writers call it after their last write;
    /// after a failure the file is left open until the process ends (see `closeFile`), never half-closed.
    package func flush() throws {
        let location = HDF5Location(filePath: path, objectPath: "")
        try withHDF5(at: location, "write file") {
            _ = try location.check(H5Fflush(handle.id, H5F_SCOPE_LOCAL), "write file")
        }
    }

    /// File access without HDF5's advisory `flock`. kconv reads its inputs read-only and writes
    /// only fresh staging files, so the lock guards nothing here, while taking it fails on file
    /// systems without locks and whenever a spawned child process still holds an inherited
    /// descriptor of a file this process wrote and closed (HDF5 opens files without O_CLOEXEC).
    /// Creating and opening must agree: HDF5 refuses to reopen a file with other locking flags.
    private static func unlockedAccess(_ location: HDF5Location, _ operation: String) throws -> HDF5Handle {
        let access = try location.handle(H5Pcreate(kc_h5p_file_access()), close: H5Pclose, operation)
        try location.check(H5Pset_file_locking(access.id, false, true), operation)
        return access
    }

    /// The root group, `/`.
    package var root: HDF5Group {
        get throws {
            let location = HDF5Location(filePath: path, objectPath: "/")
            return try withHDF5(at: location, "open group") {
                let id = H5Gopen2(handle.id, "/", defaultPropertyList)
                return HDF5Group(file: self, path: "/", handle: try location.handle(id, close: H5Gclose, "open group"))
            }
        }
    }
}
