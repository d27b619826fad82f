import KConvGraph
import KConvIO
/// One output tensor of a node in a model graph.
public struct TensorRef: Hashable, Sendable {
    public let node: Int
    public let index: Int
}

/// One call of a layer inside a model: which tensors it consumed and the shapes it produced.
public final class Node {
    public let layer: Layer
    /// Positional tensor inputs, in call order (a merge layer's list, an RNN's input then its initial states).
    public let inputs: [TensorRef]
    /// Tensors passed by keyword (`initial_state`, `mask`, ...), in config order.
    public let keywordInputs: [(name: String, tensors: [TensorRef])]
    /// Shapes of the call's outputs; nil when they cannot be known (downstream of an unsupported layer).
    public internal(set) var outputShapes: [TensorShape]?
    /// The call as the config wrote it: Keras 3 `{"args", "kwargs"}`, or the Keras 1/2 list of
    /// `[layer, node, tensor, kwargs]` entries; null for Sequential models.
    public let call: JSONValue

    package init(layer: Layer, inputs: [TensorRef], keywordInputs: [(name: String, tensors: [TensorRef])], call: JSONValue = .null) {
        self.layer = layer
        self.inputs = inputs
        self.keywordInputs = keywordInputs
        self.call = call
    }

    package var allInputs: [TensorRef] { inputs + keywordInputs.flatMap(\.tensors) }
}

/// A Keras model — Sequential or Functional — as a graph of layer calls. A model is also a layer, so
/// models nest inside models and wrappers.
public final class Model: Layer {
    package override class var kerasClassNames: [String] { ["Sequential", "Functional"] }
    package override class var legacyClassNames: [String: String] { ["Model": "Functional"] }
    /// Models holding only their input, which they pass on.
    package override class var examples: [LayerExample] {
        let input: JSONValue = ["class_name": "InputLayer", "name": "x", "config": ["batch_input_shape": [nil, 3], "name": "x"], "inbound_nodes": []]
        return [LayerExample("Sequential", ["layers": [input]], inputs: [[3]]),
                LayerExample("Functional", ["layers": [input], "input_layers": [["x", 0, 0]], "output_layers": [["x", 0, 0]]], inputs: [[3]])]
    }
    /// `subclassed`: a user's `Model` subclass, whose computation is its Python `call()`; a file holds only
    /// its constructor arguments and weights, so it has no layer graph here.
    public enum Kind: Sendable { case sequential, functional, subclassed }

    public private(set) var kind: Kind = .functional
    /// The model's layers as Keras lists them (`model.layers`: a Sequential's excludes its InputLayer).
    public private(set) var layers: [Layer] = []
    /// `layers` with Keras 3's operation nodes in their place (`model.operations`), as Keras's summary lists them.
    public private(set) var operations: [Layer] = []
    /// Layer calls in execution order; inputs are nodes of `InputLayer`s.
    public private(set) var nodes: [Node] = []
    public private(set) var inputs: [TensorRef] = []
    public private(set) var outputs: [TensorRef] = []
    /// How many times each node's outputs are read (by later nodes and as model outputs), so the executor
    /// can release a buffer after its last reader.
    package private(set) var useCounts: [Int] = []
    /// For each weight spec, the layer that owns it and its index there.
    private var weightOwners: [(layer: Layer, index: Int)] = []
    /// What the engine made of this model once prepared for inference (its lowered graph and plan), kept
    /// here by the library that runs it.
    package var prepared: AnyObject?
    /// Where each layer's variables sit in Keras 3's object-path weights, `layers/<snake_case class>[_n]/`:
    /// as files name them, and as kconv writes them (a layer written as another class takes its folder).
    private var objectPathPrefixes: [ObjectIdentifier: (read: String, written: String)] = [:]

    /// The Keras 3 object path of `layer`'s variables in this model's weights, ending in `/`.
    package func objectPathPrefix(of layer: Layer) -> String { objectPathPrefixes[ObjectIdentifier(layer)]?.read ?? "" }
    /// The same, in the weights kconv writes.
    package func writtenObjectPathPrefix(of layer: Layer) -> String { objectPathPrefixes[ObjectIdentifier(layer)]?.written ?? "" }

    public required init(_ context: LayerContext) throws {
        try super.init(context)
        let graph = try GraphBuilder(context: context).build()
        kind = graph.kind
        layers = graph.layers
        operations = graph.operations
        nodes = graph.nodes
        inputs = graph.inputs
        outputs = graph.outputs
        useCounts = Array(repeating: 0, count: nodes.count)
        for node in nodes { for ref in node.allInputs { useCounts[ref.node] += 1 } }
        for ref in outputs { useCounts[ref.node] += 1 }
        try inferShapes(inputLayers.map(\.batchShape))
    }

