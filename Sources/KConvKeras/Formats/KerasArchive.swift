import KConvGraph
import Foundation
import KConvIO

/// Reads the `.keras` zip archive (`config.json`, `metadata.json`, `model.weights.h5`) that Keras 3 — and
/// tf-keras from 2.13 — write.
package enum KerasArchive {
    /// Configs and metadata are parsed in memory; refuse members claiming more than this.
    package static let textLimit: UInt64 = 256 << 20

    package static func load(_ path: String, weightsPath: String?) throws -> KerasModel {
        // Mapped, not read: a multi-gigabyte archive costs only the pages actually touched.
        let archive = ZipReader(try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped))
        let entries: [ZipReader.Entry]
        do {
            entries = try archive.entries()
        } catch {
            throw ModelError("not a readable zip archive: \(error)")
        }
        let entry = { (name: String) in entries.first { $0.name == name } }
        guard let configEntry = entry("config.json") else {
            throw ModelError("a zip archive without config.json is not a Keras model")
        }
        var config = try locating(field: "config.json") { try JSONValue.parse(text(configEntry, in: archive)) }
        let metadata = try entry("metadata.json").map { metadataEntry in
            try locating(field: "metadata.json") { try JSONValue.parse(text(metadataEntry, in: archive)) }
        }
        if let renames = metadata?[Keras3Names.metadataKey] {
            // Layers kconv renamed for Keras 3 get their original names back.
            config = Keras3Names.renamed(config, try Keras3Names.originalNames(renames))
        }
        let version = metadata?["keras_version"]?.stringValue
        let dialect = KerasModel.detectDialect(version: version, config: config, defaultDialect: .keras3)
        let model = try KerasModel.buildModel(config, dialect: dialect)

        for layer in model.layers {
            let folder = "assets/" + model.objectPathPrefix(of: layer)
            try locating(layer: layer.label) {
                try layer.readAssets { name in try entry(folder + name).map { [UInt8](try contents($0, in: archive)) } }
            }
        }

        var layout = WeightsLayout.none
        if let weightsPath {
            layout = try KerasModel.bindWeightsFile(weightsPath, to: model, dialect: dialect)
        } else if let weightsEntry = entry("model.weights.h5") {
            let file = try locating(field: "model.weights.h5") { try openHDF5(weightsEntry, in: archive, archivePath: path) }
            try locating(field: "model.weights.h5") { try ObjectPathWeights(root: file.root).bind(to: model) }
            layout = .objectPaths
        }
        return KerasModel(path: path, weightsPath: weightsPath, format: .archive, weightsLayout: layout,
                          kerasVersion: version, backend: nil, dialect: dialect, model: model)
    }

    /// A member's bytes, at most `textLimit` of them.
    private static func contents(_ entry: ZipReader.Entry, in archive: ZipReader) throws -> Data {
        guard entry.uncompressedSize <= textLimit else {
            throw ModelError("\(entry.name) claims \(entry.uncompressedSize) bytes, more than the \(textLimit) allowed")
        }
        return try archive.contents(of: entry)
    }

    private static func text(_ entry: ZipReader.Entry, in archive: ZipReader) throws -> String {
        guard let text = String(data: try contents(entry, in: archive), encoding: .utf8) else {
            throw ModelError("\(entry.name) is not UTF-8 text")
        }
        return text
    }

    /// The weights member opened in memory as an HDF5 file image: no temporary file. Errors name it as
    /// `<archive>/model.weights.h5`.
    private static func openHDF5(_ entry: ZipReader.Entry, in archive: ZipReader, archivePath: String) throws -> HDF5File {
        try HDF5File.open(image: archive.contents(of: entry), name: archivePath + "/" + entry.name)
    }
}

/// Weights in Keras 3's object-path layout (`.weights.h5`, `model.weights.h5`): each layer's variables
/// at `layers/<snake_case class>[_n]/.../vars/<i>`.
package struct ObjectPathWeights {
    package let root: HDF5Group

    package func bind(to model: Model) throws {
        guard model.kind != .subclassed else {
            model.adoptFileWeights(try allVariables())
            return
        }
        for layer in model.layers {
            let base = model.objectPathPrefix(of: layer)
            try locating(layer: layer.label) {
                let arrays: [WeightArray]
                if layer.builtInputShapes == nil {
                    arrays = try ownVariables(at: base)
                } else {
                    arrays = try layer.weightSpecs.map { spec in
                        var path = base + spec.objectPath
                        // A file tf-keras wrote keeps some sub-layers under other names.
                        if let keras2 = spec.keras2ObjectPath, try root.kind(of: path) != .dataset, try root.kind(of: base + keras2) == .dataset {
                            path = base + keras2
                        }
                        guard try root.kind(of: path) == .dataset else {
                            throw ModelError(field: "weight '\(spec.name)'", "expected dataset '\(path)' \(spec.shape), found none")
                        }
                        return try LegacyWeightGroups.array(root.dataset(path), name: path)
                    }
                }
                try WeightBinding.bind(arrays, to: layer, dialect: .keras3)
            }
        }
    }

    /// Every variable in the file but the optimizer's: the model's own (`vars/<i>`), then each top-level
    /// object's in name order. A subclassed model's weights, kept under the names of the attributes holding
    /// them, which only its code knows.
    private func allVariables() throws -> [WeightArray] {
        try ownVariables(at: "") + root.childNames().filter { $0 != "optimizer" && $0 != "vars" }.flatMap { child in
            try root.kind(of: child) == .group ? try ownVariables(at: child + "/") : []
        }
    }

    /// The variables of a layer whose weights kconv cannot predict: `vars/0`, `vars/1`, ... under `base`,
    /// then those of its sub-objects in name order (a MultiHeadAttention's `query_dense/vars/0`), so that
    /// its parameters are counted from the file. `depth` bounds the walk in a file whose links loop.
    private func ownVariables(at base: String, depth: Int = 0) throws -> [WeightArray] {
        var arrays: [WeightArray] = []
        while try root.kind(of: base + "vars/\(arrays.count)") == .dataset {
            let path = base + "vars/\(arrays.count)"
            arrays.append(try LegacyWeightGroups.array(root.dataset(path), name: path))
        }
        guard depth < 8, !base.isEmpty, try root.kind(of: base) == .group else { return arrays }
        for child in try root.group(base).childNames() where child != "vars" {
            if try root.kind(of: base + child) == .group { arrays += try ownVariables(at: base + child + "/", depth: depth + 1) }
        }
        return arrays
    }
}
