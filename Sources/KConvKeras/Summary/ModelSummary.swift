import KConvIO
import KConvGraph
/// What `kconv inspect` shows: a Keras-style summary of a model, as text or as one JSON object.
/// Built from structure and weight shapes only; nothing from the file is executed.
package struct ModelSummary {
    package struct Tensor {
        package var name: String
        package var shape: TensorShape?
        package var dtype: String
    }

    package struct Row {
        package var name: String
        package var className: String
        /// The class name the file gave, where kconv reads it as `className`.
        package var fileClassName: String?
        /// One entry per call of the layer; each holds the shapes of that call's outputs (nil: unknown).
        package var outputShapes: [[TensorShape?]]
        package var params: Int
        package var trainableParams: Int
        /// Per call, the tensors it consumed: `layer[node][tensor]`.
        package var inbound: [[String]]
        package var children: [Row]
        package var unsupportedReason: String?
        /// A Lambda's serialized function, shown as text, never run.
        package var functionSource: String?
        /// A Keras 3 operation node: Keras's summary lists it, `model.layers` does not.
        package var isOperation = false
    }

    /// One weight as the file holds it, under its path there.
    package struct Weight {
        package var path: String
        package var shape: [Int]
        package var params: Int { shape.reduce(1, *) }
    }

    /// What a file holds of a user's `Model` subclass, whose layers and calls are Python code kconv never sees.
    package struct Subclassed {
        /// Its config: the arguments its constructor is called with when Keras loads it.
        package var arguments: JSONObject
        package var weights: [Weight]
        package var trainable: Bool
        /// Why kconv cannot run or convert it.
        package var reason: String
        package var params: Int { weights.reduce(0) { $0 + $1.params } }
    }

    package var file: String
    package var weightsFile: String?
    package var format: String
    package var weightsLayout: String
    package var kerasVersion: String?
    package var dialect: String
    package var backend: String?
    package var modelName: String
    package var modelClass: String
    package var inputs: [Tensor]
    package var outputs: [Tensor]
    package var rows: [Row]
    /// Set for a subclassed model, which has no layer rows.
    package var subclassed: Subclassed?

    package var totalParams: Int { rows.reduce(0) { $0 + $1.params } + (subclassed?.params ?? 0) }
    package var trainableParams: Int {
        rows.reduce(0) { $0 + $1.trainableParams } + (subclassed.map { $0.trainable ? $0.params : 0 } ?? 0)
    }
    package var nonTrainableParams: Int { totalParams - trainableParams }
    /// The weights' size: 4 bytes per float32 parameter, as the weights are held when run.
    package var weightBytes: Int { totalParams * 4 }

    /// Every unsupported layer, nested ones included, as `(name, class, reason)`.
    package var unsupportedLayers: [(name: String, className: String, reason: String)] {
        var found: [(String, String, String)] = subclassed.map { [(modelName, modelClass, $0.reason)] } ?? []
        var pending = rows.reversed() as [Row]
        while let row = pending.popLast() {
            if row.children.isEmpty || row.className != "Sequential" && row.className != "Functional" {
                if let reason = row.unsupportedReason, !row.children.contains(where: { $0.unsupportedReason != nil }) {
                    found.append((row.name, row.className, reason))
                }
            }
            pending += row.children.reversed()
        }
        return found
    }

    /// Labels of the layers in `model` (nested ones included) that kconv cannot compute.
    package static func unsupported(in model: Model) -> [String] {
        var found: [String] = model.kind == .subclassed ? [model.label] : []
        var pending: [Layer] = model.operations.reversed()
        while let layer = pending.popLast() {
            let inner = (layer as? Model)?.operations ?? layer.sublayers
            if inner.isEmpty, layer.unsupportedReason != nil { found.append(layer.label) }
            pending += inner.reversed()
        }
        return found
    }

    package init(_ loaded: KerasModel) {
        let model = loaded.model
        file = loaded.path
        weightsFile = loaded.weightsPath
        format = loaded.format.rawValue
        weightsLayout = loaded.weightsLayout.rawValue
        kerasVersion = loaded.kerasVersion
        dialect = loaded.dialect.rawValue
        backend = loaded.backend
        modelName = model.name
        modelClass = model.className
        inputs = zip(model.inputs, model.inputLayers).map { ref, layer in
            Tensor(name: layer.name, shape: model.shape(of: ref), dtype: layer.dtype)
        }
        outputs = model.outputs.map { ref in
            Tensor(name: model.nodes[ref.node].layer.name, shape: model.shape(of: ref), dtype: "float32")
        }
        rows = Self.rows(of: model)
        if model.kind == .subclassed {
            subclassed = Subclassed(arguments: model.config, weights: model.weights.map { Weight(path: $0.name, shape: $0.shape) },
                                    trainable: model.trainable, reason: model.unsupportedReason ?? "")
        }
    }

    /// One row per layer; each node's call index among its layer's calls is counted once, so a layer with
    /// thousands of inbound tensors costs linear time.
    package static func rows(of model: Model) -> [Row] {
        var nodesOfLayer: [ObjectIdentifier: [Node]] = [:]
        var callIndex = Array(repeating: 0, count: model.nodes.count)
        for (index, node) in model.nodes.enumerated() {
            callIndex[index] = nodesOfLayer[ObjectIdentifier(node.layer), default: []].count
            nodesOfLayer[ObjectIdentifier(node.layer), default: []].append(node)
        }
        return model.operations.map { layer in
            let nodes = nodesOfLayer[ObjectIdentifier(layer)] ?? []
            let inbound = nodes.map { node in
                node.allInputs.map { ref -> String in
                    "\(model.nodes[ref.node].layer.name)[\(callIndex[ref.node])][\(ref.index)]"
                }
            }
            return row(layer, outputShapes: nodes.map { $0.outputShapes.map { $0.map { Optional($0) } } ?? [nil] }, inbound: inbound)
        }
    }

    package static func row(_ layer: Layer, outputShapes: [[TensorShape?]], inbound: [[String]]) -> Row {
        let children: [Row]
        if let nested = layer as? Model {
            children = rows(of: nested)
        } else {
            children = layer.sublayers.map { inner in
                let shapes = inner.builtInputShapes.flatMap { try? inner.outputShapes($0) }
                return row(inner, outputShapes: [shapes.map { $0.map { Optional($0) } } ?? [nil]], inbound: [])
            }
        }
        return Row(name: layer.name, className: layer.className, fileClassName: layer.fileClassName, outputShapes: outputShapes,
                   params: layer.paramCount, trainableParams: layer.trainableParamCount, inbound: inbound,
                   children: children, unsupportedReason: layer.unsupportedReason,
                   functionSource: (layer as? UnsupportedLayer)?.functionSource, isOperation: layer is KerasOperation)
    }
}