    /// A user's `Model` subclass (a model file's top-level class that kconv does not know): no layers, its
    /// constructor arguments as its config, and its weights adopted as the file holds them.
    package init(subclassed context: LayerContext) throws {
        try super.init(context)
        kind = .subclassed
    }

    /// Its weights cannot be predicted from a config of constructor arguments: a subclassed model takes
    /// them as the file holds them.
    package override func build(_ inputShapes: [TensorShape]) throws {
        guard kind != .subclassed else { return }
        try super.build(inputShapes)
    }

    /// The InputLayer nodes feeding the model, in input order.
    public var inputLayers: [InputLayer] { inputs.compactMap { nodes[$0.node].layer as? InputLayer } }

    public var inputShapes: [TensorShape] { inputs.map { shape(of: $0) ?? [] } }
    /// The model's output shapes, nil where they cannot be known.
    public var outputShapesOfModel: [TensorShape?] { outputs.map(shape(of:)) }

    /// The shape of one tensor in the graph, or nil if it cannot be known.
    public func shape(of ref: TensorRef) -> TensorShape? {
        guard let shapes = nodes[ref.node].outputShapes, ref.index < shapes.count else { return nil }
        return shapes[ref.index]
    }

    /// Every node that calls `layer`, in order.
    public func nodes(of layer: Layer) -> [Node] { nodes.filter { $0.layer === layer } }

    /// Runs shape inference through the graph, building each layer on its first call.
    private func inferShapes(_ shapes: [TensorShape]) throws {
        guard shapes.count == inputs.count else {
            throw ModelError(layer: label, "expected \(inputs.count) inputs, found \(shapes.count)")
        }
        var fed: [Int: TensorShape] = [:]
        for (ref, shape) in zip(inputs, shapes) { fed[ref.node] = shape }
        let calledOnce = Self.layersCalledOnce(nodes)
        for (index, node) in nodes.enumerated() {
            if let shape = fed[index] {
                node.outputShapes = [shape]
                continue
            }
            var known = node.inputs.compactMap(shape(of:))
            // Downstream of a layer kconv cannot compute, Keras 3's record of a layer's build shapes still tells
            // them (for a layer called once: the record is of its first call).
            if known.count != node.inputs.count, calledOnce.contains(ObjectIdentifier(node.layer)),
               let recorded = node.layer.recordedInputShapes, recorded.count == node.inputs.count {
                known = recorded
            }
            guard known.count == node.inputs.count else {
                node.outputShapes = nil
                continue
            }
            do {
                node.outputShapes = try locating(layer: node.layer.label) {
                    try node.layer.build(known)
                    let shapes = try node.layer.outputShapes(known, call: node.call)
                    for shape in shapes {
                        guard let count = shape.knownFeatureCount, count <= largestTensor else {
                            throw ModelError("the config implies an output of shape \(shape.kerasDescription), more than the \(largestTensor) values kconv allows a tensor")
                        }
                    }
                    return shapes
                }
            } catch let error as ModelError where error.isUnknownShape {
                node.outputShapes = nil
            }
        }
        fillUnknownOutputs(from: calledOnce)
        for ref in outputs {
            if let shapes = nodes[ref.node].outputShapes, ref.index >= shapes.count {
                throw ModelError(layer: label, "output refers to tensor \(ref.index) of layer '\(nodes[ref.node].layer.name)', which has \(shapes.count) outputs")
            }
        }
    }

    private static func layersCalledOnce(_ nodes: [Node]) -> Set<ObjectIdentifier> {
        var calls: [ObjectIdentifier: Int] = [:]
        for node in nodes { calls[ObjectIdentifier(node.layer), default: 0] += 1 }
        return Set(calls.filter { $0.value == 1 }.keys)
    }

    /// A call whose shapes kconv cannot infer (a Lambda's) takes them from the build shapes its readers
    /// recorded, when every output it has is read by a layer called once that recorded them.
    private func fillUnknownOutputs(from calledOnce: Set<ObjectIdentifier>) {
        var recorded: [Int: [Int: TensorShape]] = [:]
        for reader in nodes where calledOnce.contains(ObjectIdentifier(reader.layer)) {
            guard let shapes = reader.layer.recordedInputShapes, shapes.count == reader.inputs.count else { continue }
            for (ref, shape) in zip(reader.inputs, shapes) { recorded[ref.node, default: [:]][ref.index] = shape }
        }
        for (index, node) in nodes.enumerated() where node.outputShapes == nil {
            guard let shapes = recorded[index], let last = shapes.keys.max() else { continue }
            let all = (0 ... last).compactMap { shapes[$0] }
            if all.count == last + 1 { node.outputShapes = all }
        }
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        try inferShapes(inputShapes)
        let shapes = outputShapesOfModel.compactMap { $0 }
        guard shapes.count == outputs.count else { throw ModelError.unknownShape(label) }
        return shapes
    }

