import CHDF5
import Foundation

/// The element type of a dataset, as stored in the file.
package enum HDF5ElementType: Equatable, Sendable {
    case float(bytes: Int)
    case signedInteger(bytes: Int)
    case unsignedInteger(bytes: Int)
    case string
    /// Any other HDF5 type class, by name ("compound", "enum", "opaque", ...).
    case other(String)
}

extension HDF5ElementType: CustomStringConvertible {
    /// NumPy-like names: `float32`, `int64`, `uint8`, `string`, `compound`.
    package var description: String {
        switch self {
        case .float(let bytes): "float\(bytes * 8)"
        case .signedInteger(let bytes): "int\(bytes * 8)"
        case .unsignedInteger(let bytes): "uint\(bytes * 8)"
        case .string: "string"
        case .other(let name): name
        }
    }
}

/// An open HDF5 dataset.
package final class HDF5Dataset: HDF5Object, @unchecked Sendable {  // immutable; C calls serialised by hdf5Lock
    /// The file this dataset belongs to (kept open while the dataset is).
    package let file: HDF5File
    /// The dataset's path inside the file, e.g. `/model_weights/dense/dense/kernel:0`.
    package let path: String
    package let handle: HDF5Handle

    package init(file: HDF5File, path: String, handle: HDF5Handle) {
        self.file = file
        self.path = path
        self.handle = handle
    }

    /// The dimensions; `[]` for a scalar (and for an empty, null-dataspace dataset).
    package var shape: [Int] {
        get throws { try extent("read shape").shape }
    }

    /// The stored element type.
    package var elementType: HDF5ElementType {
        get throws {
            try withHDF5(at: location, "read type") {
                let type = try location.handle(H5Dget_type(handle.id), close: H5Tclose, "read type")
                return try elementType(of: type, "read type")
            }
        }
    }

    /// Names of this dataset's attributes, in name order.
    package func attributeNames() throws -> [String] { try readAttributeNames() }

    /// The attribute `name`, or `nil` if the dataset has none of that name.
    package func attribute(_ name: String) throws -> HDF5AttributeValue? { try readAttribute(name) }

    /// Sets (or replaces) the attribute `name`, e.g. Keras 3's `dtype = "bfloat16"` marker.
    package func setAttribute(_ name: String, _ value: HDF5AttributeValue) throws {
        try writeAttribute(name, value)
    }

    /// All elements in row-major order, converted to `Float` by HDF5 (from float16/32/64 or any
    /// integer type). Throws, before allocating anything, if the dataset holds more than `limit`
    /// elements, if its stored or converted size is more than `budget`, if a contiguous or compact
    /// dataset declares more bytes than the whole file holds (sizes come from the file and are not
    /// trusted), or if it is not of a numeric type.
    package func readFloats(limit: Int, budget: MemoryBudget = .current) throws -> [Float] {
        try withHDF5(at: location, "read floats") {
            let operation = "read floats"
            let (shape, count) = try extent(operation)
            guard count <= limit else {
                throw location.error(operation, "dataset has \(count) elements, more than the limit of \(limit)")
            }
            let type = try location.handle(H5Dget_type(handle.id), close: H5Tclose, operation)
            let found = try elementType(of: type, operation)
            switch found {
            case .float, .signedInteger, .unsignedInteger: break
            case let found:
                throw location.error(operation, "dataset has element type \(found); expected floats or integers")
            }
            guard count > 0 else { return [] }
            let what = "shape \(shape) of \(found)"
            let (stored, converted): (Int, Int)
            do {
                (stored, converted) = (try checkedProduct([count, H5Tget_size(type.id)]), try checkedProduct([count, MemoryLayout<Float>.size]))
                try budget.check(max(stored, converted), for: what)
            } catch {
                throw location.error(operation, "\(error)")
            }
            let creation = try location.handle(H5Dget_create_plist(handle.id), close: H5Pclose, operation)
            let layout = H5Pget_layout(creation.id)
            if layout == H5D_CONTIGUOUS || layout == H5D_COMPACT {
                let available = try fileSize(file.handle, at: location, operation)
                guard stored <= available else {
                    throw location.error(operation, "\(what): expected at most \(available) bytes (the whole file) in a \(layout == H5D_COMPACT ? "compact" : "contiguous") dataset, found \(stored)")
                }
            }
            HDF5Activity.allowBytes(max(stored, converted))
            var status: herr_t = -1
            let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                status = H5Dread(handle.id, kc_h5t_native_float(), kc_h5s_all(), kc_h5s_all(), defaultPropertyList, buffer.baseAddress)
                initialized = status < 0 ? 0 : count
            }
            try location.check(status, operation)
            return values
        }
    }

    /// The values' bytes where they lie in the file, mapped read-only for as long as the returned `Data` lives, rather
    /// than read into fresh memory (VGG16's weights: 553 MB, which cost more to fault in than to copy), and populated
    /// at once, as a writer reads every page (a fault per page on the way took half of writing them), when the file
    /// is on disk and the dataset is stored contiguously as little-endian float32 at an aligned offset, as Keras writes
    /// weights; a writer copies them straight into its own file. For a file image (`HDF5File.open(image:name:)`, a
    /// `.keras` archive's member), the image's own bytes. nil for any other dataset. The span is checked against the
    /// file's size first (a file truncated while mapped would end the process: the CLI's worker process reports that
    /// as an error).
    package func mappedFloats() throws -> Data? {
        let operation = "map floats"
        let span = try withHDF5(at: location, operation) { () throws -> (descriptor: Int32?, offset: Int, count: Int)? in
            let access = try location.handle(H5Fget_access_plist(file.handle.id), close: H5Pclose, operation)
            let creation = try location.handle(H5Dget_create_plist(handle.id), close: H5Pclose, operation)
            let type = try location.handle(H5Dget_type(handle.id), close: H5Tclose, operation)
            let address = H5Dget_offset(handle.id)
            let driver = H5Pget_driver(access.id)
            guard driver == kc_h5fd_sec2() || file.image != nil, H5Pget_layout(creation.id) == H5D_CONTIGUOUS,
                  H5Tequal(type.id, kc_h5t_ieee_f32le()) > 0, address != kc_haddr_undef(), let offset = Int(exactly: address) else { return nil }
            let (_, count) = try extent(operation)
            guard count > 0 else { return nil }
            var available = file.image?.count ?? 0, descriptor: Int32?
            if file.image == nil {
                var driverHandle: UnsafeMutableRawPointer?
                _ = try location.check(H5Fget_vfd_handle(file.handle.id, defaultPropertyList, &driverHandle), operation)
                // The POSIX driver's handle is the address of its file descriptor.
                guard let fileDescriptor = driverHandle?.load(as: Int32.self) else { return nil }
                var status = stat()
                guard fstat(fileDescriptor, &status) == 0 else { return nil }
                (available, descriptor) = (Int(status.st_size), fileDescriptor)
            }
            guard offset <= available, count <= (available - offset) / MemoryLayout<Float>.size else {
                throw location.error(operation, "\(count) float32 values at byte \(offset) run past the end of the file (\(available) bytes)")
            }
            return (descriptor, offset, count)
        }
        guard let span else { return nil }
        let length = span.count * MemoryLayout<Float>.size
        guard let descriptor = span.descriptor else {
            guard let image = file.image else { return nil }
            let start = image.startIndex + span.offset
            let aligned = image.withUnsafeBytes { Int(bitPattern: $0.baseAddress) &+ span.offset } % MemoryLayout<Float>.alignment == 0
            return aligned ? image[start ..< start + length] : nil
        }
        guard span.offset % MemoryLayout<Float>.alignment == 0 else { return nil }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let mapStart = span.offset / page * page, mapLength = span.offset - mapStart + length
        guard let region = mmap(nil, mapLength, PROT_READ, MAP_PRIVATE | MAP_POPULATE, descriptor, off_t(mapStart)), region != MAP_FAILED else { return nil }
        return Data(bytesNoCopy: region + (span.offset - mapStart), count: length, deallocator: .custom { _, _ in munmap(region, mapLength) })
    }

    private func extent(_ operation: String) throws -> (shape: [Int], count: Int) {
        try withHDF5(at: location, operation) {
            let space = try location.handle(H5Dget_space(handle.id), close: H5Sclose, operation)
            return try dataspaceExtent(space, at: location, operation)
        }
    }

    private func elementType(of type: HDF5Handle, _ operation: String) throws -> HDF5ElementType {
        let typeClass = H5Tget_class(type.id)
        let bytes = H5Tget_size(type.id)
        switch typeClass {
        case H5T_FLOAT:
            return .float(bytes: Int(bytes))
        case H5T_INTEGER:
            return H5Tget_sign(type.id) == H5T_SGN_NONE ? .unsignedInteger(bytes: Int(bytes)) : .signedInteger(bytes: Int(bytes))
        case H5T_STRING:
            return .string
        case H5T_NO_CLASS:
            throw location.error(operation, "unreadable datatype")
        default:
            return .other(typeClassName(typeClass))
        }
    }
}
