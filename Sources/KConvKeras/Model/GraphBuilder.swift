import KConvGraph
import KConvIO
/// Turns a Sequential or Functional config (already normalised by `Dialect`) into layers and nodes.
///
/// Inbound nodes come in two forms: Keras 1/2 lists of `[layer, node_index, tensor_index, kwargs]`, and
/// Keras 3 `{"args": [...], "kwargs": {...}}` objects holding `__keras_tensor__` entries whose
/// `keras_history` is `[layer, node_index, tensor_index]`. Both reduce to `InboundCall`.
package struct GraphBuilder {
    package let context: LayerContext

    package struct Graph {
        package var kind: Model.Kind
        package var layers: [Layer]
        /// Layers and Keras 3 operation nodes in config order (Keras's `model.operations`).
        package var operations: [Layer]
        package var nodes: [Node]
        package var inputs: [TensorRef]
        package var outputs: [TensorRef]
    }

    /// A reference, as configs write it, to the `tensor`-th output of the `node`-th call of `layer`.
    package struct ConfigTensor: Equatable {
        package var layer: String
        package var node: Int
        package var tensor: Int
    }

    package struct InboundCall {
        package var inputs: [ConfigTensor]
        package var keywordInputs: [(name: String, tensors: [ConfigTensor])]
        /// The call as the config wrote it, for what is not a tensor (an operation's constant operands, a
        /// Keras 2 call's `training` flag).
        package var raw: JSONValue = .null
    }

    private var config: ConfigReader { context.config }

    package func build() throws -> Graph {
        context.className == "Sequential" ? try buildSequential() : try buildFunctional()
    }

    // MARK: Sequential

    private func buildSequential() throws -> Graph {
        guard let entries = config.object["layers"]?.arrayValue else {
            throw config.error("layers", expected: "a list of layers", found: config.object["layers"])
        }
        var layers = try entries.enumerated().map { index, entry in
            guard let object = entry.objectValue else {
                throw ModelError(field: "config.layers[\(index)]", "expected a layer object, found \(ConfigReader.describe(entry))")
            }
            return try context.buildLayer(object)
        }
        let input: Layer
        if let first = layers.first as? InputLayer {
            input = first
            layers.removeFirst()
        } else {
            input = try implicitInput(firstLayer: layers.first)
        }
        var nodes = [Node(layer: input, inputs: [], keywordInputs: [])]
        for layer in layers {
            nodes.append(Node(layer: layer, inputs: [TensorRef(node: nodes.count - 1, index: 0)], keywordInputs: []))
        }
        return Graph(kind: .sequential, layers: layers, operations: layers, nodes: nodes,
                     inputs: [TensorRef(node: 0, index: 0)], outputs: [TensorRef(node: nodes.count - 1, index: 0)])
    }

    /// The InputLayer Keras creates for a Sequential whose first layer carries `batch_input_shape`
    /// (or that was built with `build_input_shape`).
    private func implicitInput(firstLayer: Layer?) throws -> Layer {
        let first = firstLayer.map { ConfigReader($0.config) }
        let nestedInput = (firstLayer as? Model)?.inputLayers.first?.batchShape
        let shape = try nestedInput ?? first?.optionalShape("batch_input_shape") ?? config.optionalShape("build_input_shape")
        guard let shape else {
            throw ModelError(layer: "model '\(context.name)'", "Sequential model has no input shape: neither an InputLayer, a batch_input_shape on its first layer, nor a build_input_shape")
        }
        var inputConfig = JSONObject()
        inputConfig["batch_input_shape"] = .array(shape.map { $0.map { .int(Int64($0)) } ?? .null })
        inputConfig["dtype"] = first?.object["dtype"] ?? .string("float32")
        inputConfig["name"] = .string((firstLayer?.name ?? context.name) + "_input")
        return try context.buildLayer(JSONObject([("class_name", .string("InputLayer")), ("config", .object(inputConfig))]))
    }

    // MARK: Functional

    private func buildFunctional() throws -> Graph {
        guard let entries = config.object["layers"]?.arrayValue else {
            throw config.error("layers", expected: "a list of layers", found: config.object["layers"])
        }
        var layers: [Layer] = []
        var layerByName: [String: Layer] = [:]
        var pendingCalls: [(layer: Layer, calls: [InboundCall])] = []
        for (index, entry) in entries.enumerated() {
            guard let object = entry.objectValue else {
                throw ModelError(field: "config.layers[\(index)]", "expected a layer object, found \(ConfigReader.describe(entry))")
            }
            let layer = try context.buildLayer(object)
            guard layerByName[layer.name] == nil else {
                throw ModelError(field: "config.layers[\(index)]", "two layers are named '\(layer.name)'")
            }
            layerByName[layer.name] = layer
            layers.append(layer)
            let calls = try locating(layer: layer.label, field: "inbound_nodes") {
                try Self.inboundCalls(object["inbound_nodes"] ?? .array([]))
            }
            pendingCalls.append((layer, layer is InputLayer ? [] : calls))
        }

        var nodes: [Node] = []
        var nodeIndex: [String: [Int]] = [:]  // layer name → its calls' nodes, in call order
        for layer in layers where layer is InputLayer {
            nodeIndex[layer.name] = [nodes.count]
            nodes.append(Node(layer: layer, inputs: [], keywordInputs: []))
        }
        let dialect = context.dialect
        /// The node a reference names: from an inbound node, or (`modelIO`) from `input_layers`/`output_layers`.
        func resolve(_ tensor: ConfigTensor, modelIO: Bool = false) -> TensorRef? {
            guard let layer = layerByName[tensor.layer], let calls = nodeIndex[tensor.layer] else { return nil }
            let call = tensor.node - Self.firstCallIndex(of: layer, dialect: dialect, modelIO: modelIO)
            return calls.indices.contains(call) ? TensorRef(node: calls[call], index: tensor.tensor) : nil
        }

        // Keras adds nodes in passes, deferring a call until the tensors it consumes exist.
        var nextCall = Array(repeating: 0, count: pendingCalls.count)
        var progressed = true
        while progressed {
            progressed = false
            for (index, pending) in pendingCalls.enumerated() {
                while nextCall[index] < pending.calls.count {
                    let call = pending.calls[nextCall[index]]
                    let inputs = call.inputs.compactMap { resolve($0) }
                    let keywords = call.keywordInputs.map { (name: $0.name, tensors: $0.tensors.compactMap { resolve($0) }) }
                    guard inputs.count == call.inputs.count,
                          zip(keywords, call.keywordInputs).allSatisfy({ $0.tensors.count == $1.tensors.count })
                    else { break }
                    nodeIndex[pending.layer.name, default: []].append(nodes.count)
                    let (named, others) = Self.namedInputs(inputs, keywords, of: pending.layer)
                    nodes.append(Node(layer: pending.layer, inputs: named, keywordInputs: others, call: call.raw))
                    nextCall[index] += 1
                    progressed = true
                }
            }
        }
        for (index, pending) in pendingCalls.enumerated() where nextCall[index] < pending.calls.count {
            let call = pending.calls[nextCall[index]]
            let missing = (call.inputs + call.keywordInputs.flatMap(\.tensors)).first { resolve($0) == nil }
            let what = missing.map { "['\($0.layer)', \($0.node), \($0.tensor)]" } ?? "an input"
            throw ModelError(layer: pending.layer.label, field: "inbound_nodes",
                             "refers to \(what), which no layer of the model produces")
        }

        let inputs = try tensorList("input_layers").map { tensor in
            guard let ref = resolve(tensor, modelIO: true), nodes[ref.node].layer is InputLayer else {
                throw ModelError(field: "config.input_layers", "'\(tensor.layer)' is not an input layer of the model")
            }
            return ref
        }
        let outputs = try tensorList("output_layers").map { tensor in
            guard let ref = resolve(tensor, modelIO: true) else {
                throw ModelError(field: "config.output_layers", "refers to ['\(tensor.layer)', \(tensor.node), \(tensor.tensor)], which does not exist")
            }
            return ref
        }
        // Keras 3 records backend operations (`keras.ops.not_equal` computing a mask) as graph nodes, but
        // they are not layers: `model.layers` leaves them out, and so do weight paths.
        return Graph(kind: .functional, layers: layers.filter { !($0 is KerasOperation) }, operations: layers, nodes: nodes, inputs: inputs, outputs: outputs)
    }

    /// A layer whose call names its tensors (`CallSignature.named`) takes them in its parameters' order,
    /// whether given positionally or by keyword; other layers' calls are left as they are.
    private static func namedInputs(_ inputs: [TensorRef], _ keywords: [(name: String, tensors: [TensorRef])],
                                    of layer: Layer) -> ([TensorRef], [(name: String, tensors: [TensorRef])]) {
        guard case .named(let parameters, _) = layer.callSignature, inputs.count < parameters.count else { return (inputs, keywords) }
        var named = inputs
        var others = keywords
        for parameter in parameters.dropFirst(inputs.count) {
            guard let index = others.firstIndex(where: { $0.name == parameter && $0.tensors.count == 1 }) else { break }
            named.append(others[index].tensors[0])
            others.remove(at: index)
        }
        return (named, others)
    }

    /// The argument `name` of a recorded call that is not a tensor (`return_attention_scores: true`): from a
    /// Keras 3 call's `kwargs`, or the kwargs a Keras 1/2 call carries on its (first) entry.
    package static func recordedArgument(_ call: JSONValue, _ name: String) -> JSONValue? {
        if let kwargs = call["kwargs"]?.objectValue { return kwargs[name] }
        let entry = configTensor(call) != nil ? call : call.arrayValue?.first
        guard let items = entry?.arrayValue, items.count > 3 else { return nil }
        return items[3][name]
    }

    /// The node index a config of `dialect` gives `layer`'s first call in the enclosing model. Keras 1/2 count
    /// a nested model's own node, linking its inputs to its outputs, first (tf-keras `_should_skip_first_node`),
    /// so its calls start at 1. Keras 3's models have no such node: inbound nodes count every layer's calls
    /// from 0, yet `input_layers`/`output_layers` (`modelIO`) still start a Functional's at 1 (Keras 3
    /// `Functional.get_config` reindexes them so, and `functional_from_config` subtracts 1; its Sequential is
    /// not a Functional).
    package static func firstCallIndex(of layer: Layer, dialect: KerasDialect, modelIO: Bool) -> Int {
        guard let model = layer as? Model else { return 0 }
        guard dialect == .keras3 else { return 1 }
        return modelIO && model.kind == .functional ? 1 : 0
    }

    /// `input_layers` / `output_layers`: a list of `[name, node, tensor]`, or (Keras 3) one such triple,
    /// or a dict of them.
    private func tensorList(_ key: String) throws -> [ConfigTensor] {
        let value = config.object[key] ?? .array([])
        if let single = Self.configTensor(value) { return [single] }
        let items = value.arrayValue ?? value.objectValue.map { $0.map(\.value) } ?? []
        return try items.map { item in
            guard let tensor = Self.configTensor(item) else {
                throw config.error(key, expected: "[layer name, node index, tensor index] entries", found: value)
            }
            return tensor
        }
    }

    /// Reads `[name, node, tensor]` (with an optional 4th kwargs entry), or nil if `value` is not one.
    package static func configTensor(_ value: JSONValue) -> ConfigTensor? {
        guard let items = value.arrayValue, (3...4).contains(items.count),
              let layer = items[0].stringValue, let node = items[1].intValue, let tensor = items[2].intValue,
              node >= 0, tensor >= 0
        else { return nil }
        return ConfigTensor(layer: layer, node: node, tensor: tensor)
    }

    package static func inboundCalls(_ value: JSONValue) throws -> [InboundCall] {
        guard let calls = value.arrayValue else {
            throw ModelError("expected a list of calls, found \(ConfigReader.describe(value))")
        }
        return try calls.map { call in
            if let object = call.objectValue { return keras3Call(object) }
            // tf.keras writes a one-tensor call (TFOpLambda, ...) as the bare entry, not a list of entries.
            if configTensor(call) != nil || isConstantEntry(call) {
                let kwargs = call.arrayValue.flatMap { $0.count > 3 ? $0[3].objectValue : nil } ?? JSONObject()
                return InboundCall(inputs: configTensor(call).map { [$0] } ?? [], keywordInputs: keywordTensors(kwargs, legacy: true), raw: call)
            }
            guard let entries = call.arrayValue else {
                throw ModelError("expected a call, found \(ConfigReader.describe(call))")
            }
            var inputs: [ConfigTensor] = []
            for entry in entries where !isConstantEntry(entry) {
                guard let tensor = configTensor(entry) else {
                    throw ModelError("expected [layer name, node index, tensor index, kwargs], found \(ConfigReader.describe(entry))")
                }
                inputs.append(tensor)
            }
            let kwargs = entries.first?.arrayValue.flatMap { $0.count > 3 ? $0[3].objectValue : nil } ?? JSONObject()
            return InboundCall(inputs: inputs, keywordInputs: keywordTensors(kwargs, legacy: true), raw: call)
        }
    }

    /// tf-keras's entry for a first argument that is a constant rather than a tensor (`tf.math.multiply(0.71,
    /// y)`, which `activations.elu(x, alpha=0.71)` records): `["_CONSTANT_VALUE", -1, value, kwargs?]`. It
    /// names no tensor; the call's tensors are in its kwargs.
    private static func isConstantEntry(_ value: JSONValue) -> Bool {
        guard let items = value.arrayValue, (3...4).contains(items.count) else { return false }
        return items[0].stringValue == "_CONSTANT_VALUE" && items[1].intValue == -1
    }

    private static func keras3Call(_ call: JSONObject) -> InboundCall {
        var inputs: [ConfigTensor] = []
        collectKeras3Tensors(call["args"] ?? .array([]), into: &inputs)
        return InboundCall(inputs: inputs, keywordInputs: keywordTensors(call["kwargs"]?.objectValue ?? JSONObject(), legacy: false),
                           raw: .object(call))
    }

    private static func keywordTensors(_ kwargs: JSONObject, legacy: Bool) -> [(name: String, tensors: [ConfigTensor])] {
        kwargs.compactMap { key, value in
            var tensors: [ConfigTensor] = []
            if legacy { collectLegacyTensors(value, into: &tensors) } else { collectKeras3Tensors(value, into: &tensors) }
            return tensors.isEmpty ? nil : (key, tensors)
        }
    }

    private static func collectLegacyTensors(_ value: JSONValue, into tensors: inout [ConfigTensor]) {
        if let tensor = configTensor(value) {
            tensors.append(tensor)
        } else if let items = value.arrayValue {
            for item in items { collectLegacyTensors(item, into: &tensors) }
        }
    }

    private static func collectKeras3Tensors(_ value: JSONValue, into tensors: inout [ConfigTensor]) {
        if let object = value.objectValue {
            if object["class_name"]?.stringValue == "__keras_tensor__",
               let history = object["config"]?["keras_history"], let tensor = configTensor(history) {
                tensors.append(tensor)
            } else {
                for (_, member) in object { collectKeras3Tensors(member, into: &tensors) }
            }
        } else if let items = value.arrayValue {
            for item in items { collectKeras3Tensors(item, into: &tensors) }
        }
    }
}
