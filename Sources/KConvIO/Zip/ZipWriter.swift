import Foundation
import ZIPFoundation

/// Writes zip archives of stored (not deflated) members, as `np.savez` and Keras's `.keras` saving write them.
package enum ZipWriter {
    package static func write(_ members: [(name: String, bytes: Data)], to url: URL) throws {
        let archive = try Archive(url: url, accessMode: .create)
        for (name, bytes) in members {
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(bytes.count), compressionMethod: .none) { position, size in
                bytes.subdata(in: Int(position) ..< Int(position) + size)
            }
        }
    }  // `archive` is released here, which flushes and closes the file before the caller renames it.
}
