import Foundation
import KConvGraph

/// An n-dimensional array read from or written to NumPy files, values held as Float32 and, for integer and
/// bool arrays read from a file, also exactly; a unicode string array holds its text in `strings`.
package struct NumPyArray: Equatable, Sendable {
    /// The element types kconv reads and writes; the raw value is the `descr` without its byte-order mark
    /// (and, for `unicode`, without its width in characters: `<U7`).
    package enum DType: String, Sendable, CaseIterable {
        case float32 = "f4", float64 = "f8", int8 = "i1", int16 = "i2", int32 = "i4", int64 = "i8"
        case uint8 = "u1", uint16 = "u2", bool = "b1"
        /// NumPy's fixed-width unicode strings: UTF-32 code points, padded with zeros to the array's width.
        case unicode = "U"

        /// Bytes per element (for `unicode`, per character of the array's width).
        package var itemSize: Int {
            switch self {
            case .int8, .uint8, .bool: 1
            case .int16, .uint16: 2
            case .float32, .int32, .unicode: 4
            case .float64, .int64: 8
            }
        }

        /// The NumPy dtype kconv writes a value of `dtype` as: its own where NumPy files hold it, else float32
        /// (the engine computes floating-point values in float32).
        package init(_ dtype: KConvGraph.DType) {
            switch dtype {
            case .int8: self = .int8
            case .int16: self = .int16
            case .int32: self = .int32
            case .int64, .uint32, .uint64: self = .int64
            case .uint8: self = .uint8
            case .uint16: self = .uint16
            case .bool: self = .bool
            case .string: self = .unicode
            case .float16, .bfloat16, .float32, .float64: self = .float32
            }
        }
    }

    package var shape: [Int]
    /// The dtype it had in the file (or will have when written).
    package var dtype: DType
    /// C order, converted to Float32 (integers are exact up to 2^24).
    package var values: [Float]
    /// The values of an integer or bool array read from a file, exact at any size (bool as 0 and 1).
    package var integers: [Int64]?
    /// The text of a `unicode` array (whose `values`, having no number, are NaN).
    package var strings: [String]?

    package init(shape: [Int], dtype: DType = .float32, values: [Float], integers: [Int64]? = nil) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count && (integers?.count ?? values.count) == values.count,
                     "NumPyArray: \(values.count) values do not fill shape \(shape)")
        self.shape = shape
        self.dtype = dtype
        self.values = values
        self.integers = integers
    }

    /// A `unicode` array of `strings`, which must fill `shape`.
    package init(shape: [Int], strings: [String]) {
        self.init(shape: shape, dtype: .unicode, values: Array(repeating: .nan, count: strings.count))
        self.strings = strings
    }

    /// The `descr` numpy writes: `|` (no byte order) for single bytes, little-endian otherwise, with a
    /// unicode array's width.
    package var descr: String {
        dtype == .unicode ? "<U\(stringWidth)" : (dtype.itemSize == 1 ? "|" : "<") + dtype.rawValue
    }

    /// A unicode array's characters per element: its longest string's, at least one (as numpy makes it).
    package var stringWidth: Int { max(strings?.map { $0.unicodeScalars.count }.max() ?? 1, 1) }

    /// Arrays are equal when shape, dtype and values are (NaN equal to NaN only in string arrays); exact
    /// integers are compared where both hold them.
    package static func == (a: NumPyArray, b: NumPyArray) -> Bool {
        a.shape == b.shape && a.dtype == b.dtype && (a.dtype == .unicode || a.values == b.values) && a.strings == b.strings
            && (a.integers == nil || b.integers == nil || a.integers == b.integers)
    }
}

/// A NumPy file kconv cannot read or write, e.g. `ref.npz: in_0: expected 48 data bytes ..., found 40`.
package struct NumPyError: Error, CustomStringConvertible, Equatable {
    package var file: String
    /// The `.npz` member, without its `.npy` suffix.
    package var key: String?
    package var message: String

    package init(file: String, key: String? = nil, _ message: String) {
        self.file = file
        self.key = key
        self.message = message
    }

    /// For code below the public entry points, which add the file through `locating`.
    package init(key: String? = nil, _ message: String) { self.init(file: "", key: key, message) }

    package var description: String { [file, key, message].compactMap { $0 }.joined(separator: ": ") }
}

