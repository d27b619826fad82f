import KConvGraph
import Foundation
import KConvIO

/// Reads a TensorFlow.js layers model: the `model.json` that `tensorflowjs_converter` or a tfjs-layers
/// `model.save()` writes, with the weight shards its manifest lists.
package enum TFJSReader {
    /// Whether a parsed JSON document is a TensorFlow.js model.json rather than a Keras config: only the
    /// former has a top-level `modelTopology`.
    package static func isModelJSON(_ document: JSONValue) -> Bool {
        document["modelTopology"] != nil
    }

    /// Builds the model from `modelTopology` — tensorflowjs's `{"keras_version", "backend", "model_config"}`
    /// or, as tfjs-layers saves, the model config itself — and binds the manifest's weights to it by name.
    package static func load(_ path: String, document: JSONValue, weightsPath: String?) throws -> KerasModel {
        guard weightsPath == nil else {
            throw ModelError("a TensorFlow.js model.json lists its own weight files; give it without --weights")
        }
        if let format = document["format"]?.stringValue, format != TFJSLayout.format {
            throw ModelError(field: "format", "expected '\(TFJSLayout.format)', found '\(format)': kconv reads TensorFlow.js layers models, not graph models (a TensorFlow graph, no Keras layers)")
        }
        guard let topology = document["modelTopology"], topology.objectValue != nil else {
            throw ModelError(field: "modelTopology", "expected the Keras model config, found \(ConfigReader.describe(document["modelTopology"] ?? .null))")
        }
        var config = topology["model_config"] ?? topology
        if let text = config.stringValue {
            config = try locating(field: "modelTopology.model_config") { try JSONValue.parse(text) }
        }
        let version = topology["keras_version"]?.stringValue ?? config["keras_version"]?.stringValue
        let backend = topology["backend"]?.stringValue ?? config["backend"]?.stringValue
        // tfjs-layers saves "tfjs-layers x.y.z" as its version: Keras 2 vocabulary.
        let dialect = KerasModel.detectDialect(version: version, config: config, defaultDialect: .keras2)
        let model = try locating(field: "modelTopology") { try KerasModel.buildModel(config, dialect: dialect) }

        var layout = WeightsLayout.none
        var shards: [String] = []
        if let manifestValue = document["weightsManifest"], !manifestValue.isNull {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            let manifest = try TFJSManifest(manifestValue, directory: directory)
            try bind(manifest, to: model)
            layout = .tfjs
            shards = manifest.shardPaths
        }
        return KerasModel(path: path, weightsPath: nil, format: .tfjs, weightsLayout: layout, kerasVersion: version,
                          backend: backend, dialect: dialect, model: model, dataFiles: shards)
    }

    /// Binds weights by name, as tfjs-layers' `LayersModel.loadWeights` does in its default strict mode:
    /// every weight of the model must be listed, and every listed weight must belong to the model. A listed
    /// name matches a weight's Keras 2 name (`lstm/lstm_cell/kernel`), or tfjs-layers' own name for it
    /// (`lstm/kernel`), directly or once its second-to-last part is dropped (`lstm/lstm_cell_1/kernel`), or
    /// the Keras 3 object path tensorflowjs names the weights of a `.keras` file by (`layers/lstm/cell/vars/0`).
    /// Weights are in the Keras 2 layout, which is the only one tfjs-layers reads. A layer whose shapes kconv
    /// cannot infer takes the listed weights under its name as they are.
    package static func bind(_ manifest: TFJSManifest, to model: Model) throws {
        let slots = try WeightSlots(model)
        var found = model.layers.map { [WeightArray?](repeating: nil, count: $0.weightSpecs.count) }
        var adopted: [Int: [WeightArray]] = [:]
        let unbuilt = Dictionary(model.layers.indices.filter { model.layers[$0].builtInputShapes == nil }
            .map { (model.layers[$0].name, $0) }, uniquingKeysWith: { first, _ in first })

        for entry in manifest.entries where !entry.isOptimizerState {
            if let slot = slots.match(entry.name) {
                if let earlier = found[slot.layer][slot.index] {
                    throw ModelError(field: "\(entry.field) '\(entry.name)'", "names the same weight of \(model.layers[slot.layer].label) as '\(earlier.name)' listed before it")
                }
                found[slot.layer][slot.index] = manifest.array(entry)
            } else if let owner = entry.name.split(separator: "/").first, let layer = unbuilt[String(owner)] {
                adopted[layer, default: []].append(manifest.array(entry))
            } else {
                throw ModelError(field: "\(entry.field) '\(entry.name)'", "matches no weight of the model; TensorFlow.js binds weights by name, and \(slots.examples)")
            }
        }
        for (index, layer) in model.layers.enumerated() {
            try locating(layer: layer.label) {
                if layer.builtInputShapes == nil {
                    if let arrays = adopted[index] { layer.adoptFileWeights(arrays) }
                    return
                }
                guard !layer.weightSpecs.isEmpty else { return }
                let names = TFJSLayout.weightNames(layer)
                let arrays = try found[index].enumerated().map { position, array in
                    guard let array else {
                        throw ModelError(field: "weight '\(names[position])'", "not in the weights manifest")
                    }
                    return array
                }
                try WeightBinding.bind(arrays, to: layer, dialect: .keras2)
            }
        }
        try WeightBinding.bindInferred(model, dialect: .keras2)
    }
}

/// The model's weights by every name a manifest may give them.
private struct WeightSlots {
    package struct Slot { let layer: Int; let index: Int }

    /// Keras 2 names (`lstm/lstm_cell/kernel`).
    private var names: [String: Slot] = [:]
    /// tfjs-layers names (`lstm/kernel`) where unambiguous, and Keras 3 object paths (`layers/lstm/cell/vars/0`).
    private var aliases: [String: Slot] = [:]
    /// What the model's weights are called, for messages.
    package let examples: String

    package init(_ model: Model) throws {
        var all: [String] = []
        for (layerIndex, layer) in model.layers.enumerated() {
            for (index, name) in TFJSLayout.weightNames(layer).enumerated() {
                guard names[name] == nil else {
                    throw ModelError(layer: layer.label, field: "weight '\(name)'", "another weight of the model has this name, so weights cannot be bound by name")
                }
                names[name] = Slot(layer: layerIndex, index: index)
                all.append(name)
            }
        }
        var ambiguous: Set<String> = []
        for name in all {
            guard let alias = TFJSLayout.cellless(name), names[alias] == nil, let slot = names[name] else { continue }
            if aliases[alias] != nil { ambiguous.insert(alias) } else { aliases[alias] = slot }
        }
        for alias in ambiguous { aliases[alias] = nil }
        for (layerIndex, layer) in model.layers.enumerated() {
            let base = model.objectPathPrefix(of: layer)
            for (index, spec) in layer.weightSpecs.enumerated() where names[base + spec.objectPath] == nil {
                aliases[base + spec.objectPath] = Slot(layer: layerIndex, index: index)
            }
        }
        examples = all.isEmpty ? "the model has no weights"
            : "the model's are named like " + all.prefix(3).map { "'\($0)'" }.joined(separator: ", ") + (all.count > 3 ? ", ..." : "")
    }

    /// tfjs-layers' rule: the whole name, else the name without its second-to-last part.
    package func match(_ name: String) -> Slot? {
        if let slot = names[name] ?? aliases[name] { return slot }
        return TFJSLayout.cellless(name).flatMap { names[$0] ?? aliases[$0] }
    }
}
