import KConvIO
/// One weight a layer owns once built: its Keras name (`kernel`), shape, whether it trains, and where
/// Keras 3's object-path weight files keep it relative to the layer (`vars/0`, `cell/vars/1`).
public struct WeightSpec: Equatable, Sendable {
    public var name: String
    public var shape: [Int]
    public var trainable: Bool
    public var storagePath: String

    public var count: Int { shape.reduce(1, *) }
}

/// A weight array bound to a layer: its shape as the file declares it and a way to read its values.
/// Values are read on demand, so inspecting a multi-gigabyte file never touches the weight bytes.
public struct WeightArray {
    /// The name it had in the file (`dense/kernel:0`, `layers/dense/vars/0`).
    public let name: String
    public let shape: [Int]
    private let reader: () throws -> [Float]

    public init(name: String, shape: [Int], reader: @escaping () throws -> [Float]) {
        self.name = name
        self.shape = shape
        self.reader = reader
    }

    public func values() throws -> [Float] { try reader() }
}

/// What a layer's initialiser gets: its identity, its config, the dialect it was written in, and a way
/// to build the layers it wraps.
public struct LayerContext {
    public let name: String
    public let className: String
    public let config: ConfigReader
    public let dialect: KerasDialect
    /// Builds a nested layer from its `{"class_name", "config"}` object (wrappers, nested models).
    let buildLayer: (JSONObject) throws -> Layer
}

/// A native Keras layer: config decoded into typed properties, weights declared for an input shape,
/// output shapes inferred. Subclasses override `makeWeights` and `outputShapes` (and the engine and
/// exporters add their parts per layer family).
public class Layer {
    public let name: String
    /// The canonical Keras class name (`Conv2D`, never Keras 1's `Convolution2D`).
    public let className: String
    public let dialect: KerasDialect
    public let trainable: Bool
    /// The layer's config in the normalised (Keras 2/3) vocabulary.
    public let config: JSONObject

    /// Weights declared when the layer was built, in Keras order (trainable first, then non-trainable).
    public internal(set) var weightSpecs: [WeightSpec] = []
    /// Weights bound from the file, one per spec, same order and shapes.
    public internal(set) var weights: [WeightArray] = []
    /// The input shapes of the first call, which fixed the weights.
    public private(set) var builtInputShapes: [TensorShape]?
    /// How a Keras 3 config named the class (`module`, `registered_name`), so that a class kconv does not
    /// know (a user's custom layer) keeps its registration when written back.
    public internal(set) var registration: (module: JSONValue, registeredName: JSONValue)?

    public required init(_ context: LayerContext) throws {
        name = context.name
        className = context.className
        dialect = context.dialect
        config = context.config.object
        trainable = try context.config.bool("trainable", default: true)
    }

    /// Declares the weights for these input shapes; only the first call counts, as in Keras.
    func build(_ inputShapes: [TensorShape]) throws {
        guard builtInputShapes == nil else { return }
        var specs = try makeWeights(inputShapes)
        for spec in specs {
            guard let count = elementCount(spec.shape), count <= largestTensor else {
                throw ModelError(layer: label, field: "weight '\(spec.name)'", "the config implies shape \(spec.shape), more than the \(largestTensor) values kconv allows a tensor")
            }
        }
        if !trainable {
            for index in specs.indices { specs[index].trainable = false }
        }
        weightSpecs = specs
        builtInputShapes = inputShapes
    }

    /// Attaches weight arrays (already checked against `weightSpecs`); containers pass them on to the
    /// layers they hold.
    func bind(_ arrays: [WeightArray]) throws {
        weights = arrays
    }

    /// A layer whose shapes cannot be known takes its weights as the file declares them.
    func adoptFileWeights(_ arrays: [WeightArray]) {
        weightSpecs = arrays.enumerated().map { index, array in
            WeightSpec(name: array.name, shape: array.shape, trainable: trainable, storagePath: "vars/\(index)")
        }
        weights = arrays
    }

    /// The weights this layer creates for these input shapes, in creation order.
    func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] { [] }

    /// Output shapes for one call with these input shapes. The default passes shapes through.
    public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] { inputShapes }

    /// Layers this one contains (a wrapper's inner layer, a nested model's layers), for summaries.
    public var sublayers: [Layer] { [] }

    /// Why kconv cannot compute this layer, or nil when it can.
    public var unsupportedReason: String? { nil }

    // MARK: Engine

    /// Weight values as tensors, in `weightSpecs` order, read by `prepare()`.
    var parameters: [Tensor] = []

    /// Reads the weight values this layer computes with, once, before the first forward pass.
    /// Containers prepare the layers they hold instead of reading their own (shared) copy.
    func prepare() throws {
        guard sublayers.isEmpty else {
            for layer in sublayers { try locating(layer: layer.label) { try layer.prepare() } }
            return
        }
        guard weights.count == weightSpecs.count else {
            throw EngineError("no weights loaded: give the weights file that goes with this config")
        }
        parameters = try weights.map { array in
            let values = try array.values()
            guard values.count == array.shape.reduce(1, *) else {
                throw ModelError(layer: label, field: "weight '\(array.name)'", "expected \(array.shape.reduce(1, *)) values, found \(values.count)")
            }
            return Tensor(shape: array.shape, values: values)
        }
    }

    /// One forward pass of one call, in inference mode. Layers whose maths kconv knows override it.
    func forward(_ call: LayerCall) throws -> LayerOutput {
        throw EngineError(unsupportedReason ?? "kconv cannot compute this layer")
    }

    public var paramCount: Int { weightSpecs.reduce(0) { $0 + $1.count } }
    public var trainableParamCount: Int { weightSpecs.filter(\.trainable).reduce(0) { $0 + $1.count } }

    /// `layer 'dense_1' (Dense)`, the prefix of every message about this layer.
    public var label: String { "layer '\(name)' (\(className))" }

    // MARK: Helpers for subclasses

    /// A spec stored directly under the layer's own `vars/`.
    func weight(_ name: String, _ shape: [Int], index: Int, trainable: Bool = true, owner: String = "") -> WeightSpec {
        WeightSpec(name: name, shape: shape, trainable: trainable, storagePath: owner + "vars/\(index)")
    }

    /// The single input of a one-input layer.
    func singleInput(_ shapes: [TensorShape]) throws -> TensorShape {
        guard shapes.count == 1 else {
            throw ModelError(layer: label, "expected 1 input, found \(shapes.count)")
        }
        return shapes[0]
    }

    /// The input's last dimension, which sizes the weights of most layers and must be known.
    func lastDimension(_ shape: TensorShape) throws -> Int {
        guard let last = shape.last, let dim = last else {
            throw ModelError(layer: label, "the input's last dimension must be known to build weights, found \(shape.kerasDescription)")
        }
        return dim
    }

    /// Checks the input rank, naming what was expected.
    func requireRank(_ shape: TensorShape, _ ranks: ClosedRange<Int>, _ what: String) throws {
        guard ranks.contains(shape.count) else {
            throw ModelError(layer: label, "expected \(what) input, found shape \(shape.kerasDescription)")
        }
    }
}
