import KConvGraph
import KConvIO
/// A Functional model's graph as a config writes it: the layer list, each layer's inbound nodes, and the
/// input and output lists, in the Keras 2 list form or the Keras 3 `args`/`kwargs` form.
package struct GraphExport {
    package let model: Model
    package let target: KerasDialect
    /// Layers in config order: `model.layers` (whose order also numbers Keras 3 weight paths), plus for Keras 3
    /// the backend operations it records as graph nodes.
    package let layerOrder: [Layer]
    /// Each node's index among its layer's calls, from 0 (`history` adds where the target starts counting).
    private let callIndex: [Int]
    /// Operation nodes a Keras 2 graph leaves out (an Embedding mask Keras 2 computes by itself).
    private let droppedNodes: Set<Int>
    /// Nodes the target records as another layer's call, with that call (see `Layer.substitute`).
    private let substitutes: [Int: (layer: Layer, call: JSONValue)]

    package init(model: Model, target: KerasDialect) throws {
        self.model = model
        self.target = target
        var counts: [ObjectIdentifier: Int] = [:]
        callIndex = model.nodes.map { node in
            let count = counts[ObjectIdentifier(node.layer), default: 0]
            counts[ObjectIdentifier(node.layer)] = count + 1
            return count
        }
        var substitutes: [Int: (layer: Layer, call: JSONValue)] = [:]
        for (index, node) in model.nodes.enumerated() {
            substitutes[index] = try locating(layer: node.layer.label) { try node.layer.substitute(for: target, call: node.call) }
        }
        let operationNodes = model.nodes.indices.filter { model.nodes[$0].layer is KerasOperation }
        var dropped = Set<Int>()
        var order = model.layers
        for index in operationNodes {
            if target == .keras2 {
                // A mask Keras 2 computes itself is left out; another operation needs a TFOpLambda recording it.
                do {
                    try Self.checkDroppable(index, in: model)
                    dropped.insert(index)
                    substitutes[index] = nil
                    continue
                } catch {
                    if substitutes[index] == nil { throw error }
                }
            }
            guard !order.contains(where: { $0 === model.nodes[index].layer }) else { continue }
            // After the last layer producing one of its inputs, so Keras meets it once they exist.
            let producers = model.nodes[index].allInputs.map { model.nodes[$0.node].layer }
            let position = order.lastIndex { layer in producers.contains { $0 === layer } }.map { $0 + 1 } ?? 0
            order.insert(model.nodes[index].layer, at: position)
        }
        droppedNodes = dropped
        layerOrder = order
        self.substitutes = substitutes
    }

    /// The layer a config for the target records in place of `layer` (itself, unless the target records
    /// the computation another way: see `Layer.substitute`).
    package func written(_ layer: Layer) -> Layer {
        substitutes.first { model.nodes[$0.key].layer === layer }?.value.layer ?? layer
    }

    /// Keras 3 records the mask a layer computes (an Embedding's `not_equal(tokens, 0)`, a Masking's
    /// `any(not_equal(x, value), axis=-1)`) as operations whose result it passes on by `mask=`; Keras 2 has
    /// no such layers but computes the same mask in the layer itself and passes it along with the tensors.
    /// An operation node can be left out when the model has that layer computing that mask of the same
    /// tensor, and the node only reaches `mask` arguments, directly or through other such operations. Any
    /// other operation cannot be written for Keras 2.
    private static func checkDroppable(_ index: Int, in model: Model) throws {
        let layer = model.nodes[index].layer
        let refusal = ModelError(layer: layer.label, "Keras 2 has no layer for the Keras 3 operation \(layer.className); kconv only leaves out the masks an Embedding(mask_zero=True) or a Masking layer computes itself")
        guard let (source, mask) = recordedMask(index, in: model),
              model.nodes.contains(where: { $0.layer.computedMask == mask && $0.inputs.first == source }),
              !model.outputs.contains(where: { $0.node == index }) else { throw refusal }
        for (other, node) in model.nodes.enumerated() {
            if node.inputs.contains(where: { $0.node == index }) {
                guard node.layer is KerasOperation else { throw refusal }
                try checkDroppable(other, in: model)
            }
            for (name, tensors) in node.keywordInputs where name != "mask" && tensors.contains(where: { $0.node == index }) {
                throw refusal
            }
        }
    }

    /// What operation node `index` computes, followed back through the operations it reads: a mask of
    /// `source`, a tensor no operation computed.
    private static func recordedMask(_ index: Int, in model: Model) -> (source: TensorRef, mask: ComputedMask)? {
        let node = model.nodes[index]
        guard let operation = node.layer as? KerasOperation, node.inputs.count == 1 else { return nil }
        let input = node.inputs[0]
        guard model.nodes[input.node].layer is KerasOperation else {
            return operation.recordedMask(of: nil, call: node.call).map { (input, $0) }
        }
        guard let (source, operand) = recordedMask(input.node, in: model),
              let mask = operation.recordedMask(of: operand, call: node.call) else { return nil }
        return (source, mask)
    }

    // MARK: Calls

    /// The inbound nodes of `layer`, one per call.
    package func calls(of layer: Layer) throws -> [JSONValue] {
        try model.nodes.indices.filter { model.nodes[$0].layer === layer && !(layer is InputLayer) }.map { index in
            if let substitute = substitutes[index] { return try filled(substitute.call, model.nodes[index].allInputs) }
            return try target == .keras2 ? legacyCall(model.nodes[index]) : keras3Call(model.nodes[index])
        }
    }

    /// A substitute's call with its tensor placeholders replaced, in order, by `refs` in the target's form.
    private func filled(_ template: JSONValue, _ refs: [TensorRef]) throws -> JSONValue {
        var remaining = refs[...]
        func next() throws -> TensorRef {
            guard let ref = remaining.popFirst() else { throw ModelError("the call records more tensors than the \(refs.count) it reads") }
            return ref
        }
        func fill(_ value: JSONValue) throws -> JSONValue {
            if target == .keras3, value["class_name"]?.stringValue == "__keras_tensor__", value["config"]?["keras_history"] == nil {
                return keras3Tensor(try next())
            }
            if let items = value.arrayValue {
                if items.first?.stringValue == "__input__" { return .array(history(try next()) + (try items.dropFirst(3).map(fill))) }
                return .array(try items.map(fill))
            }
            if let object = value.objectValue { return .object(JSONObject(try object.map { ($0.key, try fill($0.value)) })) }
            return value
        }
        let call = try fill(template)
        guard remaining.isEmpty else { throw ModelError("the call records \(refs.count - remaining.count) of the \(refs.count) tensors it reads") }
        return call
    }

    /// Keras 2: `[[layer, node, tensor, kwargs], ...]`, one entry per positional tensor, each carrying the
    /// call's other arguments (keyword tensors as `[layer, node, tensor]`). A Keras 1/2 call is written as it
    /// was read (it may hold structure, such as a TFOpLambda's bare entry, that the tensors alone do not).
    private func legacyCall(_ node: Node) throws -> JSONValue {
        if case .array = node.call { return node.call }
        var positional = node.inputs
        var kwargs = try constantKwargs(node)
        if case .named(let parameters, _) = node.layer.callSignature {
            // tf-keras passes the first argument as `inputs`; the other named tensors go by keyword.
            for (parameter, ref) in zip(parameters, positional).dropFirst() { kwargs[parameter] = legacyTensor(ref) }
            positional = Array(positional.prefix(1))
        }
        for (name, tensors) in node.keywordInputs {
            let kept = tensors.filter { !droppedNodes.contains($0.node) }
            if kept.isEmpty { continue }
            // Initial states: further positional inputs in Keras 2, the keyword `initial_state` in Keras 3.
            if name == "initial_state", node.layer.callSignature == .sequenceAndStates {
                positional += kept
            } else {
                kwargs[name] = kept.count == 1 && tensors.count == 1 ? legacyTensor(kept[0]) : .array(kept.map(legacyTensor))
            }
        }
        return .array(positional.map { ref in
            guard case .array(let items) = legacyTensor(ref) else { return .null }
            return .array(items + [.object(kwargs)])
        })
    }

    /// Keras 3: `{"args": [...], "kwargs": {...}}` with `__keras_tensor__` entries. A Keras 3 call is written
    /// as it was read.
    private func keras3Call(_ node: Node) throws -> JSONValue {
        if case .object = node.call { return node.call }
        var positional = node.inputs
        var keywords = node.keywordInputs
        if node.layer.callSignature == .sequenceAndStates, positional.count > 1 {
            keywords.insert(("initial_state", Array(positional.dropFirst())), at: 0)
            positional = Array(positional.prefix(1))
        }
        var named: [(String, TensorRef)] = []
        if case .named(let parameters, let required) = node.layer.callSignature {
            named = Array(zip(parameters, positional).dropFirst(required))
            positional = Array(positional.prefix(required))
        }
        let takesList = node.layer.callSignature == .list || (positional.count > 1 && !isNamed(node.layer))
        let args: JSONValue = takesList ? .array([.array(positional.map(keras3Tensor))]) : .array(positional.map(keras3Tensor))
        var kwargs = try constantKwargs(node)
        for (parameter, ref) in named { kwargs[parameter] = keras3Tensor(ref) }
        for (name, tensors) in keywords {
            kwargs[name] = tensors.count == 1 && name != "initial_state" ? keras3Tensor(tensors[0]) : .array(tensors.map(keras3Tensor))
        }
        return ["args": args, "kwargs": .object(kwargs)]
    }

    private func isNamed(_ layer: Layer) -> Bool {
        if case .named = layer.callSignature { return true }
        return false
    }

    /// The call's arguments that are not tensors (`training: false`), from the call as it was read.
    private func constantKwargs(_ node: Node) throws -> JSONObject {
        var result = JSONObject()
        if let call = node.call.objectValue {
            if let args = call["args"], Self.holdsConstant(args) {
                throw ModelError("Keras 2 cannot express the constant positional arguments of this call: \(ConfigReader.describe(args))")
            }
            // Keras 3 records `training` (an augmentation's `training=True` default) but its Functional passes
            // the outer call's `training` in its place; tf-keras would honour the recorded value, running the
            // layer in training mode at inference.
            for (key, value) in call["kwargs"]?.objectValue ?? JSONObject() where !value.isNull && !Self.holdsTensor(value)
                && (key != "training" || target == .keras3) {
                result[key] = value
            }
        } else if let entries = node.call.arrayValue {
            let first = GraphBuilder.configTensor(node.call) != nil ? node.call : entries.first
            let items = first?.arrayValue ?? []
            for (key, value) in (items.count > 3 ? items[3].objectValue : nil) ?? JSONObject() where !Self.holdsTensor(value) {
                result[key] = value
            }
        }
        return result
    }

    /// Whether a value holds a tensor reference in either form.
    private static func holdsTensor(_ value: JSONValue) -> Bool {
        if GraphBuilder.configTensor(value) != nil || value["class_name"] == "__keras_tensor__" { return true }
        if let items = value.arrayValue { return items.contains(where: holdsTensor) }
        if let object = value.objectValue { return object.contains { holdsTensor($0.value) } }
        return false
    }

    /// Whether Keras 3 positional arguments hold anything but tensors and lists of them.
    private static func holdsConstant(_ value: JSONValue) -> Bool {
        if value["class_name"] == "__keras_tensor__" { return false }
        if let items = value.arrayValue { return items.contains(where: holdsConstant) }
        return true
    }

    // MARK: Tensors

    /// `[layer, node, tensor]` for a reference in an inbound node, or (`modelIO`) in `input_layers`/`output_layers`.
    private func history(_ ref: TensorRef, modelIO: Bool = false) -> [JSONValue] {
        let layer = model.nodes[ref.node].layer
        let node = callIndex[ref.node] + GraphBuilder.firstCallIndex(of: layer, dialect: target, modelIO: modelIO)
        return [.string(layer.name), .int(Int64(node)), .int(Int64(ref.index))]
    }

    private func legacyTensor(_ ref: TensorRef) -> JSONValue { .array(history(ref)) }

    private func keras3Tensor(_ ref: TensorRef) -> JSONValue {
        let shape = model.shape(of: ref).map(shapeJSON) ?? .null
        return ["class_name": "__keras_tensor__",
                "config": ["shape": shape, "dtype": .string(dtype(of: model.nodes[ref.node].layer)), "keras_history": .array(history(ref))]]
    }

    /// The dtype a layer's outputs have.
    private func dtype(of layer: Layer) -> String {
        if let input = layer as? InputLayer { return input.dtype }
        if let operation = layer as? KerasOperation { return operation.outputDType }
        let name = dtypeName(layer.config["dtype"]) ?? "float32"
        return name.hasPrefix("mixed_") ? String(name.dropFirst(6)) : name
    }

    /// `input_layers` / `output_layers`: Keras 2 always a list of `[layer, node, tensor]`; Keras 3 a bare
    /// triple for a single tensor.
    package func tensorList(_ refs: [TensorRef]) -> JSONValue {
        if target == .keras3, refs.count == 1 { return .array(history(refs[0], modelIO: true)) }
        return .array(refs.map { .array(history($0, modelIO: true)) })
    }
}
