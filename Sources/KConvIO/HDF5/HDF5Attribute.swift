import CHDF5
import Foundation

/// The value of an HDF5 attribute, as Keras and h5py use them.
package enum HDF5AttributeValue: Equatable, Sendable {
    /// A scalar string (variable- or fixed-length; NUL padding stripped; decoded as UTF-8).
    case string(String)
    /// A 1-D string array (variable- or fixed-length, e.g. `layer_names` from h5py 3 or 2).
    case strings([String])
    /// Integers of any width; a scalar reads as one element.
    case integers([Int64])
    /// Floats of any width; a scalar reads as one element.
    case doubles([Double])

    /// The value as a list of names: `.strings` as is, `.string` as one element, and any empty list as
    /// `[]` (h5py stores an empty Python list as a zero-length float64 array, so Keras's empty
    /// `weight_names` reads as `.doubles([])`). `nil` for non-empty numbers.
    package var stringList: [String]? {
        switch self {
        case .string(let value): [value]
        case .strings(let values): values
        case .integers(let values): values.isEmpty ? [] : nil
        case .doubles(let values): values.isEmpty ? [] : nil
        }
    }

    /// The value as one string: `.string`, or `.strings` with exactly one element.
    package var stringValue: String? {
        switch self {
        case .string(let value): value
        case .strings(let values) where values.count == 1: values[0]
        default: nil
        }
    }

    /// Element-wise equality, except that all empty lists are equal: HDF5 files cannot tell an empty
    /// name list from an empty number list (see `stringList`), so neither does `==`.
    package static func == (lhs: HDF5AttributeValue, rhs: HDF5AttributeValue) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): a == b
        case (.strings(let a), .strings(let b)): a == b
        case (.integers(let a), .integers(let b)): a == b
        case (.doubles(let a), .doubles(let b)): a == b
        default: lhs.isEmptyList && rhs.isEmptyList
        }
    }

    private var isEmptyList: Bool {
        switch self {
        case .string: false
        case .strings(let values): values.isEmpty
        case .integers(let values): values.isEmpty
        case .doubles(let values): values.isEmpty
        }
    }
}

/// Attributes larger than this many elements are refused: attribute dimensions come from the file,
/// and Keras's largest attributes (name lists) are limited to 64 KiB by HDF5 object headers.
package let maximumAttributeElementCount = 1 << 24

/// What groups and datasets share: an owned handle plus where it is, for errors and attributes.
package protocol HDF5Object: AnyObject {
    var file: HDF5File { get }
    var path: String { get }
    var handle: HDF5Handle { get }
}

extension HDF5Object {
    package var location: HDF5Location { HDF5Location(filePath: file.path, objectPath: path) }

    /// The in-file path of `name` relative to this object (`name` may itself contain "/", or be absolute).
    package func childPath(_ name: String) -> String {
        if name.hasPrefix("/") { return name }
        return path.hasSuffix("/") ? path + name : path + "/" + name
    }

