import KConvGraph
import KConvIO
/// One output tensor of a node in a model graph.
package struct TensorRef: Hashable, Sendable {
    package let node: Int
    package let index: Int
}

/// One call of a layer inside a model: which tensors it consumed and the shapes it produced.
package final class Node {
    package let layer: Layer
    /// Positional tensor inputs, in call order (a merge layer's list, an RNN's input then its initial states).
    package let inputs: [TensorRef]
    /// Tensors passed by keyword (`initial_state`, `mask`, ...), in config order.
    package let keywordInputs: [(name: String, tensors: [TensorRef])]
    /// Shapes of the call's outputs; nil when they cannot be known (downstream of an unsupported layer).
    package internal(set) var outputShapes: [TensorShape]?
    /// The call as the config wrote it: Keras 3 `{"args", "kwargs"}`, or the Keras 1/2 list of
    /// `[layer, node, tensor, kwargs]` entries; null for Sequential models.
    package let call: JSONValue

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
package final class Model: Layer {
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
    package enum Kind: Sendable { case sequential, functional, subclassed }

    package private(set) var kind: Kind = .functional
    /// The model's layers as Keras lists them (`model.layers`: a Sequential's excludes its InputLayer).
    package private(set) var layers: [Layer] = []
    /// `layers` with Keras 3's operation nodes in their place (`model.operations`), as Keras's summary lists them.
    package private(set) var operations: [Layer] = []
    /// Layer calls in execution order; inputs are nodes of `InputLayer`s.
    package private(set) var nodes: [Node] = []
    package private(set) var inputs: [TensorRef] = []
    package private(set) var outputs: [TensorRef] = []
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

    package required init(_ context: LayerContext) throws {
        try super.init(context)
        try adopt(try GraphBuilder(context: context).build())
    }

    /// A model of `graph`'s calls, named and configured as `context` says.
    private init(_ context: LayerContext, graph: GraphBuilder.Graph) throws {
        try super.init(context)
        try adopt(graph)
    }

    private func adopt(_ graph: GraphBuilder.Graph) throws {
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

    /// The model as a config for `target` records it: each call whose layer has an expansion for the target
    /// (`Layer.expansion`) becomes the calls of its steps, the last in its place; the model itself when none
    /// has. It shares its layers and their weights with this model. `notes` says what each expansion wrote.
    package func expanded(for target: KerasDialect) throws -> (model: Model, notes: [String]) {
        var names = LayerNames(operations.map(\.name))
        var expansions: [Int: [ExpansionStep]] = [:]
        for (index, node) in nodes.enumerated() {
            guard let steps = try locating(layer: node.layer.label, { try node.layer.expansion(for: target, call: node.call, names: &names) }) else { continue }
            guard !steps.isEmpty, self.nodes(of: node.layer).count == 1 else {
                throw ModelError(layer: node.layer.label, "\(target) records this layer as \(steps.count) layers, which kconv does only for a layer called once")
            }
            expansions[index] = steps
        }
        guard !expansions.isEmpty else { return (self, []) }
        var graph = GraphBuilder.Graph(kind: kind, layers: [], operations: [], nodes: [], inputs: [], outputs: [])
        var replacements: [ObjectIdentifier: [Layer]] = [:]
        var moved: [Int] = []  // each node's index in the new graph (an expanded one's: its last step)
        func remap(_ ref: TensorRef) -> TensorRef { TensorRef(node: moved[ref.node], index: ref.index) }
        for (index, node) in nodes.enumerated() {
            guard let steps = expansions[index] else {
                graph.nodes.append(Node(layer: node.layer, inputs: node.inputs.map(remap),
                                        keywordInputs: node.keywordInputs.map { ($0.name, $0.tensors.map(remap)) }, call: node.call))
                moved.append(graph.nodes.count - 1)
                continue
            }
            var produced: [Int] = []
            for step in steps {
                let inputs = try step.inputs.map { source -> TensorRef in
                    switch source {
                    case .input(let position) where node.inputs.indices.contains(position): return remap(node.inputs[position])
                    case .step(let earlier) where produced.indices.contains(earlier): return TensorRef(node: produced[earlier], index: 0)
                    default: throw ModelError(layer: node.layer.label, "its expansion reads \(source), which it does not have")
                    }
                }
                // A step reading more than one tensor makes a Sequential model a graph.
                if inputs.count > 1 { graph.kind = .functional }
                graph.nodes.append(Node(layer: step.layer, inputs: inputs, keywordInputs: []))
                produced.append(graph.nodes.count - 1)
            }
            moved.append(graph.nodes.count - 1)
            replacements[ObjectIdentifier(node.layer)] = steps.map(\.layer)
        }
        graph.operations = operations.flatMap { replacements[ObjectIdentifier($0)] ?? [$0] }
        // A Sequential model's layers leave out its InputLayer, which a graph lists.
        if kind == .sequential, graph.kind == .functional { graph.operations = inputLayers + graph.operations }
        graph.layers = graph.operations.filter { !($0 is KerasOperation) }
        graph.inputs = inputs.map(remap)
        graph.outputs = outputs.map(remap)
        let context = LayerContext(name: name, className: className, config: ConfigReader(config), dialect: dialect,
                                   buildLayer: { try LayerRegistry.build($0, dialect: self.dialect) })
        let model = try Model(context, graph: graph)
        model.registration = registration
        try model.build(model.inputShapes)
        let notes = expansions.sorted { $0.key < $1.key }.map { index, steps in
            "\(nodes[index].layer.label): written for \(target) as "
                + steps.map { "\($0.layer.className) '\($0.layer.name)'" }.joined(separator: ", ") + ", computing the same function"
        }
        return (model, notes)
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
    package var inputLayers: [InputLayer] { inputs.compactMap { nodes[$0.node].layer as? InputLayer } }

    package var inputShapes: [TensorShape] { inputs.map { shape(of: $0) ?? [] } }
    /// The model's output shapes, nil where they cannot be known.
    package var outputShapesOfModel: [TensorShape?] { outputs.map(shape(of:)) }

    /// The shape of one tensor in the graph, or nil if it cannot be known.
    package func shape(of ref: TensorRef) -> TensorShape? {
        guard let shapes = nodes[ref.node].outputShapes, ref.index < shapes.count else { return nil }
        return shapes[ref.index]
    }

    /// Every node that calls `layer`, in order.
    package func nodes(of layer: Layer) -> [Node] { nodes.filter { $0.layer === layer } }

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
                node.outputShapes = node.layer.inputIndependentOutputShapes
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

    /// Keras 2 files record no build shapes, but past a layer kconv cannot compute (a Lambda) the weights
    /// the file holds for the layer reading it tell that layer's input: a Dense's kernel rows, a
    /// convolution's input channels. The unknown layer is taken to keep its input's shape but for the last
    /// axis, which must then be the one size for which the reader declares exactly the weights the file
    /// holds; shape inference runs again from there. Returns the layers built by this second pass (their
    /// weights, adopted as the file holds them, are to be bound again).
    package func inferShapesFromFileWeights() throws -> [Layer] {
        let unbuilt = layers.filter { $0.builtInputShapes == nil }
        let calledOnce = Self.layersCalledOnce(nodes)
        var inferred = false
        for reader in nodes where reader.outputShapes == nil && reader.inputs.count == 1 && reader.keywordInputs.isEmpty {
            let layer = reader.layer
            let held = layer.weights.map(\.shape)
            guard layer.builtInputShapes == nil, !held.isEmpty, layer.sublayers.isEmpty, !(layer is Model),
                  calledOnce.contains(ObjectIdentifier(layer)),
                  let template = nodes[reader.inputs[0].node].inputs.first.flatMap(shape(of:)), !template.isEmpty else { continue }
            let candidates = Set(held.joined()).map { template.dropLast() + [$0] }.filter { shape in
                (try? layer.makeWeights([shape]).map(\.shape)) == held
            }
            guard candidates.count == 1 else { continue }
            layer.recordedInputShapes = candidates
            inferred = true
        }
        guard inferred else { return [] }
        try inferShapes(inputLayers.map(\.batchShape))
        return unbuilt.filter { $0.builtInputShapes != nil }
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

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
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

    override package var sublayers: [Layer] { layers }

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

    override package var unsupportedReason: String? {
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
