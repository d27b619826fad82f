import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// `.npy` and `.npz` reading and writing: round trips, numpy's exact header layout, hand-written headers
/// of every format version, and malformed files, which must fail with a clear error — never a crash, a
/// hang or a huge allocation.
@Suite struct NumPyTests {
    // MARK: Round trips

    static let shapes: [[Int]] = [[], [0], [3], [2, 3, 4]]

    /// Values every dtype holds exactly.
    static func sample(_ dtype: NumPyArray.DType, shape: [Int]) -> NumPyArray {
        if dtype == .unicode {
            let words = ["cat", "", "héllo ✓", "a b", "𝄞"]
            return NumPyArray(shape: shape, strings: (0..<shape.reduce(1, *)).map { words[$0 % words.count] })
        }
        let values = (0..<shape.reduce(1, *)).map { index -> Float in
            switch dtype {
            case .bool: Float(index % 2)
            case .uint8, .uint16: Float(index % 7)
            case .float32, .float64: Float(index) * 0.25 - 1
            case .int8, .int16, .int32, .int64: Float(index % 7) - 3
            case .unicode: .nan
            }
        }
        return NumPyArray(shape: shape, dtype: dtype, values: values)
    }

    @Test(arguments: NumPyArray.DType.allCases, shapes)
    func roundTrip(dtype: NumPyArray.DType, shape: [Int]) throws {
        let array = Self.sample(dtype, shape: shape)
        let bytes = NumPy.encodeNPY(array)
        #expect(try NumPy.parseNPY(bytes, source: "x.npy") == array)
        let width = dtype == .unicode ? array.stringWidth : 1
        #expect((bytes.count - array.values.count * dtype.itemSize * width) % 64 == 0, "data starts 64-byte aligned")
    }