    package func readAttributeNames() throws -> [String] {
        try withHDF5(at: location, "list attributes") {
            var names: [String] = []
            try withUnsafeMutablePointer(to: &names) { namesPointer in
                let status = H5Aiterate2(handle.id, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, _, clientData in
                    guard let name, let clientData else { return -1 }
                    clientData.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name))
                    return 0
                }, namesPointer)
                try location.check(status, "list attributes")
            }
            return names
        }
    }

    package func readAttribute(_ name: String) throws -> HDF5AttributeValue? {
        try withHDF5(at: location, "read attribute '\(name)'") {
            let operation = "read attribute '\(name)'"
            let location = self.location
            guard try location.check(H5Aexists(handle.id, name), operation) > 0 else { return nil }
            let attribute = try location.handle(H5Aopen(handle.id, name, defaultPropertyList), close: H5Aclose, operation)
            let type = try location.handle(H5Aget_type(attribute.id), close: H5Tclose, operation)
            let space = try location.handle(H5Aget_space(attribute.id), close: H5Sclose, operation)
            let (shape, count) = try dataspaceExtent(space, at: location, operation)
            let isScalar = H5Sget_simple_extent_type(space.id) == H5S_SCALAR
            guard count <= maximumAttributeElementCount else {
                throw location.error(operation, "\(count) elements is more than the \(maximumAttributeElementCount) kconv reads")
            }
            // Attribute data is always stored in full, so it cannot be larger than the file (the element
            // size of a fixed-length string comes from the file too).
            let elementSize = H5Tget_size(type.id)
            let stored: Int
            do { stored = try checkedProduct([count, elementSize]) } catch { throw location.error(operation, "\(error)") }
            let available = try fileSize(file.handle, at: location, operation)
            guard stored <= available else {
                throw location.error(operation, "\(count) elements of \(elementSize) bytes: expected at most \(available) bytes (the whole file), found \(stored)")
            }
            let typeClass = H5Tget_class(type.id)
            guard count > 0 else {
                switch typeClass {
                case H5T_FLOAT: return .doubles([])
                case H5T_INTEGER: return .integers([])
                default: return .strings([])
                }
            }
            switch typeClass {
            case H5T_STRING:
                let strings = try readStrings(attribute: attribute, type: type, count: count, at: location, operation)
                return isScalar ? .string(strings[0]) : .strings(strings)
            case H5T_INTEGER:
                var values = [Int64](repeating: 0, count: count)
                try location.check(H5Aread(attribute.id, kc_h5t_native_int64(), &values), operation)
                return .integers(values)
            case H5T_FLOAT:
                var values = [Double](repeating: 0, count: count)
                try location.check(H5Aread(attribute.id, kc_h5t_native_double(), &values), operation)
                return .doubles(values)
            default:
                throw location.error(operation, "unsupported attribute type \(typeClassName(typeClass)) with shape \(shape)")
            }
        }
    }

    /// Writes `value` as h5py 3 does, replacing an existing attribute of that name: strings as
    /// variable-length UTF-8 (scalar for `.string`, 1-D for `.strings`); numbers as little-endian
    /// int64/float64, a one-element list as a scalar (as for a Python number); any empty list as a
    /// zero-length 1-D float64 array (what h5py writes for Keras's empty `weight_names`).
    /// Strings are written as C strings: an embedded NUL ends them.
    package func writeAttribute(_ name: String, _ value: HDF5AttributeValue) throws {
        try withHDF5(at: location, "write attribute '\(name)'") {
            let operation = "write attribute '\(name)'"
            let location = self.location
            if try location.check(H5Aexists(handle.id, name), operation) > 0 {
                try location.check(H5Adelete(handle.id, name), operation)
            }
            switch value {
            case .string(let string):
                try writeStrings([string], scalar: true, name: name, at: location, operation)
            case .strings(let strings) where !strings.isEmpty:
                try writeStrings(strings, scalar: false, name: name, at: location, operation)
            case .integers(let values) where !values.isEmpty:
                try writeNumbers(values, fileType: kc_h5t_std_i64le(), memoryType: kc_h5t_native_int64(), name: name, at: location, operation)
            case .doubles(let values) where !values.isEmpty:
                try writeNumbers(values, fileType: kc_h5t_ieee_f64le(), memoryType: kc_h5t_native_double(), name: name, at: location, operation)
            case .strings, .integers, .doubles:
                // Zero elements: nothing to write after creating it (H5Awrite rejects an empty buffer).
                let space = try createDataspace(shape: [0], at: location, operation)
                _ = try location.handle(
                    H5Acreate2(handle.id, name, kc_h5t_ieee_f64le(), space.id, defaultPropertyList, defaultPropertyList),
                    close: H5Aclose, operation)
            }
        }
    }

    /// Writes a 1-D fixed-length, NULL-padded ASCII string array, as h5py 2.x wrote Keras name lists.
    /// Not public API: only tests use it, to cover the reader's fixed-length path.
    package func writeFixedLengthStringsAttribute(_ name: String, _ strings: [String]) throws {
        try withHDF5(at: location, "write attribute '\(name)'") {
            let operation = "write attribute '\(name)'"
            let location = self.location
            let width = max(1, strings.map(\.utf8.count).max() ?? 1)
            let type = try location.handle(H5Tcopy(kc_h5t_c_s1()), close: H5Tclose, operation)
            try location.check(H5Tset_size(type.id, width), operation)
            try location.check(H5Tset_strpad(type.id, H5T_STR_NULLPAD), operation)
            let space = try createDataspace(shape: [strings.count], at: location, operation)
            let attribute = try location.handle(
                H5Acreate2(handle.id, name, type.id, space.id, defaultPropertyList, defaultPropertyList), close: H5Aclose, operation)
            let bytes = strings.flatMap { Array($0.utf8) + [UInt8](repeating: 0, count: width - $0.utf8.count) }
            try location.check(H5Awrite(attribute.id, type.id, bytes), operation)
        }
    }

    // MARK: - Helpers (called with the HDF5 lock held)

    private func readStrings(attribute: HDF5Handle, type: HDF5Handle, count: Int, at location: HDF5Location, _ operation: String) throws -> [String] {
        if try location.check(H5Tis_variable_str(type.id), operation) > 0 {
            // Variable-length: HDF5 allocates each string; we copy and free them.
            let memoryType = try variableStringType(cset: H5Tget_cset(type.id), at: location, operation)
            var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
            defer { for pointer in pointers { if let pointer { H5free_memory(pointer) } } }
            try location.check(H5Aread(attribute.id, memoryType.id, &pointers), operation)
            return pointers.map { $0.map { String(cString: $0) } ?? "" }
        }
        // Fixed-length (h5py 2.x name lists): read with the attribute's own type, then cut each
        // element at its first NUL (NULLPAD/NULLTERM) or strip trailing blanks (SPACEPAD).
        let size = H5Tget_size(type.id)
        guard size > 0, let width = Int(exactly: size) else { throw location.error(operation, "invalid string size") }
        let (total, overflow) = count.multipliedReportingOverflow(by: width)
        guard !overflow else { throw location.error(operation, "\(count) strings of \(width) bytes overflow") }
        var bytes = [UInt8](repeating: 0, count: total)
        try location.check(H5Aread(attribute.id, type.id, &bytes), operation)
        let spacePadded = H5Tget_strpad(type.id) == H5T_STR_SPACEPAD
        return (0..<count).map { index in
            var element = bytes[(index * width)..<((index + 1) * width)]
            if let nul = element.firstIndex(of: 0) { element = element[..<nul] }
            if spacePadded { while element.last == UInt8(ascii: " ") { element = element.dropLast() } }
            return String(decoding: element, as: UTF8.self)
        }
    }

    private func writeStrings(_ strings: [String], scalar: Bool, name: String, at location: HDF5Location, _ operation: String) throws {
        let type = try variableStringType(cset: H5T_CSET_UTF8, at: location, operation)
        let space = try createDataspace(shape: scalar ? [] : [strings.count], at: location, operation)
        let attribute = try location.handle(
            H5Acreate2(handle.id, name, type.id, space.id, defaultPropertyList, defaultPropertyList), close: H5Aclose, operation)
        let cStrings = strings.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        guard !cStrings.contains(nil) else { throw location.error(operation, "out of memory") }
        let status = cStrings.withUnsafeBufferPointer { H5Awrite(attribute.id, type.id, $0.baseAddress) }
        try location.check(status, operation)
    }

    private func writeNumbers<T>(_ values: [T], fileType: hid_t, memoryType: hid_t, name: String, at location: HDF5Location, _ operation: String) throws {
        let space = try createDataspace(shape: values.count == 1 ? [] : [values.count], at: location, operation)
        let attribute = try location.handle(
            H5Acreate2(handle.id, name, fileType, space.id, defaultPropertyList, defaultPropertyList), close: H5Aclose, operation)
        let status = values.withUnsafeBufferPointer { H5Awrite(attribute.id, memoryType, $0.baseAddress) }
        try location.check(status, operation)
    }
}

