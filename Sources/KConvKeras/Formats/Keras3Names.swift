import KConvGraph
import KConvIO
/// Layer names Keras 3 refuses, and the names kconv writes for them.
///
/// Keras 3 refuses a layer (any `Operation`) whose name contains `/` ("Argument `name` must be a string and
/// cannot contain character `/`"), which tf-keras allowed and its applications use (`conv1/conv` in DenseNet121).
/// The rule: every `/` becomes `_`; a result that another layer of the model already has (or an earlier rename
/// took) gets the first free suffix of `_1`, `_2`, .... A `.keras` archive keeps the map in its `metadata.json`
/// (which Keras 3 writes and never reads) under `metadataKey`, written name → original, and kconv reading such
/// an archive gives the layers their original names back, so a round trip to Keras 2 restores them.
package enum Keras3Names {
    /// The `metadata.json` key holding `{written name: original name}`.
    package static let metadataKey = "kconv_renamed_layers"

    /// The renames Keras 3 needs for the layers of `model`, at any depth, in layer order.
    package static func renames(_ model: Model) -> [(original: String, written: String)] {
        var names: [String] = []
        func collect(_ layer: Layer) {
            names.append(layer.name)
            for inner in layer.sublayers { collect(inner) }
        }
        for layer in model.operations { collect(layer) }
        var taken = LayerNames(names), renames: [(original: String, written: String)] = [], seen = Set<String>()
        for name in names where name.contains("/") && seen.insert(name).inserted {
            renames.append((name, taken.free(name.replacingOccurrences(of: "/", with: "_"))))
        }
        return renames
    }

    /// The map a `metadata.json` keeps under `metadataKey`: written name → original name.
    package static func originalNames(_ value: JSONValue) throws -> [String: String] {
        let field = "metadata.json: \(metadataKey)"
        guard let object = value.objectValue else { throw ModelError(field: field, "expected an object of names, found \(ConfigReader.describe(value))") }
        var map: [String: String] = [:]
        for (written, original) in object {
            guard let original = original.stringValue else {
                throw ModelError(field: "\(field).\(written)", "expected a layer name, found \(ConfigReader.describe(original))")
            }
            map[written] = original
        }
        return map
    }

    /// `config` (a model entry, as `ConfigExport` writes it) with every layer name `map` holds replaced: each
    /// layer entry's `name` and `config.name`, the layer names in tensors' `keras_history` and in
    /// `input_layers`/`output_layers`, in nested models and wrapped layers too.
    package static func renamed(_ config: JSONValue, _ map: [String: String]) -> JSONValue {
        guard !map.isEmpty else { return config }
        func name(_ value: JSONValue) -> JSONValue { value.stringValue.flatMap { map[$0] }.map(JSONValue.string) ?? value }
        /// `[layer, node, tensor]`, or a list of them.
        func history(_ value: JSONValue) -> JSONValue {
            guard let items = value.arrayValue, let first = items.first else { return value }
            if first.arrayValue != nil { return .array(items.map(history)) }
            return .array([name(first)] + items.dropFirst())
        }
        func walk(_ value: JSONValue) -> JSONValue {
            if let items = value.arrayValue { return .array(items.map(walk)) }
            guard var object = value.objectValue else { return value }
            for (key, member) in object where key != "dtype" {
                switch key {
                case "keras_history", "input_layers", "output_layers": object[key] = history(member)
                default: object[key] = walk(member)
                }
            }
            if object["class_name"] != nil, var inner = object["config"]?.objectValue, let own = inner["name"] {
                inner["name"] = name(own)
                object["config"] = .object(inner)
                if let outer = object["name"] { object["name"] = name(outer) }
            }
            return .object(object)
        }
        return walk(config)
    }
}
