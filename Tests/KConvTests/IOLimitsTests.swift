import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// The size checks shared by every reader: checked arithmetic on sizes from files, and the memory budget
/// (passed explicitly here, so the process-wide one other tests use is never changed).
@Suite struct IOLimitsTests {
    @Test func checkedArithmetic() throws {
        #expect(try checkedProduct([]) == 1)
        #expect(try checkedProduct([3, 4, 5]) == 60)
        #expect(try checkedProduct([3, 0, 5]) == 0)
        #expect(throws: SizeOverflowError(operands: [1 << 32, 1 << 32], operation: "×")) { try checkedProduct([1 << 32, 1 << 32]) }
        // A zero does not excuse an overflow among the other factors (numpy refuses such shapes too).
        #expect(throws: SizeOverflowError.self) { try checkedProduct([0, 1 << 62, 1 << 62]) }
        #expect(throws: SizeOverflowError.self) { try checkedProduct([2, -1]) }
        #expect(try checkedSum([1, 2, 3]) == 6)
        #expect(throws: SizeOverflowError.self) { try checkedSum([Int.max, 1]) }
        #expect(throws: SizeOverflowError.self) { try checkedSum([-1]) }
        #expect(SizeOverflowError(operands: [4, -2], operation: "×").description == "expected sizes of 0 or more, found -2")
        #expect(SizeOverflowError(operands: [Int.max, 1], operation: "+").description
                == "expected sizes whose sum fits in 64 bits, found \(Int.max) + 1")
    }

    @Test func budget() throws {
        #expect(MemoryBudget.standard.bytes > 0 && MemoryBudget.standard.bytes <= 16 << 30)
        #expect(MemoryBudget.current == MemoryBudget.standard)
        try MemoryBudget(bytes: 100).check(100, for: "x")
        let error = #expect(throws: MemoryBudgetError.self) { try MemoryBudget(bytes: 100).check(101, for: "shape (101,) of uint8") }
        #expect(error?.description == "shape (101,) of uint8: expected at most 100 bytes (kconv's memory budget, MemoryBudget.current), found 101")
    }

    @Test func npyValuesOverTheBudgetAreRefusedBeforeDecoding() throws {
        let bytes = NumPy.encodeNPY(NumPyArray(shape: [4, 8], dtype: .uint8, values: Array(repeating: 1, count: 32)))
        #expect(try NumPy.parseNPY(bytes, source: "a.npy", budget: MemoryBudget(bytes: 128)).values.count == 32)
        // 32 uint8 values become 128 bytes of Float32: that is what the budget is checked against.
        let error = #expect(throws: NumPyError.self) { try NumPy.parseNPY(bytes, source: "a.npy", budget: MemoryBudget(bytes: 127)) }
        #expect(error?.description == "a.npy: shape (4, 8) of uint8 as float32: expected at most 127 bytes (kconv's memory budget, MemoryBudget.current), found 128")
    }

    @Test func zipMembersOverTheBudgetAreRefusedBeforeExtracting() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("a.npz").path
        let array = NumPyArray(shape: [100], values: Array(repeating: 0.5, count: 100))
        try NumPy.writeNPZ([("a", array)], to: path)
        let memberSize = NumPy.encodeNPY(array).count
        #expect(try NumPy.readNPZ(path, budget: MemoryBudget(bytes: memberSize))[0].array == array)
        let error = #expect(throws: NumPyError.self) { try NumPy.readNPZ(path, budget: MemoryBudget(bytes: memberSize - 1)) }
        #expect(error?.description == "\(path): a: uncompressed size: expected at most \(memberSize - 1) bytes (kconv's memory budget, MemoryBudget.current), found \(memberSize)")
    }

    @Test func hdf5DatasetsOverTheBudgetAreRefusedBeforeReading() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("a.h5").path
        try HDF5File.create(path).root.createDataset("w", shape: [2, 8], floats: Array(repeating: 1, count: 16))
        let dataset = try HDF5File.open(path).root.dataset("w")
        #expect(try dataset.readFloats(limit: 16, budget: MemoryBudget(bytes: 64)).count == 16)
        let error = #expect(throws: HDF5Error.self) { try dataset.readFloats(limit: 16, budget: MemoryBudget(bytes: 63)) }
        #expect(error?.message == "shape [2, 8] of float32: expected at most 63 bytes (kconv's memory budget, MemoryBudget.current), found 64")
        #expect(error?.objectPath == "/w")
    }

    /// A contiguous dataset never written holds no bytes in the file but reads as its fill value: one declaring
    /// more than the whole file is refused before its buffer is allocated.
    @Test func contiguousDatasetLargerThanTheFileIsRefused() throws {
        let path = HostileFileTests.folder.appendingPathComponent("huge_contiguous.h5").path
        let dataset = try HDF5File.open(path).root.dataset("data")
        let error = #expect(throws: HDF5Error.self) { try dataset.readFloats(limit: .max) }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(error?.message == "shape [268435456] of float32: expected at most \(size) bytes (the whole file) in a contiguous dataset, found 1073741824")
    }

    @Test func zipWriterRoundTripsWithAndWithoutZip64() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let members: [(name: String, bytes: Data)] = [("a.npy", Data([1, 2, 3])), ("b/é.json", Data("{}".utf8)), ("empty", Data())]
        for zip64 in [false, true] {
            let url = directory.appendingPathComponent("z\(zip64).zip")
            try ZipWriter.write(members, to: url, forceZip64: zip64)
            let reader = ZipReader(try Data(contentsOf: url))
            let entries = try reader.entries()
            #expect(entries.map(\.name) == members.map(\.name))
            #expect(try entries.map { try reader.contents(of: $0) } == members.map(\.bytes))
        }
    }

    /// A first member written in place by HDF5, after a user block its padded local header fills (larger for a
    /// long name), reads back as the HDF5 file, followed by the other members, with and without ZIP64 records.
    @Test func zipWriterWritesAnHDF5MemberInPlace() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let members: [(name: String, bytes: Data)] = [("metadata.json", Data("{}".utf8)), ("empty", Data())]
        for (name, zip64) in [("model.weights.h5", false), ("model.weights.h5", true), (String(repeating: "n", count: 600), false)] {
            let url = directory.appendingPathComponent("z\(zip64)\(name.count).keras")
            var userBlock = 0
            try ZipWriter.write(inPlace: name, writtenBy: { path, offset in
                userBlock = offset
                try HDF5File.create(path, userBlock: offset).root.createDataset("kernel", shape: [3], floats: [1, 2, 3])
            }, then: members, to: url, forceZip64: zip64)
            #expect(userBlock == (name.count > 400 ? 1024 : 512))
            let reader = ZipReader(try Data(contentsOf: url))
            let entries = try reader.entries()
            #expect(entries.map(\.name) == [name] + members.map(\.name))
            #expect(try entries.dropFirst().map { try reader.contents(of: $0) } == members.map(\.bytes))
            let weights = try reader.contents(of: entries[0])
            #expect(weights == (try Data(contentsOf: url)).dropFirst(userBlock).prefix(weights.count))
            #expect(try HDF5File.open(image: weights, name: name).root.dataset("kernel").readFloats(limit: 3) == [1, 2, 3])
        }
    }

    /// The CRC-32 (zlib's) is the zip standard's: the check value of "123456789", and the CRC Keras recorded for
    /// each member of a .keras archive it wrote; those members written again by ZipWriter read back byte for byte.
    @Test func zipCRCsAreKerassAndMembersRoundTrip() throws {
        #expect(Data("123456789".utf8).zipCRC32 == 0xCBF4_3926)
        #expect(Data().zipCRC32 == 0)
        // Large enough to be computed in parts and joined: the same as a byte-at-a-time reference.
        let large = Data((0 ..< (8 << 20) + 7).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })
        let table: [UInt32] = (0 ..< 256).map { (byte: Int) -> UInt32 in
            var crc = UInt32(byte)
            for _ in 0 ..< 8 { crc = crc & 1 == 1 ? 0xEDB8_8320 ^ crc >> 1 : crc >> 1 }
            return crc
        }
        var reference = ~UInt32(0)
        for byte in large { reference = table[Int((reference ^ UInt32(byte)) & 0xFF)] ^ reference >> 8 }
        #expect(large.zipCRC32 == ~reference)
        let archive = ZipReader(try Data(contentsOf: Fixtures.cases.appendingPathComponent("conv2d/keras3.keras")))
        let entries = try archive.entries()
        let members = try entries.map { (name: $0.name, bytes: try archive.contents(of: $0)) }
        #expect(zip(entries, members).allSatisfy { $0.crc32 == $1.bytes.zipCRC32 } && members.count == 3)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("again.keras")
        try ZipWriter.write(members, to: url)
        let again = ZipReader(try Data(contentsOf: url))
        let rewritten = try again.entries()
        #expect(rewritten.map(\.crc32) == entries.map(\.crc32))
        #expect(try rewritten.map { try again.contents(of: $0) } == members.map(\.bytes))
    }

    @Test func zipNamesThatCollideAreRefused() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [([String], String)] = [
            (["a", "b", "a", "a"], "expected each member name once, found 'a' 3 times (Keras reads the last copy, other tools the first)"),
            (["config.json", "CONFIG.JSON"], "expected member names that differ by more than case or a leading './', found 'config.json' and 'CONFIG.JSON'"),
            (["./././x", "x"], "expected member names that differ by more than case or a leading './', found './././x' and 'x'"),
        ]
        for (names, message) in cases {
            let url = directory.appendingPathComponent("z.zip")
            try ZipWriter.write(names.map { ($0, Data()) }, to: url)
            let error = #expect(throws: ZipError.self) { try ZipReader(try Data(contentsOf: url)).entries() }
            #expect(error?.message == message)
        }
        // Different directories, or a "./" inside a name, are different members.
        let url = directory.appendingPathComponent("ok.zip")
        try ZipWriter.write(["a/x", "b/x", "a/./x"].map { ($0, Data()) }, to: url)
        #expect(try ZipReader(try Data(contentsOf: url)).entries().count == 3)
    }

    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-limits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