/// Reading and writing NumPy's `.npy` and `.npz` files.
///
/// Every length in a file is untrusted: sizes are checked against the bytes actually present (with
/// overflow-checked arithmetic) before anything is allocated, so a malformed file gets a `NumPyError`,
/// never a crash, a hang or a huge allocation.
package enum NumPy {
    /// Reads a `.npy` file. The file is mapped, not read: the header's claims are checked against the bytes
    /// present, and the values against `budget`, before anything is allocated.
    package static func readNPY(_ path: String, budget: MemoryBudget = .current) throws -> NumPyArray {
        try locating(file: path) {
            try mapFile(path).withUnsafeBytes { try NPYFormat.decode($0, budget: budget) }
        }
    }

    /// `source` names the bytes in errors.
    package static func parseNPY(_ bytes: [UInt8], source: String, budget: MemoryBudget = .current) throws -> NumPyArray {
        try locating(file: source) { try bytes.withUnsafeBytes { try NPYFormat.decode($0, budget: budget) } }
    }

    /// Format version 1.0 (2.0 when the header outgrows 64 KiB), C order, byte for byte what `np.save` writes.
    package static func encodeNPY(_ array: NumPyArray) -> [UInt8] { NPYFormat.encode(array) }

    /// Writes `array` at `path`; without `replace`, fails if a file is there when the finished file is put in place.
    package static func writeNPY(_ array: NumPyArray, to path: String, replace: Bool = true) throws {
        try locating(file: path) {
            try writeAtomically(path, replace: replace) { url in try FileOutput.write(encodeNPY(array), to: url.path) }
        }
    }

    /// Members in archive order, names without the ".npy" suffix ("in_0", "layer/dense"). Each member's
    /// declared size is checked against `budget` and against what its compressed bytes can hold before it
    /// is extracted (see `ZipReader`).
    package static func readNPZ(_ path: String, budget: MemoryBudget = .current) throws -> [(name: String, array: NumPyArray)] {
        try locating(file: path) {
            let zip = ZipReader(try mapFile(path), budget: budget)
            var seen = Set<String>()
            return try zip.entries().map { entry in
                guard entry.name.hasSuffix(".npy") else {
                    throw NumPyError(key: entry.name, "not a .npy member; an .npz holds only arrays")
                }
                let name = String(entry.name.dropLast(4))
                guard seen.insert(name).inserted else { throw NumPyError(key: name, "appears twice in the archive") }
                return (name, try locating(key: name) { try zip.contents(of: entry).withUnsafeBytes { try NPYFormat.decode($0, budget: budget) } })
            }
        }
    }

    /// A zip of stored (uncompressed) `<name>.npy` members, as `np.savez` writes. Without `replace`, fails if a file
    /// is there when the finished file is put in place.
    package static func writeNPZ(_ arrays: [(name: String, array: NumPyArray)], to path: String, replace: Bool = true) throws {
        try locating(file: path) {
            var seen = Set<String>()
            for (name, _) in arrays {
                guard !name.isEmpty else { throw NumPyError("an array name is empty") }
                guard seen.insert(name).inserted else { throw NumPyError(key: name, "name given twice") }
            }
            try writeAtomically(path, replace: replace) { url in try ZipWriter.write(arrays.map { ($0.name + ".npy", Data(encodeNPY($0.array))) }, to: url) }
        }
    }

    // MARK: - Helpers

    /// Runs `body`, naming the file (and the `.npz` member) in any error it throws; inner names win.
    package static func locating<T>(file: String = "", key: String? = nil, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch var error as NumPyError {
            if error.file.isEmpty { error.file = file }
            error.key = error.key ?? key
            throw error
        } catch {
            throw NumPyError(file: file, key: key, "\(error)")
        }
    }

    /// The file's bytes, mapped: only the pages read are loaded.
    private static func mapFile(_ path: String) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
            throw NumPyError("cannot read the file (missing, unreadable or a directory)")
        }
        return data
    }

    /// Writes to a temporary file beside `path` and moves it into place only once complete, so a failed or
    /// interrupted write never leaves a half-written file under `path` (`place`: a rename, atomic within a directory,
    /// or without `replace` a link, which fails if a file appeared there meanwhile).
    private static func writeAtomically(_ path: String, replace: Bool, _ write: (URL) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent()
        guard FileManager.default.isWritableFile(atPath: directory.path) else {
            throw NumPyError("cannot write: the directory \(directory.path) is missing or not writable")
        }
        let temporary = directory.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            try write(temporary)
            do {
                try place(temporary.path, at: url.path, replace: replace)
            } catch {
                throw NumPyError(error.message)
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if let error = error as? NumPyError { throw error }
            if error is FileWriteError || error is ZipError { throw NumPyError(String(describing: error)) }
            throw NumPyError("cannot write: \(error.localizedDescription)")
        }
    }
}

