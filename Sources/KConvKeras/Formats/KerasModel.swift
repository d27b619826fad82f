import KConvGraph
import Foundation
import KConvIO

/// The container a model was read from.
package enum ModelFileFormat: String, Sendable {
    case hdf5 = "Keras HDF5 (.h5)"
    case archive = "Keras archive (.keras)"
    case json = "Keras JSON config"
    case tfjs = "TensorFlow.js layers model (model.json)"
}

/// How the weights file (or the weights inside a model file) is laid out.
package enum WeightsLayout: String, Sendable {
    /// `layer_names`/`weight_names` groups: Keras 1, Keras 2, and Keras 3's legacy `.h5`.
    case legacy = "legacy HDF5 (layer_names/weight_names)"
    /// Keras 3 object paths: `layers/<name>/vars/<i>`.
    case objectPaths = "Keras 3 object paths (layers/.../vars)"
    /// A TensorFlow.js weights manifest: weights named as in Keras 2, bytes in binary shards.
    case tfjs = "TensorFlow.js weights manifest and shards"
    case none = "none"
}

/// A model read from any Keras file: the native graph plus what the file said about itself.
package final class KerasModel {
    package let path: String
    package let weightsPath: String?
    package let format: ModelFileFormat
    package let weightsLayout: WeightsLayout
    package let kerasVersion: String?
    package let backend: String?
    package let dialect: KerasDialect
    package let model: Model
    /// Further files the weights are read from: a TensorFlow.js model's shards.
    package let dataFiles: [String]

    package init(path: String, weightsPath: String?, format: ModelFileFormat, weightsLayout: WeightsLayout,
         kerasVersion: String?, backend: String?, dialect: KerasDialect, model: Model, dataFiles: [String] = []) {
        self.path = path
        self.weightsPath = weightsPath
        self.format = format
        self.weightsLayout = weightsLayout
        self.kerasVersion = kerasVersion
        self.backend = backend
        self.dialect = dialect
        self.model = model
        self.dataFiles = dataFiles
    }

    /// Reads a model: a full-model `.h5`, a `.keras` archive, a JSON config with an optional weights
    /// file (`.h5` in the legacy layout or Keras 3's `.weights.h5`), or a TensorFlow.js layers model.json
    /// with its shards. Only structure and weight shapes are read; weight values are read when asked for.
    /// A directory is read as a TensorFlow.js model when it holds a model.json.
    package static func load(_ path: String, weights weightsPath: String? = nil) throws -> KerasModel {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists, isDirectory.boolValue {
            let modelJSON = URL(fileURLWithPath: path).appendingPathComponent(TFJSLayout.modelFileName).path
            guard FileManager.default.fileExists(atPath: modelJSON) else {
                throw ModelError(file: path, "is a directory without a \(TFJSLayout.modelFileName): give a model file, or a TensorFlow.js model's directory")
            }
            return try load(modelJSON, weights: weightsPath)
        }
        return try locating(file: path) {
            guard exists else { throw ModelError("no such file") }
            switch try FileSignature.of(path) {
            case .hdf5:
                return try loadHDF5(path, weightsPath: weightsPath)
            case .zip:
                return try KerasArchive.load(path, weightsPath: weightsPath)
            case .text:
                return try loadJSON(path, weightsPath: weightsPath)
            case .unknown(let description):
                throw ModelError("not a Keras model file: expected HDF5, a .keras zip archive or JSON, found \(description)")
            }
        }
    }

    // MARK: HDF5 full model

    private static func loadHDF5(_ path: String, weightsPath: String?) throws -> KerasModel {
        let file = try HDF5File.open(path)
        let root = try file.root
        guard let configText = try root.attribute("model_config")?.stringValue else {
            if try LegacyWeightGroups.hasNameList(root, "layer_names") || root.kind(of: "layers") == .group {
                throw ModelError("this is a weights-only file with no model config; give the model's JSON config and this file as --weights")
            }
            throw ModelError("not a Keras model: the HDF5 file has no model_config attribute")
        }
        let version = try root.attribute("keras_version")?.stringValue
        let config = try locating(field: "model_config") { try JSONValue.parse(configText) }
        let dialect = detectDialect(version: version, config: config, defaultDialect: .keras1)
        let model = try buildModel(config, dialect: dialect)
        var layout = WeightsLayout.legacy
        if let weightsPath {
            layout = try bindWeightsFile(weightsPath, to: model, dialect: dialect)
        } else if try root.kind(of: "model_weights") == .group {
            try bindLegacy(LegacyWeightGroups(root: root.group("model_weights")), to: model, dialect: dialect)
        } else {
            layout = .none
        }
        return KerasModel(path: path, weightsPath: weightsPath, format: .hdf5, weightsLayout: layout, kerasVersion: version,
                          backend: try root.attribute("backend")?.stringValue, dialect: dialect, model: model)
    }

    // MARK: JSON config (+ weights)

    private static func loadJSON(_ path: String, weightsPath: String?) throws -> KerasModel {
        let text = try readText(path, limit: 256 << 20)
        var json = try JSONValue.parse(text)
        // Both are .json files: a TensorFlow.js model.json is told apart by its content.
        if TFJSReader.isModelJSON(json) { return try TFJSReader.load(path, document: json, weightsPath: weightsPath) }
        if let inner = json.stringValue {
            // `json.dump(model.to_json())` stores the config as a JSON string holding JSON.
            json = try locating(field: "JSON string") { try JSONValue.parse(inner) }
        }
        let version = json["keras_version"]?.stringValue
        let dialect = detectDialect(version: version, config: json, defaultDialect: .keras2)
        let model = try buildModel(json, dialect: dialect)
        let layout = try weightsPath.map { try bindWeightsFile($0, to: model, dialect: dialect) } ?? .none
        return KerasModel(path: path, weightsPath: weightsPath, format: .json, weightsLayout: layout, kerasVersion: version,
                          backend: json["backend"]?.stringValue, dialect: dialect, model: model)
    }

    // MARK: Shared steps

    /// Builds the native model from a `{"class_name", "config"}` model config.
    package static func buildModel(_ config: JSONValue, dialect: KerasDialect) throws -> Model {
        guard let object = config.objectValue, object["class_name"] != nil else {
            throw ModelError(field: "model config", "expected an object with class_name and config, found \(ConfigReader.describe(config))")
        }
        let layer = try LayerRegistry.build(object, dialect: dialect, asModel: true)
        guard let model = layer as? Model else {
            throw ModelError(field: "model config", "expected a Sequential or Functional model, found class \(layer.className)")
        }
        try model.build(model.inputShapes)
        return model
    }

    /// Binds weights from a separate weights file, in whichever layout it has.
    package static func bindWeightsFile(_ weightsPath: String, to model: Model, dialect: KerasDialect) throws -> WeightsLayout {
        try locating(file: weightsPath) {
            guard FileManager.default.fileExists(atPath: weightsPath) else { throw ModelError("no such file") }
            guard case .hdf5 = try FileSignature.of(weightsPath) else { throw ModelError("not an HDF5 weights file") }
            let root = try HDF5File.open(weightsPath).root
            let version = try root.attribute("keras_version")?.stringValue
            if try LegacyWeightGroups.hasNameList(root, "layer_names") {
                try bindLegacy(LegacyWeightGroups(root: root), to: model, dialect: version.map { KerasDialect(version: $0) } ?? .keras1)
                return .legacy
            }
            if try root.kind(of: "model_weights") == .group {
                try bindLegacy(LegacyWeightGroups(root: root.group("model_weights")), to: model, dialect: version.map { KerasDialect(version: $0) } ?? dialect)
                return .legacy
            }
            if try root.kind(of: "layers") == .group {
                try ObjectPathWeights(root: root).bind(to: model)
                return .objectPaths
            }
            throw ModelError("not a Keras weights file: no layer_names attribute, model_weights group or layers group")
        }
    }

    /// Binds legacy weight groups to the model's top-level layers: by name when every weighted layer has a
    /// group of its name (always true for files Keras wrote for this model), else by order as Keras does.
    package static func bindLegacy(_ groups: LegacyWeightGroups, to model: Model, dialect: KerasDialect) throws {
        guard model.kind != .subclassed else {
            model.adoptFileWeights(groups.layers.flatMap(\.arrays))
            return
        }
        let byName = Dictionary(groups.layers.map { ($0.name, $0.arrays) }, uniquingKeysWith: { first, _ in first })
        let weighted = model.layers.filter { !$0.weightSpecs.isEmpty || $0.builtInputShapes == nil }
        if weighted.allSatisfy({ byName[$0.name] != nil }) {
            for layer in weighted {
                try locating(layer: layer.label) { try WeightBinding.bind(byName[layer.name] ?? [], to: layer, dialect: dialect, backend: groups.backend) }
            }
        } else {
            let fileLayers = groups.layers.filter { !$0.arrays.isEmpty }
            let modelLayers = model.layers.filter { !$0.weightSpecs.isEmpty }
            guard fileLayers.count == modelLayers.count else {
                let missing = weighted.filter { byName[$0.name] == nil }.map(\.name)
                throw ModelError("the weights match no layer by name (missing: \(missing.joined(separator: ", "))) and by order the model has \(modelLayers.count) layers with weights while the file has \(fileLayers.count)")
            }
            for (layer, file) in zip(modelLayers, fileLayers) {
                try locating(layer: layer.label) { try WeightBinding.bind(file.arrays, to: layer, dialect: dialect, backend: groups.backend) }
            }
        }
        try WeightBinding.bindInferred(model, dialect: dialect, backend: groups.backend)
    }

    /// The Keras generation of a config: from `keras_version` when the file has one, else from the
    /// config's own vocabulary.
    package static func detectDialect(version: String?, config: JSONValue, defaultDialect: KerasDialect) -> KerasDialect {
        if let version { return KerasDialect(version: version) }
        if containsKey(config, ["module", "registered_name"]) { return .keras3 }
        if containsKey(config, ["inner_activation", "border_mode", "nb_filter", "init", "subsample", "W_regularizer"]) { return .keras1 }
        if containsKey(config, ["kernel_initializer", "units", "filters"]) { return .keras2 }
        return defaultDialect
    }

    /// Whether any object in `value` (searched iteratively, so deep configs cannot overflow the stack) has one of `keys`.
    private static func containsKey(_ value: JSONValue, _ keys: Set<String>) -> Bool {
        var pending = [value]
        while let next = pending.popLast() {
            if let object = next.objectValue {
                if object.keys.contains(where: keys.contains) { return true }
                pending += object.map(\.value)
            } else if let items = next.arrayValue {
                pending += items
            }
        }
        return false
    }
}

