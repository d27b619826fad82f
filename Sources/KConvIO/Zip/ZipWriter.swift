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
        let output = try FileOutput(creating: url.path)
        let (time, date) = dosTimeAndDate(Date())
        var directory = ZipBytes()
        var offset: UInt64 = 0
        for (name, bytes) in members {
            let nameBytes = Array(name.utf8)
            guard nameBytes.count <= 0xFFFF else { throw ZipError("a member name is longer than 65535 bytes") }
            let size = UInt64(bytes.count)
            let largeSize = forceZip64 || size >= 0xFFFF_FFFF, largeOffset = forceZip64 || offset >= 0xFFFF_FFFF
            let version: UInt16 = largeSize || largeOffset ? 45 : 20
            let flags: UInt16 = nameBytes.allSatisfy { $0 < 0x80 } ? 0 : 0x0800  // bit 11: the name is UTF-8
            let crc = bytes.zipCRC32

            var local = ZipBytes()
            local.put32(0x0403_4B50)
            local.put16(version, flags, 0, time, date)  // method 0: stored
            local.put32(crc)
            local.put32(largeSize ? 0xFFFF_FFFF : UInt32(size), largeSize ? 0xFFFF_FFFF : UInt32(size))
            local.put16(UInt16(nameBytes.count), largeSize ? 20 : 0)
            local.bytes += nameBytes
            if largeSize {  // ZIP64 extended information: both sizes, always, in a local header
                local.put16(1, 16)
                local.put64(size, size)
            }
            try output.write(local.bytes)
            try output.write(bytes)

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
        }

        let count = UInt64(members.count), directorySize = UInt64(directory.bytes.count)
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
        try output.write(directory.bytes + end.bytes)
        try output.close()
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
