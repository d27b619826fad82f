import Foundation
#if canImport(CZLib)
import CZLib  // the zlib ZIPFoundation links on Linux (its system-library module)
#else
import ZIPFoundation
#endif

extension Data {
    /// The zip CRC-32 of these bytes. On Linux through zlib's `crc32` (several bytes a step): ZIPFoundation
    /// there uses a byte-at-a-time loop of its own, which took 38% of converting VGG16 (553 MB) to .keras, as
    /// its writer and again as the check's reader.
    package var zipCRC32: UInt32 {
        #if canImport(CZLib)
        withUnsafeBytes { raw in
            var crc = CZLib.crc32(0, nil, 0)
            var start = 0
            while start < raw.count {  // zlib takes a 32-bit length: in chunks of 1 GiB
                let length = Swift.min(raw.count - start, 1 << 30)
                crc = CZLib.crc32(crc, raw.baseAddress?.assumingMemoryBound(to: UInt8.self).advanced(by: start), UInt32(length))
                start += length
            }
            return UInt32(truncatingIfNeeded: crc)
        }
        #else
        crc32(checksum: 0)
        #endif
    }
}