    @Test func filesRoundTripAndLeaveNothingBehind() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let npy = directory.appendingPathComponent("a.npy").path
        let npz = directory.appendingPathComponent("ref.npz").path
        let arrays = NumPyArray.DType.allCases.enumerated().map { index, dtype in
            (name: index == 0 ? "layer/dense" : "in_\(index)", array: Self.sample(dtype, shape: Self.shapes[index % 4]))
        }
        try NumPy.writeNPY(arrays[1].array, to: npy)
        #expect(try NumPy.readNPY(npy) == arrays[1].array)
        try NumPy.writeNPZ(arrays, to: npz)
        try NumPy.writeNPZ(arrays, to: npz)  // replaces the file
        let read = try NumPy.readNPZ(npz)
        #expect(read.map(\.name) == arrays.map(\.name))
        #expect(read.map(\.array) == arrays.map(\.array))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["a.npy", "ref.npz"])
    }

    @Test func failedWriteKeepsTheOldFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let npz = directory.appendingPathComponent("ref.npz").path
        let array = Self.sample(.float32, shape: [3])
        try NumPy.writeNPZ([("in_0", array)], to: npz)
        let before = try Data(contentsOf: URL(fileURLWithPath: npz))
        #expect(throws: NumPyError(file: npz, key: "in_0", "name given twice")) {
            try NumPy.writeNPZ([("in_0", array), ("in_0", array)], to: npz)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: npz)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["ref.npz"])
        let missing = directory.appendingPathComponent("no/such/x.npz").path
        #expect(throws: NumPyError(file: missing, "cannot write: the directory \(directory.path)/no/such is missing or not writable")) {
            try NumPy.writeNPZ([("in_0", array)], to: missing)
        }
    }

    /// Byte for byte what numpy 2.4 `np.save` wrote for `np.zeros((3, 4), np.float32)` and `np.float32(0)`.
    @Test func headerIsNumpys() {
        let matrix = NumPy.encodeNPY(NumPyArray(shape: [3, 4], values: Array(repeating: 0, count: 12)))
        let text = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }"
        #expect(Array(matrix.prefix(128)) == npyMagic + [1, 0, 118, 0] + Array(text.utf8) + Array(repeating: 0x20, count: 117 - text.utf8.count) + [0x0A])
        #expect(matrix.count == 128 + 48)
        let scalar = NumPy.encodeNPY(NumPyArray(shape: [], values: [0]))
        #expect(String(decoding: scalar[10..<128], as: UTF8.self).hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (), }  "))
        #expect(scalar.count == 128 + 4)
        #expect(String(decoding: NumPy.encodeNPY(Self.sample(.uint8, shape: [5]))[10..<70], as: UTF8.self).hasPrefix("{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }"))
    }

    /// Byte for byte what numpy 2.4 `np.save` wrote for `np.array([['a', 'bé✓'], ['', 'dog']])`: UTF-32
    /// code points, each string padded with zeros to the longest's 3 characters.
    @Test func unicodeArraysAreNumpys() throws {
        let array = NumPyArray(shape: [2, 2], strings: ["a", "bé✓", "", "dog"])
        let bytes = NumPy.encodeNPY(array)
        let text = "{'descr': '<U3', 'fortran_order': False, 'shape': (2, 2), }"
        #expect(Array(bytes.prefix(128)) == npyMagic + [1, 0, 118, 0] + Array(text.utf8) + Array(repeating: 0x20, count: 117 - text.utf8.count) + [0x0A])
        #expect(Array(bytes.dropFirst(128)) == [97, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 98, 0, 0, 0, 233, 0, 0, 0, 19, 39, 0, 0,
                                                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 111, 0, 0, 0, 103, 0, 0, 0])
        #expect(try NumPy.parseNPY(bytes, source: "x.npy") == array)
        let bigEndian = npy("{'descr': '>U2', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0x68, 0, 0, 0x27, 0x13])
        #expect(try NumPy.parseNPY(bigEndian, source: "be").strings == ["h✓"])
    }

    @Test func versionTwoWhenTheHeaderOutgrowsSixtyFourKiB() throws {
        let array = NumPyArray(shape: Array(repeating: 1, count: 30_000), dtype: .int16, values: [-7])
        let bytes = NumPy.encodeNPY(array)
        #expect(bytes[6] == 2)
        #expect(try NumPy.parseNPY(bytes, source: "x.npy") == array)
    }

    @Test func writingSaturatesIntegers() throws {
        let array = NumPyArray(shape: [4], dtype: .int8, values: [300, -300, .nan, 2.6])
        #expect(try NumPy.parseNPY(NumPy.encodeNPY(array), source: "x.npy").values == [127, -128, 0, 3])
    }

    // MARK: Hand-written headers

    @Test func parsesHeadersOfEveryVersion() throws {
        // Keys in another order, double quotes, no trailing comma.
        let v1 = npy(#"{"descr": "<f8", "shape": (2,), "fortran_order": False}"#, data: le(1.5.bitPattern, 8) + le((-2.0).bitPattern, 8))
        #expect(try NumPy.parseNPY(v1, source: "v1") == NumPyArray(shape: [2], dtype: .float64, values: [1.5, -2]))
        // Python 2's long suffix, version 2.0's 4-byte length.
        let v2 = npy(version: 2, "{'descr': '<i8', 'fortran_order': False, 'shape': (2L, 1L), }\n", data: le(UInt64(bitPattern: -5), 8) + le(7, 8))
        #expect(try NumPy.parseNPY(v2, source: "v2") == NumPyArray(shape: [2, 1], dtype: .int64, values: [-5, 7]))
        // Version 3.0: a UTF-8 header.
        let v3 = npy(version: 3, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), 'note': 'héllo ✓'}", data: [1, 0, 2])
        #expect(try NumPy.parseNPY(v3, source: "v3") == NumPyArray(shape: [3], dtype: .bool, values: [1, 0, 1]))
        let scalar = npy("{'descr': '<u2', 'fortran_order': False, 'shape': ()}", data: [0x34, 0x12])
        #expect(try NumPy.parseNPY(scalar, source: "scalar") == NumPyArray(shape: [], dtype: .uint16, values: [0x1234]))
    }

    @Test func bigEndianIsByteSwapped() throws {
        let float = npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", data: le(Float(3.25).bitPattern.byteSwapped, 4))
        #expect(try NumPy.parseNPY(float, source: "be").values == [3.25])
        let int = npy("{'descr': '>i2', 'fortran_order': False, 'shape': (2,), }", data: [0xFF, 0xFE, 0x01, 0x00])
        #expect(try NumPy.parseNPY(int, source: "be") == NumPyArray(shape: [2], dtype: .int16, values: [-2, 256]))
    }

    // MARK: Malformed .npy

    struct BadNPY: Sendable, CustomStringConvertible {
        let description: String
        let bytes: [UInt8]
        let message: String
    }

    static func header(_ descr: String, _ shape: String, fortran: String = "False") -> String {
        "{'descr': '\(descr)', 'fortran_order': \(fortran), 'shape': \(shape), }"
    }

    static let badNPY: [BadNPY] = [
        BadNPY(description: "fortran order", bytes: npy(header("<f4", "(2, 2)", fortran: "True"), data: Array(repeating: 0, count: 16)),
               message: "Fortran-order arrays are not supported; save with np.ascontiguousarray"),
        BadNPY(description: "truncated data", bytes: npy(header("<f4", "(3, 4)"), data: Array(repeating: 0, count: 40)),
               message: "expected 48 data bytes for shape (3, 4) of float32, found 40"),
        BadNPY(description: "absurd shape", bytes: npy(header("<f4", "(1099511627776, 1099511627776)"), data: []),
               message: "shape (1099511627776, 1099511627776) of float32: expected sizes whose product fits in 64 bits, found 1099511627776 × 1099511627776"),
        BadNPY(description: "huge shape, no data", bytes: npy(header("<f8", "(1048576, 1048576)"), data: [1, 2]),
               message: "expected 8796093022208 data bytes for shape (1048576, 1048576) of float64, found 2"),
        BadNPY(description: "bad magic", bytes: Array("PK\u{3}\u{4} not numpy".utf8), message: "not a .npy file (bad magic)"),
        BadNPY(description: "header beyond the file", bytes: npyMagic + [1, 0, 0xFF, 0x7F] + Array("{'descr'".utf8),
               message: "truncated .npy file: the header claims 32767 bytes, only 8 follow"),
        BadNPY(description: "no header length", bytes: npyMagic + [2, 0, 1], message: "truncated .npy file: no header length"),
        BadNPY(description: "version 4", bytes: npy(version: 4, header("<f4", "()"), data: []), message: "unsupported .npy format version 4.0"),
        BadNPY(description: "object dtype", bytes: npy(header("|O", "(1,)"), data: Array(repeating: 0, count: 8)),
               message: "object arrays ('|O') hold pickled Python objects and are not supported (save strings as a unicode array: np.array(values, dtype=str))"),
        BadNPY(description: "byte strings", bytes: npy(header("|S3", "(1,)"), data: [0x61, 0x62, 0x63]),
               message: "byte-string arrays ('|S3') are not supported: their encoding is unknown"),
        BadNPY(description: "unicode without a width", bytes: npy(header("<U", "(1,)"), data: []),
               message: "unsupported dtype '<U' (expected a unicode width, as in '<U7')"),
        BadNPY(description: "not a code point", bytes: npy(header("<U1", "(1,)"), data: [0, 0xD8, 0, 0]),
               message: "element 0: 55296 is not a Unicode code point"),
        BadNPY(description: "truncated strings", bytes: npy(header("<U2", "(2,)"), data: Array(repeating: 0x61, count: 12)),
               message: "expected 16 data bytes for shape (2,) of unicode, found 12"),
        BadNPY(description: "complex dtype", bytes: npy(header("<c8", "(1,)"), data: []),
               message: "unsupported dtype '<c8' (supported: float32, float64, int8, int16, int32, int64, uint8, uint16, bool, unicode)"),
        BadNPY(description: "no byte order on a wide type", bytes: npy(header("|f4", "(1,)"), data: [0, 0, 0, 0]),
               message: "unsupported dtype '|f4'"),
        BadNPY(description: "structured dtype", bytes: npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", data: []),
               message: "structured dtypes (records with named fields) are not supported"),
        BadNPY(description: "negative dimension", bytes: npy(header("<f4", "(-1,)"), data: []), message: "shape dimensions must be integers >= 0"),
        BadNPY(description: "missing shape", bytes: npy("{'descr': '<f4', 'fortran_order': False}", data: []), message: "the header has no 'shape' tuple"),
        BadNPY(description: "nested deeply", bytes: npy("{'shape': " + String(repeating: "(", count: 100_000), data: []), message: "nested too deeply"),
        BadNPY(description: "unclosed header", bytes: npy("{'descr': '<f4', 'shape': (1,", data: []), message: "unexpected end"),
        BadNPY(description: "not a dict", bytes: npy("descr=<f4", data: []), message: "malformed header at byte 0: expected '{'"),
        BadNPY(description: "integer overflow", bytes: npy(header("<f4", "(99999999999999999999,)"), data: []), message: "integer too large"),
    ]

    @Test(arguments: badNPY)
    func malformedNPY(_ bad: BadNPY) {
        let error = #expect(throws: NumPyError.self) { try NumPy.parseNPY(bad.bytes, source: "bad.npy") }
        #expect(error?.file == "bad.npy")
        #expect(error?.description.hasPrefix("bad.npy: ") == true)
        #expect(error?.message.contains(bad.message) == true, "\(error?.message ?? "no error")")
    }

    // MARK: .npz

    /// `np.savez_compressed(f, a=np.arange(6, dtype='<i4').reshape(2, 3), b=np.float64(1.5))` from numpy 2.4:
    /// deflated members behind ZIP64 local headers.
    static let numpyCompressed = "UEsDBC0AAAAIAAAAIQBQtE2E//////////8FABQAYS5ucHkBABAAmAAAAAAAAABVAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaKuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6CsaaOgq1CmQDLgYgYARiJiBmBmIWIGYFYgBQSwMELQAAAAgAAAAhACl2iev//////////wUAFABiLm5weQEAEACIAAAAAAAAAEcAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNmoa6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkamjoKtQoUAS4GMPhhDwBQSwECLQMtAAAACAAAACEAULRNhFUAAACYAAAABQAAAAAAAAAAAAAAgAEAAAAAYS5ucHlQSwECLQMtAAAACAAAACEAKXaJ60cAAACIAAAABQAAAAAAAAAAAAAAgAGMAAAAYi5ucHlQSwUGAAAAAAIAAgBmAAAACgEAAAAA"

    @Test func readsNumpysCompressedArchives() throws {
        let members = try readNPZ(Array(try #require(Data(base64Encoded: Self.numpyCompressed))))
        #expect(members.map(\.name) == ["a", "b"])
        #expect(members.map(\.array) == [NumPyArray(shape: [2, 3], dtype: .int32, values: [0, 1, 2, 3, 4, 5]),
                                         NumPyArray(shape: [], dtype: .float64, values: [1.5])])
    }

    @Test func readsHandBuiltArchives() throws {
        let array = Self.sample(.float32, shape: [2, 3])
        for (deflate, zip64) in [(false, false), (true, false), (false, true), (true, true)] {
            let members = try readNPZ(zip([("out_0.npy", NumPy.encodeNPY(array))], deflate: deflate, zip64: zip64))
            #expect(members.map(\.name) == ["out_0"])
            #expect(members.first?.array == array)
        }
    }

    struct BadNPZ: Sendable, CustomStringConvertible {
        let description: String
        let bytes: [UInt8]
        let message: String
    }

    static let member = NumPy.encodeNPY(NumPyArray(shape: [3], values: [1, 2, 3]))

    static let badNPZ: [BadNPZ] = {
        let good = zip([("in_0.npy", member)])
        var flipped = good
        flipped[30 + 8 + member.count - 1] ^= 0xFF  // the last data byte of the only member
        return [
            BadNPZ(description: "truncated", bytes: Array(good.prefix(good.count / 2)),
                   message: "bad.npz: not a zip archive, or truncated: no end-of-central-directory record"),
            BadNPZ(description: "empty", bytes: [], message: "bad.npz: not a zip archive, or truncated"),
            BadNPZ(description: "absurd size", bytes: zip([("in_0.npy", member)], zip64: true, declaredSize: 1 << 40),
                   message: "bad.npz: in_0: corrupt zip archive: a stored member of \(member.count) bytes declares 1099511627776"),
            BadNPZ(description: "more than deflate can expand", bytes: zip([("in_0.npy", member)], deflate: true, declaredSize: 1 << 20),
                   message: "bad.npz: in_0: expected at most \((member.count + 5) * 1032) bytes uncompressed (deflate expands its \(member.count + 5) bytes at most 1032 times), found a declared 1048576"),
            BadNPZ(description: "size not matching", bytes: zip([("in_0.npy", member)], declaredSize: 1 << 31),
                   message: "bad.npz: in_0: corrupt zip archive: a stored member of \(member.count) bytes declares 2147483648"),
            BadNPZ(description: "inflates past its size", bytes: zip([("in_0.npy", member)], deflate: true, declaredSize: 10),
                   message: "bad.npz: in_0: corrupt zip member: inflates to more than the 10 bytes it declares"),
            BadNPZ(description: "inflates short of its size", bytes: zip([("in_0.npy", member)], deflate: true, declaredSize: UInt64(member.count + 1)),
                   message: "bad.npz: in_0: corrupt zip member: inflates to \(member.count) bytes, declares \(member.count + 1)"),
            BadNPZ(description: "deflate stream never ends", bytes: zip([("in_0.npy", member)], deflate: true, unfinishedStream: true),
                   message: "bad.npz: in_0: corrupt zip member: bad deflate data"),
            // Exactly one inflate chunk of input, and the stream wants more: the reader must stop, not spin.
            BadNPZ(description: "deflate stream cut short",
                   bytes: zip([("in_0.npy", Array(repeating: 0, count: ZipReader.inflateChunkSize - 5))], deflate: true, unfinishedStream: true),
                   message: "bad.npz: in_0: corrupt zip member: the deflate stream ends early"),
            BadNPZ(description: "corrupt data", bytes: flipped, message: "bad.npz: in_0: corrupt zip member: CRC-32 mismatch"),
            BadNPZ(description: "not an array", bytes: zip([("README.txt", Array("hi".utf8))]),
                   message: "bad.npz: README.txt: not a .npy member"),
            BadNPZ(description: "duplicate", bytes: zip([("in_0.npy", member), ("in_0.npy", member)]),
                   message: "bad.npz: expected each member name once, found 'in_0.npy' 2 times"),
            BadNPZ(description: "bad member", bytes: zip([("in_0.npy", Array(member.dropLast()))]),
                   message: "bad.npz: in_0: expected 12 data bytes for shape (3,) of float32, found 11"),
        ]
    }()

    @Test(arguments: badNPZ)
    func malformedNPZ(_ bad: BadNPZ) {
        let error = #expect(throws: NumPyError.self) { try readNPZ(bad.bytes) }
        #expect(error?.description.hasPrefix(bad.message) == true, "\(error?.description ?? "no error")")
    }

    // MARK: Fixtures

    /// Every reference file Keras's fixtures hold: inputs `in_0...` and outputs `out_0...`.
    @Test func readsEveryFixtureReference() throws {
        let cases = try FileManager.default.contentsOfDirectory(atPath: Fixtures.cases.path).sorted()
        let files = cases.flatMap { name in
            ["keras2", "keras3"].map { Fixtures.cases.appendingPathComponent("\(name)/\($0).ref.npz").path }
        }.filter { FileManager.default.fileExists(atPath: $0) }
        #expect(files.count >= cases.count)
        for file in files {
            let arrays = try NumPy.readNPZ(file)
            let names = arrays.map(\.name)
            #expect(names.contains("in_0") && names.contains("out_0"), "\(file): \(names)")
            let inputs = names.filter { $0.hasPrefix("in_") }, outputs = names.filter { $0.hasPrefix("out_") }
            #expect(inputs.count + outputs.count == names.count, "\(file): \(names)")
            #expect(Set(inputs) == Set(inputs.indices.map { "in_\($0)" }) && Set(outputs) == Set(outputs.indices.map { "out_\($0)" }))
            for (name, array) in arrays {
                #expect(!array.shape.isEmpty && array.values.count == array.shape.reduce(1, *), "\(file): \(name)")
            }
        }
    }
}