/// The `.npy` format: magic, version, a header holding a Python dict literal, then the raw data.
/// See https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
package enum NPYFormat {
    package static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    /// Magic and data are aligned to this many bytes, as numpy does (it lets files be memory-mapped).
    package static let alignment = 64

    /// Decodes a whole `.npy` file. Its header is only a claim: the data size it declares is computed with
    /// overflow checks and compared with the bytes present, and the values with `budget`, before the values
    /// are allocated.
    package static func decode(_ bytes: UnsafeRawBufferPointer, budget: MemoryBudget = .current) throws -> NumPyArray {
        guard bytes.starts(with: magic) else { throw NumPyError("not a .npy file (bad magic)") }
        guard bytes.count >= magic.count + 2 else { throw NumPyError("truncated .npy file: no version") }
        let (major, minor) = (bytes[6], bytes[7])
        // 1.0 has a 2-byte header length; 2.0 a 4-byte one; 3.0 is 2.0 with a UTF-8 (not Latin-1) header,
        // which parsing bytes handles alike since every value kconv reads is ASCII.
        let lengthSize: Int
        switch major {
        case 1: lengthSize = 2
        case 2, 3: lengthSize = 4
        default: throw NumPyError("unsupported .npy format version \(major).\(minor)")
        }
        let headerStart = 8 + lengthSize
        guard bytes.count >= headerStart else { throw NumPyError("truncated .npy file: no header length") }
        let headerLength = bytes[8..<headerStart].reversed().reduce(0) { $0 << 8 | Int($1) }
        guard headerLength <= bytes.count - headerStart else {
            throw NumPyError("truncated .npy file: the header claims \(headerLength) bytes, only \(bytes.count - headerStart) follow")
        }
        let dataStart = headerStart + headerLength
        let header = try NPYHeader(Array(bytes[headerStart..<dataStart]))

        let data = UnsafeRawBufferPointer(rebasing: bytes[dataStart...])
        let what = "shape \(pythonTuple(header.shape)) of \(header.dtype)"
        let count: Int, byteCount: Int
        do {
            count = try checkedProduct(header.shape)
            byteCount = try checkedProduct(header.shape + [header.dtype.itemSize, header.width])
        } catch {
            throw NumPyError("\(what): \(error)")
        }
        guard byteCount == data.count else {
            throw NumPyError("expected \(byteCount) data bytes for \(what), found \(data.count)")
        }
        do {
            try budget.check(count * MemoryLayout<Float>.size, for: "\(what) as float32")
        } catch {
            throw NumPyError(error.description)
        }
        if header.dtype == .unicode {
            return NumPyArray(shape: header.shape, strings: try decodeStrings(data, count: count, width: header.width, bigEndian: header.bigEndian))
        }
        let values = decodeValues(data, count: count, dtype: header.dtype, bigEndian: header.bigEndian)
        let integers = header.dtype == .float32 || header.dtype == .float64
            ? nil : decodeIntegers(data, count: count, dtype: header.dtype, bigEndian: header.bigEndian)
        return NumPyArray(shape: header.shape, dtype: header.dtype, values: values, integers: integers)
    }

    package static func encode(_ array: NumPyArray) -> [UInt8] {
        var text = "{'descr': '\(array.descr)', 'fortran_order': False, 'shape': \(pythonTuple(array.shape)), }"
        // np.save leaves room to rewrite the first dimension in place with up to 21 digits; matching it
        // makes kconv's files byte-identical to numpy's.
        if let first = array.shape.first { text += String(repeating: " ", count: max(0, 21 - String(first).count)) }
        let header = Array(text.utf8)
        // Spaces then a newline end the header, aligning the data; numpy pads a full 64 bytes when already
        // aligned, and moves to version 2.0 (a 4-byte length) only when 1.0's 2-byte length cannot hold it.
        func padding(lengthSize: Int) -> Int { alignment - (magic.count + 2 + lengthSize + header.count + 1) % alignment }
        let lengthSize = header.count + 1 + padding(lengthSize: 2) <= 0xFFFF ? 2 : 4
        let headerLength = header.count + padding(lengthSize: lengthSize) + 1

        var out = magic + [lengthSize == 2 ? 1 : 2, 0]
        out += (0..<lengthSize).map { UInt8(truncatingIfNeeded: headerLength >> (8 * $0)) }
        out += header + Array(repeating: 0x20, count: padding(lengthSize: lengthSize)) + [0x0A]
        if let strings = array.strings {
            out += encodeStrings(strings, width: array.stringWidth)
        } else {
            out += array.integers.map { encodeIntegers($0, dtype: array.dtype) } ?? encodeValues(array.values, dtype: array.dtype)
        }
        return out
    }

    /// Each element's `width` UTF-32 code units, the zeros that pad it dropped (as numpy drops them).
    private static func decodeStrings(_ raw: UnsafeRawBufferPointer, count: Int, width: Int, bigEndian: Bool) throws -> [String] {
        try (0..<count).map { index in
            var scalars = String.UnicodeScalarView()
            for position in 0..<width {
                let bits = raw.loadUnaligned(fromByteOffset: (index * width + position) * 4, as: UInt32.self)
                let code = bigEndian ? UInt32(bigEndian: bits) : UInt32(littleEndian: bits)
                guard let scalar = Unicode.Scalar(code) else {
                    throw NumPyError("element \(index): \(code) is not a Unicode code point")
                }
                scalars.append(scalar)
            }
            while scalars.last == "\0" { scalars.removeLast() }
            return String(scalars)
        }
    }

    /// Each string as `width` little-endian UTF-32 code units, zero-padded.
    private static func encodeStrings(_ strings: [String], width: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(strings.count * width * 4)
        for string in strings {
            let codes = string.unicodeScalars.map(\.value) + Array(repeating: 0, count: width - string.unicodeScalars.count)
            for code in codes { withUnsafeBytes(of: code.littleEndian) { out += $0 } }
        }
        return out
    }

    /// Python's repr of a shape tuple: `()`, `(5,)`, `(3, 4)`.
    package static func pythonTuple(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    /// An integer or bool array's values, exactly (uint64 is not a dtype kconv reads).
    private static func decodeIntegers(_ raw: UnsafeRawBufferPointer, count: Int, dtype: NumPyArray.DType, bigEndian: Bool) -> [Int64] {
        func load<T: FixedWidthInteger>(_: T.Type) -> [Int64] {
            (0..<count).map { index in
                let bits = raw.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self)
                return Int64(bigEndian ? T(bigEndian: bits) : T(littleEndian: bits))
            }
        }
        switch dtype {
        case .int8: return load(Int8.self)
        case .int16: return load(Int16.self)
        case .int32: return load(Int32.self)
        case .int64: return load(Int64.self)
        case .uint8: return load(UInt8.self)
        case .uint16: return load(UInt16.self)
        case .bool: return load(UInt8.self).map { $0 == 0 ? 0 : 1 }
        case .float32, .float64, .unicode: return []
        }
    }

    private static func decodeValues(_ raw: UnsafeRawBufferPointer, count: Int, dtype: NumPyArray.DType, bigEndian: Bool) -> [Float] {
        do {
            func load<T: FixedWidthInteger>(_ convert: (T) -> Float) -> [Float] {
                (0..<count).map { index in
                    let bits = raw.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self)
                    return convert(bigEndian ? T(bigEndian: bits) : T(littleEndian: bits))
                }
            }
            switch dtype {
            case .float32: return load { (bits: UInt32) in Float(bitPattern: bits) }
            case .float64: return load { (bits: UInt64) in Float(Double(bitPattern: bits)) }
            case .int8: return load { (value: Int8) in Float(value) }
            case .int16: return load { (value: Int16) in Float(value) }
            case .int32: return load { (value: Int32) in Float(value) }
            case .int64: return load { (value: Int64) in Float(value) }
            case .uint8: return load { (value: UInt8) in Float(value) }
            case .uint16: return load { (value: UInt16) in Float(value) }
            case .bool: return load { (value: UInt8) in value == 0 ? 0 : 1 }
            case .unicode: return Array(repeating: .nan, count: count)
            }
        }
    }

    /// Exact integers in an integer or bool dtype (saturated at its bounds); floats as `encodeValues` writes them.
    private static func encodeIntegers(_ values: [Int64], dtype: NumPyArray.DType) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * dtype.itemSize)
        func store<T: FixedWidthInteger>(_: T.Type) {
            for value in values { withUnsafeBytes(of: T(clamping: value).littleEndian) { out += $0 } }
        }
        switch dtype {
        case .int8: store(Int8.self)
        case .int16: store(Int16.self)
        case .int32: store(Int32.self)
        case .int64: store(Int64.self)
        case .uint8: store(UInt8.self)
        case .uint16: store(UInt16.self)
        case .bool: out = values.map { $0 != 0 ? 1 : 0 }
        case .float32, .float64, .unicode: return encodeValues(values.map(Float.init), dtype: dtype)
        }
        return out
    }

    private static func encodeValues(_ values: [Float], dtype: NumPyArray.DType) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * dtype.itemSize)
        func store<T: FixedWidthInteger>(_ convert: (Float) -> T) {
            for value in values { withUnsafeBytes(of: convert(value).littleEndian) { out += $0 } }
        }
        switch dtype {
        case .float32: store { $0.bitPattern }
        case .float64: store { Double($0).bitPattern }
        case .int8: store { Int8(saturating: $0) }
        case .int16: store { Int16(saturating: $0) }
        case .int32: store { Int32(saturating: $0) }
        case .int64: store { Int64(saturating: $0) }
        case .uint8: store { UInt8(saturating: $0) }
        case .uint16: store { UInt16(saturating: $0) }
        case .bool: store { UInt8($0 != 0 ? 1 : 0) }
        case .unicode: return []  // strings are written by `encodeStrings`
        }
        return out
    }
}

