import Foundation
import ZIPFoundation

/// Reads the members of a zip archive (an `.npz`, a `.keras`) held in memory or mapped from disk.
///
/// It walks the central directory itself rather than through ZIPFoundation's `Archive`: on Linux that
/// inflates with a loop which spins forever when a deflate stream runs past the end of the file
/// (weichsel/ZIPFoundation#389, unfixed in 0.9.20), and archives are untrusted input. Inflating still uses
/// ZIPFoundation's `Data.decompress`, fed only the member's own bytes. Every offset and size is checked
/// against the archive before use. Member names are only ever compared, never used as paths.
///
/// Refused, with the reason: archives whose member names collide (the same name twice, or names that differ
/// only by case or a leading `./`), since readers disagree on which copy counts; and members whose declared
/// size is more than the memory budget or more than their compressed bytes can hold, before anything is
/// allocated for them.
package struct ZipReader {
    package struct Entry {
        package var name: String
        package var flags: Int
        package var method: Int
        package var crc32: UInt32
        package var compressedSize: UInt64
        package var uncompressedSize: UInt64
        package var localHeaderOffset: UInt64
    }

    /// The most a deflate stream can expand: 258 bytes from a 2-bit length/distance pair is 1032 to 1.
    package static let maximumDeflateRatio = 1032

    /// Input bytes handed to zlib at a time.
    package static let inflateChunkSize = 1 << 16

    private let bytes: Data
    /// The most one member may take once extracted.
    package let budget: MemoryBudget

    /// `bytes` must start at index 0 (a whole file, e.g. `Data(contentsOf:options: .alwaysMapped)`).
    package init(_ bytes: Data, budget: MemoryBudget = .current) {
        self.bytes = bytes
        self.budget = budget
    }

    /// The member named `name`, if the archive has one.
    package func entry(named name: String) throws -> Entry? { try entries().first { $0.name == name } }

    package func entries() throws -> [Entry] {
        let (count, directoryOffset) = try centralDirectory()
        var entries: [Entry] = []  // not reserved: `count` is only a claim
        var offset = directoryOffset
        while UInt64(entries.count) < count {
            guard try uint(offset, 4) == 0x0201_4B50 else { throw ZipError("corrupt zip archive: bad central directory entry") }
            let nameLength = try int(offset + 28, 2), extraLength = try int(offset + 30, 2)
            var entry = Entry(name: String(decoding: try slice(offset + 46, nameLength), as: UTF8.self),
                              flags: try int(offset + 8, 2), method: try int(offset + 10, 2),
                              crc32: UInt32(try uint(offset + 16, 4)), compressedSize: try uint(offset + 20, 4),
                              uncompressedSize: try uint(offset + 24, 4), localHeaderOffset: try uint(offset + 42, 4))
            // ZIP64: the fields too large for 32 bits read 0xFFFFFFFF and follow, in this order, in extra field 1.
            var extra = offset + 46 + nameLength
            while extra + 4 <= offset + 46 + nameLength + extraLength {
                if try uint(extra, 2) == 1 {
                    var field = extra + 4
                    for size in [\Entry.uncompressedSize, \Entry.compressedSize, \Entry.localHeaderOffset] where entry[keyPath: size] == 0xFFFF_FFFF {
                        entry[keyPath: size] = try uint(field, 8)
                        field += 8
                    }
                }
                extra += 4 + (try int(extra + 2, 2))
            }
            entries.append(entry)
            offset += 46 + nameLength + extraLength + (try int(offset + 32, 2))
        }
        try Self.refuseCollidingNames(entries)
        return entries
    }

    /// Refuses two members with the same name — Python's zipfile, and so Keras, reads the last of them, while
    /// other readers (kconv included, before) read the first — and names that differ only by case or a leading
    /// `./`, which extract to one file on a case-insensitive file system or once the path is normalised.
    private static func refuseCollidingNames(_ entries: [Entry]) throws {
        var seen: [String: String] = [:]  // collision key -> first name
        for entry in entries {
            var key = Substring(entry.name)
            while key.hasPrefix("./") { key = key.dropFirst(2) }
            let folded = key.lowercased()
            guard let first = seen[folded] else {
                seen[folded] = entry.name
                continue
            }
            if first == entry.name {
                let copies = entries.count { $0.name == first }
                throw ZipError("expected each member name once, found '\(first)' \(copies) times (Keras reads the last copy, other tools the first)")
            }
            throw ZipError("expected member names that differ by more than case or a leading './', found '\(first)' and '\(entry.name)'")
        }
    }

    /// The uncompressed bytes of `entry`, checked against its declared size and CRC. The declared size is
    /// checked before anything is allocated: against what its compressed bytes (which must lie inside the
    /// archive) can hold, and against the memory budget; inflating stops as soon as the output passes it.
    package func contents(of entry: Entry) throws -> Data {
        guard entry.flags & 1 == 0 else { throw ZipError("encrypted zip members are not supported") }
        guard entry.method == 0 || entry.method == 8 else {
            throw ZipError("zip compression method \(entry.method) is not supported (numpy writes stored or deflate)")
        }
        guard let local = Int(exactly: entry.localHeaderOffset), try uint(local, 4) == 0x0403_4B50 else {
            throw ZipError("corrupt zip archive: no local header where the central directory points")
        }
        let data = try slice(local + 30 + int(local + 26, 2) + int(local + 28, 2), entry.compressedSize)
        if entry.method == 0, entry.uncompressedSize != UInt64(data.count) {
            throw ZipError("corrupt zip archive: a stored member of \(data.count) bytes declares \(entry.uncompressedSize)")
        }
        let (product, overflow) = data.count.multipliedReportingOverflow(by: Self.maximumDeflateRatio)
        let bound = overflow ? Int.max : product
        guard let size = Int(exactly: entry.uncompressedSize), size <= bound else {
            throw ZipError("expected at most \(bound) bytes uncompressed (deflate expands its \(data.count) bytes at most \(Self.maximumDeflateRatio) times), found a declared \(entry.uncompressedSize)")
        }
        do {
            try budget.check(size, for: "uncompressed size")
        } catch {
            throw ZipError(error.description)
        }
        let member = entry.method == 0 ? data : try Self.inflate(data, size: size)
        guard member.zipCRC32 == entry.crc32 else { throw ZipError("corrupt zip member: CRC-32 mismatch") }
        return member
    }

    /// Inflates a raw deflate stream that must produce exactly `size` bytes.
    private static func inflate(_ compressed: Data, size: Int) throws -> Data {
        var input = compressed
        var output = Data()
        output.reserveCapacity(size)  // within the budget and what the input can expand to
        do {
            _ = try Data.decompress(size: Int64(compressed.count), bufferSize: inflateChunkSize, skipCRC32: true, provider: { _, count in
                // ZIPFoundation's Linux loop hands zlib `count` bytes whatever the chunk holds, and asks again
                // forever once the input runs dry (#389): serve exactly `count` bytes, zero-padded past the
                // member's end, and throw once they are used up.
                guard count > 0 else { return Data() }
                guard !input.isEmpty else { throw ZipError("corrupt zip member: the deflate stream ends early") }
                var chunk = Data(input.prefix(count))
                input = input.dropFirst(count)
                chunk.append(contentsOf: repeatElement(0, count: count - chunk.count))
                return chunk
            }, consumer: { chunk in
                guard chunk.count <= size - output.count else {
                    throw ZipError("corrupt zip member: inflates to more than the \(size) bytes it declares")
                }
                output += chunk
            })
        } catch let error as ZipError {
            throw error
        } catch {
            throw ZipError("corrupt zip member: bad deflate data (\(error))")
        }
        guard output.count == size else {
            throw ZipError("corrupt zip member: inflates to \(output.count) bytes, declares \(size)")
        }
        return output
    }

    /// The entry count and offset of the central directory, from the end-of-central-directory record
    /// (and its ZIP64 counterpart when the 16/32-bit fields overflowed).
    private func centralDirectory() throws -> (count: UInt64, offset: Int) {
        let recordSize = 22, maxComment = 0xFFFF
        let last = bytes.count - recordSize
        guard last >= 0, let end = try stride(from: last, through: max(0, last - maxComment), by: -1)
            .first(where: { try uint($0, 4) == 0x0605_4B50 }) else {
            throw ZipError("not a zip archive, or truncated: no end-of-central-directory record")
        }
        var count = try uint(end + 10, 2), offset = try uint(end + 16, 4)
        if count == 0xFFFF || offset == 0xFFFF_FFFF {
            let locator = end - 20
            guard locator >= 0, try uint(locator, 4) == 0x0706_4B50, let record = Int(exactly: try uint(locator + 8, 8)),
                  try uint(record, 4) == 0x0606_4B50 else {
                throw ZipError("corrupt zip archive: missing ZIP64 end-of-central-directory record")
            }
            (count, offset) = (try uint(record + 32, 8), try uint(record + 48, 8))
        }
        guard let start = Int(exactly: offset), start <= bytes.count else {
            throw ZipError("truncated zip archive: the central directory starts past the end")
        }
        return (count, start)
    }

    /// `length` bytes at `offset`, or an error if the archive ends first.
    private func slice(_ offset: Int, _ length: some BinaryInteger) throws -> Data {
        guard offset >= 0, offset <= bytes.count, let length = Int(exactly: length), length <= bytes.count - offset else {
            throw ZipError("truncated zip archive: \(length) bytes at offset \(offset) run past its end (\(bytes.count) bytes)")
        }
        return bytes[offset..<offset + length]
    }

    /// A little-endian unsigned integer of `size` bytes.
    private func uint(_ offset: Int, _ size: Int) throws -> UInt64 {
        try slice(offset, size).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    private func int(_ offset: Int, _ size: Int) throws -> Int { Int(try uint(offset, size)) }
}

/// A malformed or unsupported zip archive.
package struct ZipError: Error, CustomStringConvertible {
    package let message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}
