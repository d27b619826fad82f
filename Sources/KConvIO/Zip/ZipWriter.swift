import Foundation
import ZIPFoundation

/// Writes zip archives of stored (not deflated) members, as `np.savez` and Keras's `.keras` saving write them,
/// with ZIP64 records when a member, an offset or the member count outgrows the classic fields.
///
/// Written here rather than through ZIPFoundation's `Archive`, which ignores the result of its final flush
/// and close: a disk that fills up while the central directory is written left a truncated archive that
/// was reported as written. Every byte goes through `FileOutput`, which loops on short writes and reports
/// every failure, including close's.
package enum ZipWriter {
    /// `forceZip64` writes the ZIP64 fields and records even where the classic ones would do (for tests:
    /// real archives need them only past 4 GiB or 65535 members).
    package static func write(_ members: [(name: String, bytes: Data)], to url: URL, forceZip64: Bool = false) throws {
        var layout = ZipLayout(forceZip64: forceZip64)
        let output = try FileOutput(creating: url.path)
        for (name, bytes) in members {
            try output.write(try layout.add(name, size: bytes.count, crc: bytes.zipCRC32))
            try output.write(bytes)
        }
        try output.write(layout.end())
        try output.close()
    }

    /// Writes an archive whose first member, `name`, `writeFirst(path, offset)` writes into the file itself, from
    /// byte `offset` (a power of two, at least 512) to its end: an HDF5 file with a user block of that size
    /// (`HDF5File.create(_:userBlock:)`). The weights of a `.keras` archive so go to disk once, where building
    /// the member in memory first took fresh memory and a copy (VGG16: 553 MB). Its local header, padded, then
    /// fills the bytes before `offset`, and `members` and the central directory follow it.
    package static func write(inPlace name: String, writtenBy writeFirst: (_ path: String, _ offset: Int) throws -> Void,
                              then members: [(name: String, bytes: Data)], to url: URL, forceZip64: Bool = false) throws {
        var layout = ZipLayout(forceZip64: forceZip64)
        var offset = 512
        while offset < ZipLayout.longestLocalHeader(name) { offset *= 2 }
        try writeFirst(url.path, offset)
        let file = try Data(contentsOf: url, options: .alwaysMapped)
        guard file.count > offset else { throw ZipError("\(name) was written empty") }
        let member = file[offset...]
        let output = try FileOutput(updating: url.path)
        try output.write(try layout.add(name, size: member.count, crc: member.zipCRC32, headerLength: offset), at: 0)
        var position = file.count
        for (name, bytes) in members {
            let header = try layout.add(name, size: bytes.count, crc: bytes.zipCRC32)
            try output.write(header, at: position)
            try output.write(bytes, at: position + header.count)
            position += header.count + bytes.count
        }
        try output.write(layout.end(), at: position)
        try output.close()
    }
}

/// The records of an archive being written: each member's local header as it is added, then the central
/// directory and its end.
private struct ZipLayout {
    let forceZip64: Bool
    let time: UInt16, date: UInt16
    private var directory = ZipBytes()
    /// Where the next local header goes.
    private var offset: UInt64 = 0
    private var count: UInt64 = 0

    init(forceZip64: Bool) {
        self.forceZip64 = forceZip64
        (time, date) = Self.dosTimeAndDate(Date())
    }

    /// The longest local header a member named `name` can have, with room for a ZIP64 field and a padding one.
    static func longestLocalHeader(_ name: String) -> Int { 30 + name.utf8.count + 20 + 4 }

