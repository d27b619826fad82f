import Foundation
import ZIPFoundation

/// Writes `.npz` archives through ZIPFoundation: stored members, as `np.savez` writes them.
enum NPZWriter {
    static func write(_ members: [(name: String, bytes: [UInt8])], to url: URL) throws {
        let archive = try Archive(url: url, accessMode: .create)
        for (name, bytes) in members {
            try archive.addEntry(with: name, type: .file, uncompressedSize: Int64(bytes.count), compressionMethod: .none) { position, size in
                Data(bytes[Int(position)..<Int(position) + size])
            }
        }
    }  // `archive` is released here, which flushes and closes the file before the caller renames it.
}
