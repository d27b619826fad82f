import KConvGraph
import Foundation
import KConvIO

/// Reads weights saved in the legacy HDF5 layout that Keras 1, Keras 2 and Keras 3's `.h5` share: one
/// group per layer, listed in `layer_names`, each listing its datasets in `weight_names`.

/// The weight groups of a legacy HDF5 file (a full model's `model_weights` or a weights-only root).
package struct LegacyWeightGroups {
    package let root: HDF5Group
    /// The backend the weights were trained with (`theano` kernels need flipping), if recorded.
    package let backend: String?
    /// Layer names in file order, with their weight arrays (shapes known, values read on demand).
    package let layers: [(name: String, arrays: [WeightArray])]

    package init(root: HDF5Group) throws {
        self.root = root
        backend = try root.attribute("backend")?.stringValue
        let names = try Self.nameList(root, "layer_names")
        layers = try names.map { name in
            guard try root.kind(of: name) == .group else {
                throw ModelError(layer: "layer '\(name)'", "listed in layer_names, but the file has no group '\(root.path)/\(name)'")
            }
            let group = try root.group(name)
            let weightNames = try Self.nameList(group, "weight_names")
            let arrays = try weightNames.map { weightName in
                guard try group.kind(of: weightName) == .dataset else {
                    throw ModelError(layer: "layer '\(name)'", field: "weight '\(weightName)'",
                                     "listed in weight_names, but the file has no dataset '\(group.path)/\(weightName)'")
                }
                return try Self.array(try group.dataset(weightName), name: weightName)
            }
            return (name, arrays)
        }
    }

    /// A lazily read weight array over one dataset, refusing non-numeric element types up front.
    package static func array(_ dataset: HDF5Dataset, name: String) throws -> WeightArray {
        let shape = try dataset.shape
        guard let count = checkedElementCount(shape) else {
            throw ModelError(field: "weight '\(name)'", "dataset \(dataset.path) declares an impossible shape \(shape)")
        }
        switch try dataset.elementType {
        case .float, .signedInteger, .unsignedInteger: break
        case let other:
            throw ModelError(field: "weight '\(name)'", "expected a numeric dataset, found \(other) in \(dataset.path)")
        }
        return WeightArray(name: name, shape: shape, reader: {
            guard count <= readableValues else {
                throw ModelError(field: "weight '\(name)'", "dataset \(dataset.path) declares \(count) values, more than this machine's memory holds")
            }
            return try dataset.readFloats(limit: count)
        }, lender: dataset.mappedFloats)
    }

    /// Float32 values that fit in physical memory: a weight declaring more is refused before any allocation.
    package static let readableValues = Int(clamping: ProcessInfo.processInfo.physicalMemory / 4)

    /// Whether `group` has the name list `name`, whole or chunked.
    package static func hasNameList(_ group: HDF5Group, _ name: String) throws -> Bool {
        try group.attribute(name) != nil || group.attribute(name + "0") != nil
    }

    /// A list of names stored as one attribute, or — when it outgrew HDF5's 64 KiB object-header limit —
    /// split across `name0`, `name1`, ...
    package static func nameList(_ group: HDF5Group, _ name: String) throws -> [String] {
        if let value = try group.attribute(name) {
            guard let list = value.stringList else {
                throw ModelError(field: "attribute '\(name)' of \(group.path)", "expected a list of names, found numbers")
            }
            return list
        }
        var names: [String] = []
        var chunk = 0
        while let value = try group.attribute("\(name)\(chunk)") {
            names += value.stringList ?? []
            chunk += 1
        }
        return names
    }
}