    /// A model's weights as Keras orders them: every sublayer's trainable weights, then every
    /// non-trainable one; a frozen model keeps each sublayer's own order instead.
    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        var owned: [(spec: WeightSpec, owner: (layer: Layer, index: Int))] = []
        var storageNames = StorageNames(), writtenNames = StorageNames()
        for layer in layers {
            let prefix = "layers/" + storageNames.next(for: layer.className) + "/"
            objectPathPrefixes[ObjectIdentifier(layer)] = (prefix, "layers/" + writtenNames.next(for: layer.storageClassName) + "/")
            for (index, spec) in layer.weightSpecs.enumerated() {
                // A nested model's layers name their weights in their own scopes only.
                var spec = spec.adopted(objectPrefix: prefix, legacyScope: layer is Model ? nil : layer.name)
                spec.legacyNameIsComplete = true
                owned.append((spec, (layer, index)))
            }
        }
        if trainable {
            owned = owned.filter(\.spec.trainable) + owned.filter { !$0.spec.trainable }
        }
        weightOwners = owned.map(\.owner)
        return owned.map(\.spec)
    }

    package override func bind(_ arrays: [WeightArray]) throws {
        try super.bind(arrays)
        var perLayer: [ObjectIdentifier: [(index: Int, array: WeightArray)]] = [:]
        for (owner, array) in zip(weightOwners, arrays) {
            perLayer[ObjectIdentifier(owner.layer), default: []].append((owner.index, array))
        }
        for layer in layers {
            let owned = perLayer[ObjectIdentifier(layer)] ?? []
            try layer.bind(owned.sorted { $0.index < $1.index }.map(\.array))
        }
    }

    override public var sublayers: [Layer] { layers }

    package override var inputVocabulary: Int? { inputs.first.flatMap(embeddingVocabulary(fedBy:)) }

    /// The smallest `input_dim` among Embeddings that read this tensor directly, or through wrappers.
    package func embeddingVocabulary(fedBy ref: TensorRef) -> Int? {
        nodes.filter { $0.inputs.contains(ref) }.compactMap(\.layer.inputVocabulary).min()
    }

    package override var inputWords: [String]? { inputs.first.flatMap(words(fedBy:)) }

    /// The words of the string lookups that read this tensor, in order, each once.
    package func words(fedBy ref: TensorRef) -> [String]? {
        let words = nodes.filter { $0.inputs.contains(ref) }.compactMap(\.layer.inputWords).joined()
        return words.isEmpty ? nil : words.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
    }


    /// A nested model's calls become its layers' own, fed with the call's tensors and masks.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerNodes(call.inputs, into: &graph)
    }

    override public var unsupportedReason: String? {
        if kind == .subclassed {
            return "a subclassed model computes in its Python call() method, which the file does not hold (only its constructor arguments and weights), so kconv cannot run or convert it"
        }
        let unsupported = operations.filter { $0.unsupportedReason != nil }
        return unsupported.isEmpty ? nil : "contains unsupported " + unsupported.map(\.label).joined(separator: ", ")
    }
}

/// Keras 3 names each object in a container's weight tree by its snake-cased class name, numbered per
/// container (`dense`, `dense_1`, `conv2d`), not by the layer's own name.
package struct StorageNames {
    private var used: [String: Int] = [:]

    package mutating func next(for className: String) -> String {
        let base = snakeCase(className)
        let count = used[base, default: 0]
        used[base] = count + 1
        return count == 0 ? base : "\(base)_\(count)"
    }
}

/// Keras 3's `naming.to_snake_case`: `Conv2DTranspose` → `conv2d_transpose`, `PReLU` → `p_re_lu`.
/// It inserts `_` before a capitalised word (`[A-Z][a-z]+`) and between a lower-case letter and a capital.
package func snakeCase(_ name: String) -> String {
    let chars = Array(name.filter { $0.isLetter || $0.isNumber || $0 == "_" })
    var result: [Character] = []
    for (i, c) in chars.enumerated() {
        let startsWord = c.isUppercase && i + 1 < chars.count && chars[i + 1].isLowercase
        let followsLower = c.isUppercase && i > 0 && chars[i - 1].isLowercase
        if i > 0, startsWord || followsLower { result.append("_") }
        result.append(c)
    }
    return String(result).lowercased()
}
