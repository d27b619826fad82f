import CZlibCRC
import Foundation

extension Data {
    /// The zip CRC-32 of these bytes, through zlib's `crc32` (several bytes a step). ZIPFoundation's own on Linux
    /// is a byte-at-a-time loop that took half of converting VGG16 (553 MB) to .keras, and as much again in
    /// the check's read.
    package var zipCRC32: UInt32 {
        withUnsafeBytes { raw in
            var crc = CZlibCRC.crc32(0, nil, 0)
            var start = 0
            while start < raw.count {  // zlib takes a 32-bit length: 1 GiB at a time
                let length = Swift.min(raw.count - start, 1 << 30)
                crc = CZlibCRC.crc32(crc, raw.baseAddress?.assumingMemoryBound(to: UInt8.self).advanced(by: start), UInt32(length))
                start += length
            }
            return UInt32(truncatingIfNeeded: crc)
        }
    }
}