private extension FixedWidthInteger {
    /// Float to an integer dtype: rounded to nearest, saturated at the type's bounds, NaN to 0, so writing
    /// a value that does not fit never traps.
    package init(saturating value: Float) {
        if value.isNaN {
            self = 0
        } else if value <= Float(Self.min) {
            self = .min
        } else if value >= Float(Self.max) {
            self = .max
        } else {
            self.init(value.rounded())
        }
    }
}

/// The header dict of a `.npy` file, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
package struct NPYHeader {
    package var dtype: NumPyArray.DType
    package var bigEndian: Bool
    package var shape: [Int]
    /// Characters per element of a unicode array; 1 for every other dtype.
    package var width = 1

    package init(_ text: [UInt8]) throws {
        var parser = PythonLiteralParser(text)
        let dict = try parser.parseDict()
        let descr: String
        switch dict["descr"] {
        case .string(let value)?: descr = value
        case .sequence?: throw NumPyError("structured dtypes (records with named fields) are not supported")
        default: throw NumPyError("the header has no 'descr' string")
        }
        guard case .bool(let fortranOrder)? = dict["fortran_order"] else {
            throw NumPyError("the header has no 'fortran_order' True or False")
        }
        guard !fortranOrder else {
            throw NumPyError("Fortran-order arrays are not supported; save with np.ascontiguousarray")
        }
        guard case .sequence(let dims)? = dict["shape"] else { throw NumPyError("the header has no 'shape' tuple") }
        shape = try dims.map { dim in
            guard case .int(let size) = dim, size >= 0 else { throw NumPyError("shape dimensions must be integers >= 0") }
            return size
        }
        (dtype, bigEndian, width) = try Self.parseDescr(descr)
    }

    /// `<f4`, `>i8`, `|u1`: a byte-order mark, then the kind and item size; `<U7`: unicode, 7 characters.
    private static func parseDescr(_ descr: String) throws -> (NumPyArray.DType, bigEndian: Bool, width: Int) {
        let order = descr.prefix(1)
        if descr.dropFirst().first == "U", "<>".contains(order) {
            guard let width = Int(descr.dropFirst(2)), width >= 0 else { throw NumPyError("unsupported dtype '\(descr)' (expected a unicode width, as in '<U7')") }
            return (.unicode, order == ">", width)
        }
        guard let dtype = NumPyArray.DType(rawValue: String(descr.dropFirst())), "<>|".contains(order),
              order != "|" || dtype.itemSize == 1 else {
            if descr.dropFirst() == "O" {
                throw NumPyError("object arrays ('\(descr)') hold pickled Python objects and are not supported (save strings as a unicode array: np.array(values, dtype=str))")
            }
            if descr.dropFirst().first == "S" {
                throw NumPyError("byte-string arrays ('\(descr)') are not supported: their encoding is unknown (save text as a unicode array: np.array(values, dtype=str))")
            }
            let supported = NumPyArray.DType.allCases.map { "\($0)" }.joined(separator: ", ")
            throw NumPyError("unsupported dtype '\(descr)' (supported: \(supported))")
        }
        return (dtype, order == ">", 1)
    }
}