/// Reads a whole text file, refusing files over `limit` bytes.
package func readText(_ path: String, limit: Int) throws -> String {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
    guard size <= limit else { throw ModelError("file is \(size) bytes, more than the \(limit) a config may have") }
    guard let data = FileManager.default.contents(atPath: path) else { throw ModelError("cannot read the file") }
    guard let text = String(data: data, encoding: .utf8) else { throw ModelError("not UTF-8 text") }
    return text
}

/// What a file is, from its first bytes.
package enum FileSignature {
    case hdf5, zip, text
    case unknown(String)

    /// A zip archive is one before it is an HDF5 file: HDF5 also finds its signature 512, 1024, … bytes in,
    /// where a `.keras` archive kconv writes has its weights file.
    package static func of(_ path: String) throws -> FileSignature {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ModelError("cannot open the file for reading") }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 512)) ?? Data())
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) { return .zip }
        if HDF5File.isHDF5(path) { return .hdf5 }
        if head.starts(with: [0x89, 0x48, 0x44, 0x46]) { return .unknown("a damaged or truncated HDF5 file") }
        if head.isEmpty { return .unknown("an empty file") }
        let firstText = head.first { !(" \t\r\n" as String).utf8.contains($0) }
        if let firstText, "{[\"".utf8.contains(firstText) { return .text }
        if String(bytes: head, encoding: .utf8) != nil, head.allSatisfy({ $0 >= 9 }) {
            return .unknown("text that is not JSON (starts with \(String(decoding: head.prefix(20), as: UTF8.self).debugDescription))")
        }
        return .unknown("binary data starting with \(head.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " "))")
    }
}