    /// The local header of the next member, which its bytes follow; with `headerLength`, made that long by an
    /// extra field of zeros (the padding field, 0xD935, that Android's zipalign writes).
    mutating func add(_ name: String, size: Int, crc: UInt32, headerLength: Int? = nil) throws -> [UInt8] {
        let nameBytes = Array(name.utf8)
        guard nameBytes.count <= 0xFFFF else { throw ZipError("a member name is longer than 65535 bytes") }
        let size = UInt64(size)
        let largeSize = forceZip64 || size >= 0xFFFF_FFFF, largeOffset = forceZip64 || offset >= 0xFFFF_FFFF
        let version: UInt16 = largeSize || largeOffset ? 45 : 20
        let flags: UInt16 = nameBytes.allSatisfy { $0 < 0x80 } ? 0 : 0x0800  // bit 11: the name is UTF-8

        var localExtra = ZipBytes()
        if largeSize { localExtra.put16(1, 16); localExtra.put64(size, size) }  // ZIP64: both sizes, always, in a local header
        if let headerLength {
            let padding = headerLength - 30 - nameBytes.count - localExtra.bytes.count - 4
            guard padding >= 0, padding <= 0xFFFF - 4 - localExtra.bytes.count else { throw ZipError("cannot pad the local header of \(name) to \(headerLength) bytes") }
            localExtra.put16(0xD935, UInt16(padding))
            localExtra.bytes += [UInt8](repeating: 0, count: padding)
        }
        var local = ZipBytes()
        local.put32(0x0403_4B50)
        local.put16(version, flags, 0, time, date)  // method 0: stored
        local.put32(crc)
        local.put32(largeSize ? 0xFFFF_FFFF : UInt32(size), largeSize ? 0xFFFF_FFFF : UInt32(size))
        local.put16(UInt16(nameBytes.count), UInt16(localExtra.bytes.count))
        local.bytes += nameBytes + localExtra.bytes

        var extra = ZipBytes()  // in a central header: only the fields that read 0xFFFFFFFF, in this order
        if largeSize { extra.put64(size, size) }
        if largeOffset { extra.put64(offset) }
        directory.put32(0x0201_4B50)
        directory.put16(3 << 8 | version, version, flags, 0, time, date)  // made by: Unix
        directory.put32(crc)
        directory.put32(largeSize ? 0xFFFF_FFFF : UInt32(size), largeSize ? 0xFFFF_FFFF : UInt32(size))
        directory.put16(UInt16(nameBytes.count), extra.bytes.isEmpty ? 0 : UInt16(4 + extra.bytes.count), 0, 0, 0)
        directory.put32(0o100644 << 16, largeOffset ? 0xFFFF_FFFF : UInt32(offset))  // a regular file, rw-r--r--
        directory.bytes += nameBytes
        if !extra.bytes.isEmpty {
            directory.put16(1, UInt16(extra.bytes.count))
            directory.bytes += extra.bytes
        }
        offset += UInt64(local.bytes.count) + size
        count += 1
        return local.bytes
    }

    /// The central directory and its end records (ZIP64 ones too when needed), which close the archive.
    func end() -> [UInt8] {
        let directorySize = UInt64(directory.bytes.count)
        var end = ZipBytes()
        let large = forceZip64 || count >= 0xFFFF || offset >= 0xFFFF_FFFF || directorySize >= 0xFFFF_FFFF
        if large {
            end.put32(0x0606_4B50)  // ZIP64 end of central directory record
            end.put64(44)
            end.put16(3 << 8 | 45, 45)
            end.put32(0, 0)
            end.put64(count, count, directorySize, offset)
            end.put32(0x0706_4B50)  // its locator
            end.put32(0)
            end.put64(offset + directorySize)
            end.put32(1)
        }
        end.put32(0x0605_4B50)
        end.put16(0, 0, large ? 0xFFFF : UInt16(count), large ? 0xFFFF : UInt16(count))
        end.put32(large ? 0xFFFF_FFFF : UInt32(directorySize), large ? 0xFFFF_FFFF : UInt32(offset))
        end.put16(0)  // no comment
        return directory.bytes + end.bytes
    }

    /// MS-DOS time and date fields (local time, two-second resolution, 1980–2107), as zip tools record them.
    private static func dosTimeAndDate(_ date: Date) -> (time: UInt16, date: UInt16) {
        let parts = Calendar(identifier: .gregorian).dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let year = min(max((parts.year ?? 1980) - 1980, 0), 127)
        let time = (parts.hour ?? 0) << 11 | (parts.minute ?? 0) << 5 | (parts.second ?? 0) / 2
        let day = year << 9 | (parts.month ?? 1) << 5 | (parts.day ?? 1)
        return (UInt16(truncatingIfNeeded: time), UInt16(truncatingIfNeeded: day))
    }
}

/// Little-endian fields of zip records.
private struct ZipBytes {
    var bytes: [UInt8] = []

    mutating func put16(_ values: UInt16...) { for value in values { put(value) } }
    mutating func put32(_ values: UInt32...) { for value in values { put(value) } }
    mutating func put64(_ values: UInt64...) { for value in values { put(value) } }

    private mutating func put(_ value: some FixedWidthInteger) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }
}