/// The subset of Python literal syntax numpy writes in headers: dicts, strings, True/False, ints (with
/// Python 2's `L` suffix) and tuples or lists of those.
package struct PythonLiteralParser {
    package enum Value: Equatable {
        case string(String), bool(Bool), int(Int), sequence([Value])
    }

    /// Nesting bound: real headers nest 3 deep at most, and recursion on untrusted input must not
    /// overflow the stack.
    package static let maxDepth = 32

    private let text: [UInt8]
    private var position = 0

    package init(_ text: [UInt8]) { self.text = text }

    package mutating func parseDict() throws -> [String: Value] {
        try expect("{")
        var dict: [String: Value] = [:]
        while try peek() != UInt8(ascii: "}") {
            guard case .string(let key) = try parseValue(depth: 1) else { throw error("expected a string key") }
            try expect(":")
            dict[key] = try parseValue(depth: 1)
            guard try peek() == UInt8(ascii: ",") else { break }
            position += 1
        }
        try expect("}")
        return dict
    }

    private mutating func parseValue(depth: Int) throws -> Value {
        guard depth <= Self.maxDepth else { throw error("nested too deeply") }
        switch try peek() {
        case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(parseString())
        case UInt8(ascii: "("), UInt8(ascii: "["): return .sequence(try parseSequence(depth: depth))
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"): return .int(try parseInt())
        default:
            for (word, value) in [("True", true), ("False", false)] where text[position...].starts(with: word.utf8) {
                position += word.utf8.count
                return .bool(value)
            }
            throw error("unexpected character")
        }
    }

    /// A quoted string; a backslash keeps the byte after it (numpy's descrs never need escapes).
    private mutating func parseString() -> String {
        let quote = text[position]
        var bytes: [UInt8] = []
        position += 1
        while position < text.count, text[position] != quote {
            if text[position] == UInt8(ascii: "\\") { position += 1 }
            if position < text.count { bytes.append(text[position]) }
            position += 1
        }
        position += 1  // the closing quote; past the end if missing, which `peek` then reports
        return String(decoding: bytes, as: UTF8.self)
    }

    private mutating func parseSequence(depth: Int) throws -> [Value] {
        let close = text[position] == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "]")
        position += 1
        var items: [Value] = []
        while try peek() != close {
            items.append(try parseValue(depth: depth + 1))
            guard try peek() == UInt8(ascii: ",") else { break }
            position += 1
        }
        guard try peek() == close else { throw error("unclosed tuple or list") }
        position += 1
        return items
    }

    private mutating func parseInt() throws -> Int {
        let negative = text[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        var value = 0
        var digits = 0
        while position < text.count, case UInt8(ascii: "0")...UInt8(ascii: "9") = text[position] {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(text[position] - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw error("integer too large") }
            value = sum
            digits += 1
            position += 1
        }
        guard digits > 0 else { throw error("expected digits") }
        if position < text.count, text[position] == UInt8(ascii: "L") { position += 1 }  // Python 2's long
        return negative ? -value : value
    }

    /// The next byte that is not whitespace; the header ending there is an error.
    private mutating func peek() throws -> UInt8 {
        while position < text.count, [0x20, 0x09, 0x0A, 0x0D].contains(text[position]) { position += 1 }
        guard position < text.count else { throw error("unexpected end") }
        return text[position]
    }

    private mutating func expect(_ character: Unicode.Scalar) throws {
        guard try peek() == UInt8(ascii: character) else { throw error("expected '\(character)'") }
        position += 1
    }

    private func error(_ what: String) -> NumPyError {
        NumPyError("malformed header at byte \(position): \(what) in \(String(decoding: text.prefix(200), as: UTF8.self).debugDescription)")
    }
}
