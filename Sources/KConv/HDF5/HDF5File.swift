import CHDF5
import Foundation

/// An open HDF5 file. Closed when this object and every group/dataset opened from it are released.
public final class HDF5File: @unchecked Sendable {  // immutable; the C calls are serialised by hdf5Lock
    /// The file's path on disk.
    public let path: String
    let handle: HDF5Handle

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
            let id = H5Fopen(path, kc_h5f_acc_rdonly(), defaultPropertyList)
            return HDF5File(path: path, handle: try location.handle(id, close: H5Fclose, "open file"))
        }
    }

    /// Creates a file for writing, replacing any existing file at `path`.
    public static func create(_ path: String) throws -> HDF5File {
        let location = HDF5Location(filePath: path, objectPath: "")
        return try withHDF5 {
            let id = H5Fcreate(path, kc_h5f_acc_trunc(), defaultPropertyList, defaultPropertyList)
            return HDF5File(path: path, handle: try location.handle(id, close: H5Fclose, "create file"))
        }
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
