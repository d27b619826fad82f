import KConvGraph
import KConvIO
/// Writes a native model's configs in one Keras generation's vocabulary: the inverse of `Dialect`, and the
/// one place where configs are translated between Keras 2 (tf-keras 2.x) and Keras 3.
///
/// Layer configs start from the normalised `Layer.config` and the layers' typed properties. A key the
/// target does not know is dropped when it holds its default and is an error otherwise; a function whose
/// name means different maths in the target (`hard_sigmoid`) is written exactly by scaling the weights that
/// feed it (`weightRewrites`), or refused unless the caller opted in to the approximation; every change is
/// recorded in `notes`.
package final class ConfigExport {
    package let target: KerasDialect
    package let options: ExportOptions
    /// What the conversion changed or approximated, for the report.
    package private(set) var notes: [String] = []
    /// Whether a function was written as one with different maths (asked for by the caller), so that the
    /// converted model's outputs are not expected to match.
    package private(set) var approximated = false
    /// The weights the written functions need changed (see `activation`).
    package private(set) var weightRewrites = WeightRewrites()

    /// Records what the conversion changed, for the report.
    package func note(_ text: String) { notes.append(text) }

    package init(target: KerasDialect, options: ExportOptions) throws {
        guard target != .keras1 else { throw ModelError("kconv writes Keras 2 and Keras 3 files, not Keras 1") }
        self.target = target
        self.options = options
    }

    // MARK: Models

    /// `{"class_name", "config", ...}` for a model, as `model_config` and `to_json()` hold it.
    package func modelEntry(_ model: Model) throws -> JSONObject {
        let sequential = model.kind == .sequential
        var entry = JSONObject()
        if target == .keras3 { entry["module"] = .string(sequential ? "keras" : "keras.src.models.functional") }
        entry["class_name"] = .string(sequential ? "Sequential" : "Functional")
        entry["config"] = .object(try locating(layer: model.label) { try modelConfig(model) })
        if target == .keras3 {
            entry["registered_name"] = sequential ? .null : "Functional"
            entry["build_config"] = ["input_shape": sequential ? shapeJSON(model.inputShapes.first ?? []) : .null]
        }
        return entry
    }

    private func modelConfig(_ model: Model) throws -> JSONObject {
        var config = JSONObject()
        config["name"] = .string(model.name)
        if model.kind == .functional || target == .keras3 { config["trainable"] = .bool(model.trainable) }
        if model.kind == .sequential {
            if target == .keras3 { config["dtype"] = dtypePolicy("float32") }
            guard let input = model.inputLayers.first else {
                throw ModelError("a Sequential model without an input layer cannot be written")
            }
            config["layers"] = .array(try [.object(inputEntry(input))] + model.layers.map { .object(try layerEntry($0)) })
            if target == .keras3 { config["build_input_shape"] = shapeJSON(input.batchShape) }
            return config
        }
        let graph = try GraphExport(model: model, target: target)
        config["layers"] = .array(try graph.layerOrder.map { layer in
            var entry = layer is InputLayer ? try inputEntry(layer) : try layerEntry(graph.written(layer))
            entry["name"] = .string(layer.name)
            entry["inbound_nodes"] = .array(try locating(layer: layer.label, field: "inbound_nodes") {
                try graph.calls(of: layer)
            })
            return .object(entry)
        })
        config["input_layers"] = graph.tensorList(model.inputs)
        config["output_layers"] = graph.tensorList(model.outputs)
        return config
    }

    // MARK: Layers

    /// The entry of a layer inside a container: `{"class_name", "config"}`, plus Keras 3's `module`,
    /// `registered_name` and `build_config`.
    package func layerEntry(_ layer: Layer) throws -> JSONObject {
        if let model = layer as? Model { return try modelEntry(model) }
        if let input = layer as? InputLayer { return try inputEntry(input) }
        return try locating(layer: layer.label) {
            if let reason = type(of: layer).absentIn[target] { throw ModelError(reason) }
            if let reason = type(of: layer).inferenceDiffersBetweenGenerations, layer.dialect != target { throw ModelError(reason) }
            let operation = layer as? KerasOperation
            // A class kconv does not know, or a Keras 3 operation, keeps the registration its config gave it.
            let registration = layer is UnsupportedLayer || operation != nil ? layer.registration
                : type(of: layer).keras3Registration.map { (JSONValue.string($0.module), JSONValue.string($0.registeredName)) }
            if target == .keras2, let path = type(of: layer).keras2CustomObject {
                let note = "no Keras 2 library registers class \(layer.className): tf-keras loads it only when given custom_objects={\"\(layer.className)\": \(path)}, TensorFlow.js only with a class registered under that name"
                if !notes.contains(note) { notes.append(note) }
            }
            var entry = JSONObject()
            if target == .keras3 {
                entry["module"] = registration?.module ?? .string(operation?.kerasModule ?? "keras.layers")
            }
            entry["class_name"] = .string(try className(layer))
            entry["config"] = .object(try layerConfig(layer))
            if target == .keras3 {
                // A class kconv does not know, read from a file that records no registration (a Keras 3 `.h5`), is
                // named too: Keras 3 finds a user's class by that name in its custom objects, a built-in by its module.
                entry["registered_name"] = registration?.registeredName ?? (operation != nil || layer is UnsupportedLayer ? .string(layer.className) : .null)
                if operation == nil, let shapes = layer.builtInputShapes, let first = shapes.first {
                    let sequenceOnly = layer.callSignature == .sequenceAndStates || shapes.count == 1
                    if case .named(let parameters, _) = layer.callSignature {
                        // Keras 3 builds such a layer with `build(**shapes_dict)`: `query_shape=...`.
                        let shapes = zip(parameters, shapes).map { ($0 + "_shape", shapeJSON($1)) }
                        entry["build_config"] = ["shapes_dict": .object(JSONObject(shapes))]
                    } else {
                        entry["build_config"] = ["input_shape": sequenceOnly ? shapeJSON(first) : .array(shapes.map(shapeJSON))]
                    }
                }
            }
            return entry
        }
    }

    /// An InputLayer, rebuilt from its typed shape and dtype in the target's words.
    private func inputEntry(_ layer: Layer) throws -> JSONObject {
        guard let input = layer as? InputLayer else { throw ModelError(layer: layer.label, "expected an InputLayer") }
        let reader = ConfigReader(input.config)
        var config = JSONObject()
        config[target == .keras3 ? "batch_shape" : "batch_input_shape"] = shapeJSON(input.batchShape)
        config["dtype"] = .string(input.dtype)
        config["sparse"] = .bool(try reader.bool("sparse", default: false))
        config["ragged"] = .bool(try reader.bool("ragged", default: false))
        config["name"] = .string(input.name)
        let optional = try reader.bool("optional", default: false)
        if target == .keras3 {
            config["optional"] = .bool(optional)
        } else if optional {
            throw ModelError(layer: input.label, field: "config.optional", "Keras 2 has no optional inputs, found true")
        }
        var entry = JSONObject()
        if target == .keras3 { entry["module"] = "keras.layers" }
        entry["class_name"] = "InputLayer"
        entry["config"] = .object(config)
        if target == .keras3 { entry["registered_name"] = .null }
        return entry
    }

    private func className(_ layer: Layer) throws -> String {
        if layer is UnsupportedLayer, layer.dialect != target {
            throw ModelError("kconv does not know class \(layer.className), so it cannot translate its \(layer.dialect) config to \(target)"
                + (layer.className == "Lambda" ? " (a Lambda holds Python code serialised for one Keras version)" : ""))
        }
        return type(of: layer).writtenClassNames[target] ?? layer.className
    }

    /// The layer's config in the target vocabulary.
    private func layerConfig(_ layer: Layer) throws -> JSONObject {
        var config = JSONObject()
        for (key, value) in layer.config { config[key] = nestedObjects(value, key: key) }
        for (key, value) in config where key.hasSuffix("_initializer") && value.stringValue?.hasPrefix("<") == true {
            // A Python function ("<lambda>") no Keras can load; initializers only matter when training from scratch.
            let replacement = Self.defaultInitializers[key] ?? "glorot_uniform"
            config[key] = .string(replacement)
            notes.append("\(layer.label): \(key) \(value.stringValue ?? "") is Python code; written as \(replacement) (used only to train from scratch)")
        }
        // An operation's `dtype` is an argument (`cast`'s target), not a layer's dtype policy.
        if let dtype = config["dtype"], !(layer is KerasOperation) { config["dtype"] = try self.dtype(dtype) }
        dropInputShapeKeys(&config, of: layer)
        try layer.exportConfig(&config, self)
        try applyKeyRules(layer, &config)
        return config
    }

    /// The activation functions a config names, by the names that mean the same functions in the target.
    package func translateActivations(_ config: inout JSONObject, of layer: Layer) throws {
        for key in ["activation", "recurrent_activation"] where config[key] != nil {
            config[key] = try locating(field: "config.\(key)") { try activation(config[key] ?? .null, of: layer, key: key) }
        }
    }

    /// `function`, written under `key` by the name that means it in the target.
    package func setActivation(_ config: inout JSONObject, _ key: String, _ function: Activation, of layer: Layer) throws {
        config[key] = try locating(field: "config.\(key)") { try activation(.string(function.name), of: layer, key: key, typed: function) }
    }

    // MARK: Vocabulary

    /// Keys Keras 3 writes on any layer that tf-keras rejects.
    private static let keras3Only: [VersionOnlyKey] = [
        VersionOnlyKey("quantization_config", onlyIn: .keras3, value: .null, why: "Keras 2 has no quantized layers"),
        VersionOnlyKey("lora_rank", onlyIn: .keras3, value: .null, why: "Keras 2 has no LoRA"),
        VersionOnlyKey("lora_alpha", onlyIn: .keras3, value: .null, why: "Keras 2 has no LoRA"),
    ]

    /// Keras 1 keys on any layer that neither tf-keras nor Keras 3 read.
    private static let keras1Only: [VersionOnlyKey] = [
        "W_regularizer", "b_regularizer", "U_regularizer", "W_constraint", "b_constraint", "U_constraint",
    ].map { VersionOnlyKey($0, onlyIn: .keras1, value: .null, why: "a Keras 1 key") } + [
        VersionOnlyKey("consume_less", onlyIn: .keras1, why: "a Keras 1 speed setting with the same maths"),
    ]

    private func applyKeyRules(_ layer: Layer, _ config: inout JSONObject) throws {
        let rules = (Self.keras3Only + Self.keras1Only + layer.versionOnlyKeys).filter { rule in
            rule.onlyIn == .keras1 ? layer.dialect == .keras1 : rule.onlyIn != target
        }
        for rule in rules {
            guard let value = config[rule.key] else { continue }
            if let expected = rule.value, value != expected, value.doubleValue == nil || value.doubleValue != expected.doubleValue {
                throw ModelError(field: "config.\(rule.key)",
                                 "\(target) cannot express \(ConfigReader.describe(value)) (\(rule.why)); only \(ConfigReader.describe(expected)) converts")
            }
            config[rule.key] = nil
        }
    }

    /// Shape keys: Keras 2 keeps `batch_input_shape` on a first layer; Keras 3 only has InputLayers.
    private func dropInputShapeKeys(_ config: inout JSONObject, of layer: Layer) {
        var keys = ["batch_shape", "input_shape", "batch_size"]
        if !type(of: layer).ownsDimensionKeys { keys += ["input_dim", "input_length"] }
        if target == .keras3 { keys.append("batch_input_shape") }
        for key in keys { config[key] = nil }
    }

    /// An activation by the name that means the same function in the target. `hard_sigmoid` means
    /// `clip(0.2x + 0.5, 0, 1)` in Keras 1/2 and `clip(x/6 + 0.5, 0, 1)` in Keras 3: the one equals the other
    /// at 1.2x, so where the weights of an affine map make its argument (`layer.affineArguments(of: key)`)
    /// those weights are scaled by 1.2 (or 5/6) and the function is written exactly.
    package func activation(_ value: JSONValue, of layer: Layer, key: String, typed: Activation? = nil) throws -> JSONValue {
        let function = typed ?? Activation(config: value, dialect: layer.dialect)
        switch function {
        case .hardSigmoidLinear where target == .keras3, .hardSigmoidRelu6 where target == .keras2:
            let (meant, written) = function == .hardSigmoidLinear
                ? ("clip(0.2x+0.5, 0, 1)", "relu6(x+3)/6") : ("relu6(x+3)/6", "clip(0.2x+0.5, 0, 1)")
            if !layer.weights.isEmpty, let arguments = layer.affineArguments(of: key) {
                weightRewrites.scale(layer, arguments, by: target == .keras3 ? 1.2 : 5.0 / 6.0)
                notes.append("\(layer.label): \(key) hard_sigmoid (\(meant)) written as \(target)'s (\(written)) with the weights feeding it scaled by \(target == .keras3 ? "1.2" : "5/6"): the same function")
                return "hard_sigmoid"
            }
            let why = layer.weights.isEmpty && layer.affineArguments(of: key) != nil
                ? "without the weights, which would be scaled to keep it exact"
                : "and its argument is not a weighted sum kconv could scale to keep it exact"
            guard options.approximateHardSigmoid else {
                throw ModelError("hard_sigmoid here is \(layer.dialect)'s \(meant), but in \(target) hard_sigmoid means \(written) (up to 0.067 apart), \(why); pass --approximate-hard-sigmoid to accept that approximation")
            }
            approximated = true
            notes.append("\(layer.label): hard_sigmoid \(meant) written as \(target)'s \(written), an approximation (--approximate-hard-sigmoid)")
            return "hard_sigmoid"
        case .swish: return target == .keras3 ? "silu" : "swish"
        case _ where !function.isNameable:
            throw ModelError("a config names an activation without arguments, so \(function) cannot be written as one")
        case _ where function.isKeras3Only && target == .keras2:
            throw ModelError("Keras 2 has no activation \(function.name)")
        case .hardSwish: return "hard_silu"
        case .unknown: return value
        default: return .string(function.name)
        }
    }

    /// The layer dtype: Keras 3 `DTypePolicy` objects, Keras 2 names (or a mixed-precision `Policy`).
    package func dtype(_ value: JSONValue) throws -> JSONValue {
        guard let name = dtypeName(value) else { return value }
        if target == .keras3 { return dtypePolicy(name) }
        if let className = value["class_name"]?.stringValue, !["DTypePolicy", "FloatDTypePolicy", "Policy"].contains(className) {
            throw ModelError(field: "config.dtype", "Keras 2 has no dtype policy \(className)")
        }
        return name.hasPrefix("mixed_") ? ["class_name": "Policy", "config": ["name": .string(name)]] : .string(name)
    }

    private func dtypePolicy(_ name: String) -> JSONValue {
        ["module": "keras", "class_name": "DTypePolicy", "config": ["name": .string(name)], "registered_name": .null]
    }

    /// Keras's default initializer per config key.
    private static let defaultInitializers = [
        "kernel_initializer": "glorot_uniform", "bias_initializer": "zeros", "recurrent_initializer": "orthogonal",
        "embeddings_initializer": "random_uniform", "gamma_initializer": "ones", "beta_initializer": "zeros",
        "moving_mean_initializer": "zeros", "moving_variance_initializer": "ones", "alpha_initializer": "zeros",
    ]

    /// Keras 3 names the initializer classes whose names would clash with other objects `…Initializer`
    /// (`OrthogonalInitializer`, `IdentityInitializer`); tf-keras knows them without the suffix.
    private static let keras3InitializerSuffix = "Initializer"

    /// Serialized objects inside a config (initializers, regularizers, constraints): Keras 3 gives them a
    /// `module` and `registered_name`, Keras 2 neither; `shared_object_id` is a Python id and is dropped.
    private func nestedObjects(_ value: JSONValue, key: String) -> JSONValue {
        switch value {
        case .array(let items):
            return .array(items.map { nestedObjects($0, key: key) })
        case .object(var object):
            guard object["class_name"] != nil, !["layer", "backward_layer", "dtype"].contains(key) else { return value }
            object["shared_object_id"] = nil
            if target == .keras2, let name = object["class_name"]?.stringValue, name.hasSuffix(Self.keras3InitializerSuffix) {
                object["class_name"] = .string(String(name.dropLast(Self.keras3InitializerSuffix.count)))
            }
            if var inner = object["config"]?.objectValue {
                if target == .keras2 {
                    // Keras 3 initializer arguments tf-keras does not take, at their defaults.
                    for extra in ["input_axes", "output_axes"] where inner[extra]?.isNull == true { inner[extra] = nil }
                } else if inner["distribution"] == "normal" {
                    inner["distribution"] = "truncated_normal"  // what tf.keras meant by "normal"
                }
                object["config"] = .object(inner)
            }
            guard let family = ["initializer", "regularizer", "constraint"].first(where: { key.hasSuffix("_" + $0) }) else { return .object(object) }
            if target == .keras2 {
                object["module"] = nil
                object["registered_name"] = nil
            } else if object["module"] == nil {
                var entry = JSONObject()
                entry["module"] = .string("keras.\(family)s")
                for (name, member) in object { entry[name] = member }
                entry["registered_name"] = .null
                object = entry
            }
            return .object(object)
        default:
            return value
        }
    }
}

/// How a caller lets a conversion change a model's maths.
package struct ExportOptions: Sendable {
    /// Write Keras 1/2 `hard_sigmoid` (`clip(0.2x+0.5, 0, 1)`) as Keras 3's `relu6(x+3)/6`, or the reverse.
    package var approximateHardSigmoid: Bool

    package init(approximateHardSigmoid: Bool = false) {
        self.approximateHardSigmoid = approximateHardSigmoid
    }
}

/// A shape as configs write it: ints and nulls.
package func shapeJSON(_ shape: TensorShape) -> JSONValue {
    .array(shape.map { $0.map { .int(Int64($0)) } ?? .null })
}
