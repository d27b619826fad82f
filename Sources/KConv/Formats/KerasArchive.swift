import Foundation
import ZIPFoundation

/// Reads the `.keras` zip archive (`config.json`, `metadata.json`, `model.weights.h5`) that Keras 3 — and
/// tf-keras from 2.13 — write.
enum KerasArchive {
    /// Configs and metadata are read into memory; refuse entries claiming more than this.
    static let textLimit = 256 << 20

    static func load(_ path: String, weightsPath: String?) throws -> KerasModel {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw ModelError("not a readable zip archive (\(error)); the file may be truncated")
        }
        guard let configEntry = archive["config.json"] else {
            throw ModelError("a zip archive without config.json is not a Keras model")
        }
        let config = try locating(field: "config.json") { try JSONValue.parse(readText(configEntry, in: archive)) }
        let metadata = try archive["metadata.json"].map { entry in
            try locating(field: "metadata.json") { try JSONValue.parse(readText(entry, in: archive)) }
        }
        let version = metadata?["keras_version"]?.stringValue
        let dialect = KerasModel.detectDialect(version: version, config: config, defaultDialect: .keras3)
        let model = try KerasModel.buildModel(config, dialect: dialect)

        var layout = WeightsLayout.none
        if let weightsPath {
            layout = try KerasModel.bindWeightsFile(weightsPath, to: model, dialect: dialect)
        } else if let weightsEntry = archive["model.weights.h5"] {
            let file = try extractToOpenHDF5(weightsEntry, in: archive)
            try locating(field: "model.weights.h5") { try ObjectPathWeights(root: file.root).bind(to: model) }
            layout = .objectPaths
        }
        return KerasModel(path: path, weightsPath: weightsPath, format: .archive, weightsLayout: layout,
                          kerasVersion: version, backend: nil, dialect: dialect, model: model)
    }

    private static func readText(_ entry: Entry, in archive: Archive) throws -> String {
        guard entry.uncompressedSize <= UInt64(textLimit) else {
            throw ModelError("\(entry.path) claims \(entry.uncompressedSize) bytes, more than the \(textLimit) allowed")
        }
        var data = Data()
        do {
            _ = try archive.extract(entry, skipCRC32: false) { chunk in
                data.append(chunk)
                if data.count > textLimit { throw ModelError("\(entry.path) is larger than it claims") }
            }
        } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError("cannot read \(entry.path) from the archive: \(error)")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw ModelError("\(entry.path) is not UTF-8 text") }
        return text
    }

    /// HDF5 reads files, not zip entries: copy the weights out to a private temporary file, open it, and
    /// unlink it at once (the open handle keeps it readable; nothing is left behind).
    private static func extractToOpenHDF5(_ entry: Entry, in archive: Archive) throws -> HDF5File {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("model.weights.h5")
        do {
            _ = try archive.extract(entry, to: url, skipCRC32: false)
        } catch {
            throw ModelError("cannot extract model.weights.h5 from the archive: \(error)")
        }
        return try HDF5File.open(url.path)
    }
}

/// Weights in Keras 3's object-path layout (`.weights.h5`, `model.weights.h5`): each layer's variables
/// at `layers/<snake_case class>[_n]/.../vars/<i>`.
struct ObjectPathWeights {
    let root: HDF5Group

    func bind(to model: Model) throws {
        var names = StorageNames()
        for layer in model.layers {
            let base = "layers/" + names.next(for: layer) + "/"
            try locating(layer: layer.label) {
                let arrays: [WeightArray]
                if layer.builtInputShapes == nil {
                    arrays = try ownVariables(at: base)
                } else {
                    arrays = try layer.weightSpecs.map { spec in
                        let path = base + spec.storagePath
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

    /// `vars/0`, `vars/1`, ... directly under `base`, for a layer whose weights kconv cannot predict.
    private func ownVariables(at base: String) throws -> [WeightArray] {
        var arrays: [WeightArray] = []
        while try root.kind(of: base + "vars/\(arrays.count)") == .dataset {
            let path = base + "vars/\(arrays.count)"
            arrays.append(try LegacyWeightGroups.array(root.dataset(path), name: path))
        }
        return arrays
    }
}
