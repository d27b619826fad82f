import CHDF5

/// What an HDF5 path names.
package enum HDF5ObjectKind: Sendable {
    case group, dataset, other
}

/// An open HDF5 group. Names passed to its methods may be "/"-separated paths relative to it
/// (`"dense/dense/kernel:0"`), or absolute (`"/model_weights"`).
package final class HDF5Group: HDF5Object, @unchecked Sendable {  // immutable; C calls serialised by hdf5Lock
    /// The file this group belongs to (kept open while the group is).
    package let file: HDF5File
    /// The group's path inside the file, e.g. `/model_weights/dense`.
    package let path: String
    package let handle: HDF5Handle

    package init(file: HDF5File, path: String, handle: HDF5Handle) {
        self.file = file
        self.path = path
        self.handle = handle
    }

    /// Names of the direct children (groups, datasets, links), in name order.
    package func childNames() throws -> [String] {
        try withHDF5(at: location, "list children") {
            var names: [String] = []
            try withUnsafeMutablePointer(to: &names) { namesPointer in
                let status = H5Literate(handle.id, H5_INDEX_NAME, H5_ITER_INC, nil, { _, name, _, clientData in
                    guard let name, let clientData else { return -1 }
                    clientData.assumingMemoryBound(to: [String].self).pointee.append(String(cString: name))
                    return 0
                }, namesPointer)
                try location.check(status, "list children")
            }
            return names
        }
    }

    /// What `name` refers to, or `nil` if nothing is there — including when an intermediate
    /// component is absent or is not a group, and for dangling links. Throws if reaching it would
    /// leave the file (an external link on the way).
    package func kind(of name: String) throws -> HDF5ObjectKind? {
        try withHDF5(at: HDF5Location(filePath: file.path, objectPath: childPath(name)), "look up object") {
            try refuseLinksOutOfFile(name, "look up object")
            let components = name.split(separator: "/")
            guard !components.isEmpty else { return name.hasPrefix("/") ? .group : nil }
            // H5Lexists fails (rather than answering false) when an intermediate group is missing,
            // so test one component at a time.
            var prefix = name.hasPrefix("/") ? "/" : ""
            var kind: HDF5ObjectKind?
            for component in components {
                if kind != nil && kind != .group { return nil }
                prefix += (prefix.isEmpty || prefix == "/") ? String(component) : "/" + component
                let location = HDF5Location(filePath: file.path, objectPath: childPath(prefix))
                guard try location.check(H5Lexists(handle.id, prefix, linkAccess), "look up object") > 0,
                      try location.check(H5Oexists_by_name(handle.id, prefix, linkAccess), "look up object") > 0
                else { return nil }
                var info = H5O_info_t()
                try location.check(H5Oget_info_by_name2(handle.id, prefix, &info, UInt32(H5O_INFO_BASIC), linkAccess), "look up object")
                switch info.type {
                case H5O_TYPE_GROUP: kind = .group
                case H5O_TYPE_DATASET: kind = .dataset
                default: kind = .other
                }
            }
            return kind
        }
    }

    /// Opens the group at `name`. Throws if reaching it would leave the file.
    package func group(_ name: String) throws -> HDF5Group {
        try withHDF5(at: HDF5Location(filePath: file.path, objectPath: childPath(name)), "open group") {
            let path = childPath(name)
            let location = HDF5Location(filePath: file.path, objectPath: path)
            try refuseLinksOutOfFile(name, "open group")
            let id = H5Gopen2(handle.id, name, groupAccess)
            return HDF5Group(file: file, path: path, handle: try location.handle(id, close: H5Gclose, "open group"))
        }
    }

    /// Opens the dataset at `name`. Throws if reaching it would leave the file, or if its data is kept
    /// outside the file (external raw-data files, a virtual dataset).
    package func dataset(_ name: String) throws -> HDF5Dataset {
        try withHDF5(at: HDF5Location(filePath: file.path, objectPath: childPath(name)), "open dataset") {
            let path = childPath(name)
            let location = HDF5Location(filePath: file.path, objectPath: path)
            try refuseLinksOutOfFile(name, "open dataset")
            let id = H5Dopen2(handle.id, name, datasetAccess)
            let dataset = HDF5Dataset(file: file, path: path, handle: try location.handle(id, close: H5Dclose, "open dataset"))
            try dataset.refuseStorageOutsideFile()
            return dataset
        }
    }

    /// Names of this group's attributes, in name order.
    package func attributeNames() throws -> [String] { try readAttributeNames() }

    /// The attribute `name`, or `nil` if the group has none of that name.
    package func attribute(_ name: String) throws -> HDF5AttributeValue? { try readAttribute(name) }

    // MARK: - Writing

    /// Creates the group `name`, and any missing intermediate groups of a "/" path (as h5py does).
    @discardableResult
    package func createGroup(_ name: String) throws -> HDF5Group {
        try withHDF5(at: HDF5Location(filePath: file.path, objectPath: childPath(name)), "create group") {
            let path = childPath(name)
            let location = HDF5Location(filePath: file.path, objectPath: path)
            let linkCreation = try intermediateGroupsLinkCreation(at: location, "create group")
            let id = H5Gcreate2(handle.id, name, linkCreation.id, defaultPropertyList, defaultPropertyList)
            return HDF5Group(file: file, path: path, handle: try location.handle(id, close: H5Gclose, "create group"))
        }
    }

    /// Creates a contiguous little-endian float32 dataset (`<f4`, as Keras writes weights) holding
    /// `floats` in row-major order; `shape == []` makes a scalar. Missing intermediate groups of a
    /// "/" path are created. Throws if the element count of `shape` is not `floats.count`.
    @discardableResult
    package func createDataset(_ name: String, shape: [Int], floats: [Float]) throws -> HDF5Dataset {
        try floats.withUnsafeBufferPointer { try createDataset(name, shape: shape, floats: $0) }
    }

    /// The same, from values lent in place (`HDF5Dataset.mappedFloats`).
    @discardableResult
    package func createDataset(_ name: String, shape: [Int], floats: UnsafeBufferPointer<Float>) throws -> HDF5Dataset {
        try withHDF5(at: HDF5Location(filePath: file.path, objectPath: childPath(name)), "create dataset") {
            let path = childPath(name)
            let location = HDF5Location(filePath: file.path, objectPath: path)
            let operation = "create dataset"
            var count = 1
            for size in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: size)
                guard size >= 0, !overflow else { throw location.error(operation, "invalid shape \(shape)") }
                count = product
            }
            guard count == floats.count else {
                throw location.error(operation, "shape \(shape) holds \(count) elements, but \(floats.count) values were given")
            }
            let linkCreation = try intermediateGroupsLinkCreation(at: location, operation)
            let space = try createDataspace(shape: shape, at: location, operation)
            let id = H5Dcreate2(handle.id, name, kc_h5t_ieee_f32le(), space.id, linkCreation.id, defaultPropertyList, defaultPropertyList)
            let dataset = HDF5Dataset(file: file, path: path, handle: try location.handle(id, close: H5Dclose, operation))
            if count > 0 {
                HDF5Activity.allowBytes(count * MemoryLayout<Float>.size)
                let status = H5Dwrite(dataset.handle.id, kc_h5t_native_float(), kc_h5s_all(), kc_h5s_all(), defaultPropertyList, floats.baseAddress)
                try location.check(status, operation)
            }
            return dataset
        }
    }

    /// Sets (or replaces) the attribute `name`; see `HDF5AttributeValue` for how each case is stored.
    package func setAttribute(_ name: String, _ value: HDF5AttributeValue) throws {
        try writeAttribute(name, value)
    }
}

/// A link-creation property list that creates missing intermediate groups.
private func intermediateGroupsLinkCreation(at location: HDF5Location, _ operation: String) throws -> HDF5Handle {
    let list = try location.handle(H5Pcreate(kc_h5p_link_create()), close: H5Pclose, operation)
    try location.check(H5Pset_create_intermediate_group(list.id, 1), operation)
    return list
}