// MARK: - Helpers

private let npyMagic: [UInt8] = [0x93] + Array("NUMPY".utf8)

/// A `.npy` file around a hand-written header (no alignment padding: readers must not need it).
private func npy(version: UInt8 = 1, _ header: String, data: [UInt8]) -> [UInt8] {
    let text = Array(header.utf8)
    return npyMagic + [version, 0] + le(UInt64(text.count), version == 1 ? 2 : 4) + text + data
}

private func le(_ value: some FixedWidthInteger, _ size: Int) -> [UInt8] {
    (0..<size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

private func readNPZ(_ bytes: [UInt8]) throws -> [(name: String, array: NumPyArray)] {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("bad.npz").path
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    do {
        return try NumPy.readNPZ(path)
    } catch var error as NumPyError {
        error.file = "bad.npz"
        throw error
    }
}

private func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-numpy-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A zip archive built byte by byte, to reach what ZIPFoundation and numpy never write.
/// - deflate: members as one stored deflate block (method 8 without needing a compressor);
///   `unfinishedStream` leaves out the final-block bit, so the stream never ends.
/// - zip64: sizes in the ZIP64 extra field and a ZIP64 end-of-central-directory record.
/// - declaredSize: the uncompressed size the central directory claims, if not the true one.
private func zip(_ members: [(name: String, data: [UInt8])], deflate: Bool = false, unfinishedStream: Bool = false,
                 zip64: Bool = false, declaredSize: UInt64? = nil) -> [UInt8] {
    var body = ByteWriter(), directory = ByteWriter()
    for (name, data) in members {
        var stored = data
        if deflate {
            var block = ByteWriter()
            block.put(UInt8(unfinishedStream ? 0 : 1), UInt16(data.count), ~UInt16(data.count))
            stored = block.bytes + data
        }
        let name = Array(name.utf8), size = declaredSize ?? UInt64(data.count), offset = UInt32(body.bytes.count)
        let common: [any FixedWidthInteger] = [UInt16(0), UInt16(deflate ? 8 : 0), UInt32(0), crc32(data)]  // flags, method, time, CRC
        body.put(UInt32(0x0403_4B50), UInt16(20))
        body.put(common + [UInt32(stored.count), UInt32(truncatingIfNeeded: size), UInt16(name.count), UInt16(0)])
        body.bytes += name + stored

        directory.put(UInt32(0x0201_4B50), UInt16(45), UInt16(45))
        directory.put(common)
        directory.put(zip64 ? UInt32.max : UInt32(stored.count), zip64 ? UInt32.max : UInt32(truncatingIfNeeded: size))
        directory.put(UInt16(name.count), UInt16(zip64 ? 20 : 0), UInt16(0), UInt16(0), UInt16(0), UInt32(0), offset)
        directory.bytes += name
        if zip64 { directory.put(UInt16(1), UInt16(16), size, UInt64(stored.count)) }
    }
    let count = UInt64(members.count), directorySize = UInt64(directory.bytes.count), directoryOffset = UInt64(body.bytes.count)
    var end = ByteWriter()
    if zip64 {
        end.put(UInt32(0x0606_4B50), UInt64(44), UInt16(45), UInt16(45), UInt32(0), UInt32(0))
        end.put(count, count, directorySize, directoryOffset)
        end.put(UInt32(0x0706_4B50), UInt32(0), directoryOffset + directorySize, UInt32(1))
    }
    end.put(UInt32(0x0605_4B50), UInt16(0), UInt16(0), UInt16(zip64 ? 0xFFFF : count), UInt16(zip64 ? 0xFFFF : count))
    end.put(UInt32(directorySize), zip64 ? UInt32.max : UInt32(directoryOffset), UInt16(0))
    return body.bytes + directory.bytes + end.bytes
}

/// Little-endian integers appended one after another.
private struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func put(_ values: any FixedWidthInteger...) { put(values) }
    mutating func put(_ values: [any FixedWidthInteger]) {
        for value in values { bytes += le(value, value.bitWidth / 8) }
    }
}

private func crc32(_ bytes: [UInt8]) -> UInt32 {
    var crc = ~UInt32(0)
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}
