import CZlibCRC
import Foundation
import Synchronization

extension Data {
    /// The zip CRC-32 of these bytes, through zlib's `crc32` (several bytes a step), in parts on every core joined
    /// by `crc32_combine`. ZIPFoundation's own on Linux is a byte-at-a-time loop that took half of converting VGG16
    /// (553 MB) to .keras, and as much again in the check's read; zlib's alone took 0.13 s of it on one core.
    package var zipCRC32: UInt32 {
        let count = self.count, cores = ProcessInfo.processInfo.activeProcessorCount
        // Parts of at least 4 MiB, at most 1 GiB (zlib takes a 32-bit length).
        let parts = Swift.max(Swift.min(cores, count >> 22), (count + (1 << 30) - 1) >> 30, 1)
        let start: @Sendable (Int) -> Int = { part in count / parts * part + Swift.min(part, count % parts) }
        let crcs = Mutex([uLong](repeating: 0, count: parts))
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let crc = withUnsafeBytes { raw in
                CZlibCRC.crc32(0, raw.baseAddress?.assumingMemoryBound(to: UInt8.self).advanced(by: start(part)), UInt32(start(part + 1) - start(part)))
            }
            crcs.withLock { $0[part] = crc }
        }
        return crcs.withLock { crcs in
            var crc = crcs[0]
            for part in 1 ..< parts { crc = crc32_combine(crc, crcs[part], off_t(start(part + 1) - start(part))) }
            return UInt32(truncatingIfNeeded: crc)
        }
    }
}
