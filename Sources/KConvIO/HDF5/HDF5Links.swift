// Never read outside the given file: the checks run before HDF5 follows a path, and before a dataset's bytes
// are read from wherever its layout says they are.
import CHDF5

/// Soft links followed along one path before kconv gives up: HDF5's own default limit (`H5Pset_nlinks`),
/// which also ends cycles. Counted over the whole walk, not per branch, so the walk stays linear.
package let maximumSoftLinks = 16

/// The longest soft or external link value kconv reads: the size comes from the file, and real link
/// values are short paths.
package let maximumLinkValueBytes = 1 << 16

extension HDF5Group {
    /// Throws if following `name` (relative to this group, or absolute) would leave this file: through an
    /// external link, a soft link that leads to one, or a user-defined link, at any component. Checked one
    /// component at a time, each with `H5Lget_info` (which reads a link without following it), so that HDF5
    /// never opens — or blocks on — another file. Call with the HDF5 lock held.
    package func refuseLinksOutOfFile(_ name: String, _ operation: String) throws {
        var softLinks = maximumSoftLinks
        guard let (link, found) = try linkOutOfFile(name, softLinks: &softLinks, operation) else { return }
        throw HDF5Location(filePath: file.path, objectPath: childPath(link)).error(
            operation, "expected an object stored in this file, found \(found) (kconv reads nothing outside the file it is given)")
    }

    /// The first link along `path` that leaves the file, as `path` spells it, with what it is; nil if none.
    /// A missing component ends the walk: nothing past it can be followed, and the caller's own call reports it.
    private func linkOutOfFile(_ path: String, softLinks: inout Int, _ operation: String) throws -> (link: String, found: String)? {
        let absolute = path.hasPrefix("/")
        var components: [Substring] = []
        for component in path.split(separator: "/") where component != "." {
            components.append(component)
            let link = (absolute ? "/" : "") + components.joined(separator: "/")
            guard H5Lexists(handle.id, link, linkAccess) > 0 else { return nil }
            var info = H5L_info_t()
            guard H5Lget_info(handle.id, link, &info, linkAccess) >= 0 else { return nil }
            switch info.type {
            case H5L_TYPE_HARD:
                continue
            case H5L_TYPE_SOFT:
                guard softLinks > 0 else {
                    throw HDF5Location(filePath: file.path, objectPath: childPath(link)).error(
                        operation, "expected at most \(maximumSoftLinks) soft links along a path, found more (a cycle?)")
                }
                softLinks -= 1
                let target = String(decoding: try linkValue(link, size: info.u.val_size).prefix { $0 != 0 }, as: UTF8.self)
                // A relative target is relative to the group holding the link.
                let parent = (absolute ? "/" : "") + components.dropLast().joined(separator: "/")
                let resolved = target.hasPrefix("/") || parent.isEmpty ? target : parent.hasSuffix("/") ? parent + target : parent + "/" + target
                if let (_, found) = try linkOutOfFile(resolved, softLinks: &softLinks, operation) {
                    return (link, "a soft link to \(target), \(found)")
                }
            case H5L_TYPE_EXTERNAL:
                return (link, "an external link to \(try externalTarget(link, size: info.u.val_size))")
            default:
                return (link, "a user-defined link (type \(info.type.rawValue))")
            }
        }
        return nil
    }

    /// The raw value of the soft or external link `link`.
    private func linkValue(_ link: String, size: Int) throws -> [UInt8] {
        let location = HDF5Location(filePath: file.path, objectPath: childPath(link))
        guard size <= maximumLinkValueBytes else {
            throw location.error("read link", "expected a link value of at most \(maximumLinkValueBytes) bytes, found one of \(size)")
        }
        var value = [UInt8](repeating: 0, count: max(size, 1))
        try location.check(H5Lget_val(handle.id, link, &value, value.count, linkAccess), "read link")
        return value
    }

    /// `file:object` for the external link `link`.
    private func externalTarget(_ link: String, size: Int) throws -> String {
        let value = try linkValue(link, size: size)
        var flags: UInt32 = 0
        var fileName: UnsafePointer<CChar>?
        var objectName: UnsafePointer<CChar>?
        let status = value.withUnsafeBytes { H5Lunpack_elink_val($0.baseAddress, size, &flags, &fileName, &objectName) }
        guard status >= 0, let fileName, let objectName else { return "another file" }
        return "\(String(cString: fileName)):\(String(cString: objectName))"
    }
}

extension HDF5Dataset {
    /// Throws if the dataset's bytes live outside this file: in external raw-data files (`H5Pset_external`) or
    /// in other datasets mapped by a virtual dataset (`H5D_VIRTUAL` layout). Neither is opened by opening the
    /// dataset; both would be by reading it. Call with the HDF5 lock held.
    package func refuseStorageOutsideFile() throws {
        let operation = "open dataset"
        let creation = try location.handle(H5Dget_create_plist(handle.id), close: H5Pclose, operation)
        let layout = H5Pget_layout(creation.id)
        if layout == H5D_VIRTUAL {
            var count = 0
            try location.check(H5Pget_virtual_count(creation.id, &count), operation)
            var sources = "nothing"
            if count > 0 {
                let file = try virtualName(creation, H5Pget_virtual_filename, operation)
                let dataset = try virtualName(creation, H5Pget_virtual_dsetname, operation)
                sources = "\(file):\(dataset)" + (count > 1 ? " and \(count - 1) more" : "")
            }
            throw location.error(operation, "expected data stored in this file, found a virtual dataset mapping \(sources) (kconv reads nothing outside the file it is given)")
        }
        let external = try location.check(H5Pget_external_count(creation.id), operation)
        if external > 0 {
            var name = [CChar](repeating: 0, count: 4096)
            var offset = off_t(0)
            var size = hsize_t(0)
            try location.check(H5Pget_external(creation.id, 0, name.count, &name, &offset, &size), operation)
            let files = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                + (external > 1 ? " and \(external - 1) more" : "")
            throw location.error(operation, "expected data stored in this file, found raw data kept in the external file \(files) (kconv reads nothing outside the file it is given)")
        }
    }

    /// The first mapping's source file or dataset name of a virtual dataset.
    private func virtualName(_ creation: HDF5Handle, _ get: (hid_t, Int, UnsafeMutablePointer<CChar>?, Int) -> Int,
                             _ operation: String) throws -> String {
        let length = try location.check(get(creation.id, 0, nil, 0), operation)
        guard length <= maximumLinkValueBytes else { return "a name of \(length) bytes" }
        var name = [CChar](repeating: 0, count: length + 1)
        try location.check(get(creation.id, 0, &name, name.count), operation)
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