/// A variable-length string type (`char *` in memory) with the given character set.
package func variableStringType(cset: H5T_cset_t, at location: HDF5Location, _ operation: String) throws -> HDF5Handle {
    let type = try location.handle(H5Tcopy(kc_h5t_c_s1()), close: H5Tclose, operation)
    try location.check(H5Tset_size(type.id, kc_h5t_variable()), operation)
    try location.check(H5Tset_cset(type.id, cset), operation)
    return type
}

/// A scalar dataspace for `[]`, otherwise a simple one of that shape.
package func createDataspace(shape: [Int], at location: HDF5Location, _ operation: String) throws -> HDF5Handle {
    if shape.isEmpty {
        return try location.handle(H5Screate(H5S_SCALAR), close: H5Sclose, operation)
    }
    let dims = shape.map { hsize_t($0) }
    return try location.handle(H5Screate_simple(Int32(dims.count), dims, nil), close: H5Sclose, operation)
}

/// A readable name for an HDF5 type class, for error messages.
package func typeClassName(_ typeClass: H5T_class_t) -> String {
    switch typeClass {
    case H5T_INTEGER: "integer"
    case H5T_FLOAT: "float"
    case H5T_TIME: "time"
    case H5T_STRING: "string"
    case H5T_BITFIELD: "bitfield"
    case H5T_OPAQUE: "opaque"
    case H5T_COMPOUND: "compound"
    case H5T_REFERENCE: "reference"
    case H5T_ENUM: "enum"
    case H5T_VLEN: "variable-length sequence"
    case H5T_ARRAY: "array"
    default: "unknown"
    }
}
