import CHDF5
import Foundation

/// An open HDF5 file. Closed when this object and every group/dataset opened from it are released.
public final class HDF5File: @unchecked Sendable {  // immutable; the C calls are serialised by hdf5Lock
    /// The file's path on disk.
    public let path: String
    package let handle: HDF5Handle

    private init(path: String, handle: HDF5Handle) {
        self.path = path
        self.handle = handle
    }

    /// Whether `path` is a readable HDF5 file (checks the signature; never throws).
    public static func isHDF5(_ path: String) -> Bool {
        withHDF5 { H5Fis_hdf5(path) > 0 }
    }

    /// Opens an existing file read-only. Throws "no such file" or "not an HDF5 file" before HDF5
    /// gets a chance to produce a less readable error.
    public static func open(_ path: String) throws -> HDF5File {
        let location = HDF5Location(filePath: path, objectPath: "")
        return try withHDF5 {
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

    /// Creates a file for writing, replacing any existing file at `path`.
    public static func create(_ path: String) throws -> HDF5File {
        let location = HDF5Location(filePath: path, objectPath: "")
        return try withHDF5 {
            let access = try unlockedAccess(location, "create file")
            let id = withExtendedLifetime(access) { H5Fcreate(path, kc_h5f_acc_trunc(), defaultPropertyList, access.id) }
            return HDF5File(path: path, handle: try location.handle(id, close: closeFile, "create file"))
        }
    }

    /// Writes out everything HDF5 still holds in memory for this file, so that a write error (a full disk)
    /// is thrown here instead of being lost when the file is closed. Writers call it after their last write;
    /// after a failure the file is left open until the process ends (see `closeFile`), never half-closed.
    public func flush() throws {
        let location = HDF5Location(filePath: path, objectPath: "")
        try withHDF5 {
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
    public var root: HDF5Group {
        get throws {
            let location = HDF5Location(filePath: path, objectPath: "/")
            return try withHDF5 {
                let id = H5Gopen2(handle.id, "/", defaultPropertyList)
                return HDF5Group(file: self, path: "/", handle: try location.handle(id, close: H5Gclose, "open group"))
            }
        }
    }
}
