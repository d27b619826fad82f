import Foundation
import KConvGraph
import KConvIO
/// One weight a layer owns once built, declared once by the layer and named from that declaration in
/// every layout: its Keras name (`kernel`), shape, whether it trains, where Keras 3's object-path files keep
/// it relative to the layer (`vars/0`, `cell/vars/1`), and the name tf-keras gives it relative to the
/// layer's own scope (`lstm_cell/kernel:0`). Containers prefix both as they adopt their children's weights.
package struct WeightSpec: Equatable, Sendable {
    package var name: String
    package var shape: [Int]
    package var trainable: Bool
    package var objectPath: String
    /// Where tf-keras's own `.weights.h5` files keep it, when that differs from Keras 3 (tf-keras names a
    /// sub-layer by its private attribute, `_query_dense`, where Keras 3 takes the public `query_dense`).
    package var keras2ObjectPath: String?
    /// The tf-keras (`.h5`, TF.js) name, relative to the layer that owns the weight.
    package var legacyName: String
    /// Whether `legacyName` is already complete: names a nested model gives its layers' weights are not
    /// prefixed by the scopes of the layers around it.
    package var legacyNameIsComplete = false
    /// Further object paths where Keras 3 files hold the same variable again (a wrapper that tracks its
    /// inner layer's kernel as its own too): written there as well, never read from there.
    package var objectAliases: [String] = []
    /// Whether Keras counts it among the layer's parameters: not when Keras created the variable with an
    /// unknown axis (an adapted tf-keras Discretization's summary, shape `(2, None)`).
    package var countedByKeras = true

    package var count: Int { shape.reduce(1, *) }

    /// The object path a `.weights.h5` file written for `dialect` keeps it at.
    package func objectPath(for dialect: KerasDialect) -> String {
        dialect >= .keras3 ? objectPath : keras2ObjectPath ?? objectPath
    }

    /// The tf-keras name of this weight of `layer`: `dense/kernel:0`, `bidirectional/forward_lstm/lstm_cell/kernel:0`.
    package func legacyName(in layer: Layer) -> String {
        legacyNameIsComplete ? legacyName : layer.name + "/" + legacyName
    }

    /// The spec as a container adopts it: under `objectPrefix` in object paths, and (unless complete) under
    /// `legacyScope` in tf-keras names.
    package func adopted(objectPrefix: String, legacyScope: String?) -> WeightSpec {
        var spec = self
        spec.objectPath = objectPrefix + objectPath
        spec.keras2ObjectPath = keras2ObjectPath.map { objectPrefix + $0 }
        spec.objectAliases = objectAliases.map { objectPrefix + $0 }
        if let legacyScope, !legacyNameIsComplete { spec.legacyName = legacyScope + "/" + legacyName }
        return spec
    }
}

/// A weight array bound to a layer: its shape as the file declares it and a way to read its values.
/// Values are read on demand, so inspecting a multi-gigabyte file never touches the weight bytes.
package struct WeightArray {
    /// The name it had in the file (`dense/kernel:0`, `layers/dense/vars/0`).
    package let name: String
    package let shape: [Int]
    /// Which array this is, shared by its copies (a wrapper and its inner layer hold the same arrays).
    package let id = UUID()
    private let reader: () throws -> [Float]
    /// The values' bytes where they lie in the file, when they can be lent (`HDF5Dataset.mappedFloats`); nil when not.
    private let lender: () throws -> Data?

    package init(name: String, shape: [Int], reader: @escaping () throws -> [Float], lender: @escaping () throws -> Data? = { nil }) {
        self.name = name
        self.shape = shape
        self.reader = reader
        self.lender = lender
    }

    /// The values, from the file (or, inside `readingEachOnce`, from what that scope already read).
    package func values() throws -> [Float] {
        guard let kept = KeptWeightValues.current else { return try reader() }
        return try kept.values(of: id, reader)
    }

    /// Calls `body` with the values, lent where they lie in the file when they can be (a writer copying them on, or a
    /// check comparing them, needs no array of its own), else as `values()` gives them.
    package func withValues<T>(_ body: (UnsafeBufferPointer<Float>) throws -> T) throws -> T {
        try withFloats(lent: lender, read: values, body)
    }

    /// The values' little-endian float32 bytes where they lie in the file, for as long as the `Data` lives, when they
    /// can be lent; nil when not.
    package func lentBytes() throws -> Data? { try lender() }

    /// Runs `body` with each array's values read from its file at most once (when `enabled`) and kept until it
    /// returns: a checked conversion reads the source to write it and again, with the written file, to compare
    /// the two weight by weight and then graph by graph (VGG16: 553 MB each time). Values lent from the file
    /// are not kept: lending them again costs no read.
    package static func readingEachOnce<T>(_ enabled: Bool = true, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        return try KeptWeightValues.$current.withValue(KeptWeightValues(), operation: body)
    }
}

/// The values `WeightArray.readingEachOnce` has read, by array.
private final class KeptWeightValues: @unchecked Sendable {  // its table is guarded by `lock`
    @TaskLocal static var current: KeptWeightValues?
    private var table: [UUID: [Float]] = [:]
    private let lock = NSLock()

    func values(of id: UUID, _ read: () throws -> [Float]) throws -> [Float] {
        if let values = lock.withLock({ table[id] }) { return values }
        let values = try read()
        lock.withLock { table[id] = values }
        return values
    }
}

/// Part of a weight that a conversion multiplies: its last axis cut into `blocks` equal parts (an RNN
/// kernel's gates), of which `parts` are scaled.
package struct WeightScaling: Sendable {
    package var index: Int
    package var blocks: Int
    package var parts: [Int]

    /// All of weight `index`.
    package init(_ index: Int) { self.init(index, blocks: 1, parts: [0]) }

    package init(_ index: Int, blocks: Int, parts: [Int]) {
        self.index = index
        self.blocks = blocks
        self.parts = parts
    }
}

/// What to do to a layer's weights to write them: every scaling a conversion asked for, per array.
package struct WeightRewrites {
    private var scalings: [UUID: [(WeightScaling, Float)]] = [:]

    package init() {}

    /// Asks for `layer`'s weights in `parts` to be multiplied by `factor`.
    package mutating func scale(_ layer: Layer, _ parts: [WeightScaling], by factor: Float) {
        for part in parts where part.index < layer.weights.count {
            scalings[layer.weights[part.index].id, default: []].append((part, factor))
        }
    }

    /// The array as written: its values with every asked-for scaling applied.
    package func applied(to array: WeightArray) -> WeightArray {
        guard let scalings = scalings[array.id] else { return array }
        let columns = array.shape.last ?? 1
        return WeightArray(name: array.name, shape: array.shape) {
            var values = try array.values()
            for (part, factor) in scalings {
                let width = columns / part.blocks
                for index in values.indices where part.parts.contains(index % columns / width) { values[index] *= factor }
            }
            return values
        }
    }
}

/// What a layer's initialiser gets: its identity, its config, the dialect it was written in, and a way
/// to build the layers it wraps.
package struct LayerContext {
    package let name: String
    package let className: String
    package let config: ConfigReader
    package let dialect: KerasDialect
    /// Builds a nested layer from its `{"class_name", "config"}` object (wrappers, nested models).
    package let buildLayer: (JSONObject) throws -> Layer
}

/// A native Keras layer: config decoded into typed properties, weights declared for an input shape,
/// output shapes inferred. Subclasses override `makeWeights` and `outputShapes` (and the engine and
/// exporters add their parts per layer family).
package class Layer {
    package let name: String
    /// The canonical Keras class name (`Conv2D`, never Keras 1's `Convolution2D`).
    package let className: String
    package let dialect: KerasDialect
    package let trainable: Bool
    /// The layer's config in the normalised (Keras 2/3) vocabulary.
    package let config: JSONObject

    /// Weights declared when the layer was built, in Keras order (trainable first, then non-trainable).
    package internal(set) var weightSpecs: [WeightSpec] = []
    /// Weights bound from the file, one per spec, same order and shapes.
    package internal(set) var weights: [WeightArray] = []
    /// The input shapes of the first call, which fixed the weights.
    package private(set) var builtInputShapes: [TensorShape]?
    /// The input shapes a Keras 3 config recorded in the layer's `build_config` (or, in a Keras 2 file, that
    /// the weights it holds tell): what tells its shapes when the layers before it cannot be computed (a
    /// Lambda, a custom class).
    package internal(set) var recordedInputShapes: [TensorShape]?
    /// How a Keras 3 config named the class (`module`, `registered_name`), so that a class kconv does not
    /// know (a user's custom layer) keeps its registration when written back.
    package internal(set) var registration: (module: JSONValue, registeredName: JSONValue)?
    /// The class name the file gave, where kconv reads it as another (Keras 1's `Convolution2D` as `Conv2D`).
    package internal(set) var fileClassName: String?

    /// The Keras classes this type implements (`Conv1D`, `Conv2D`, `Conv3D`).
    package class var kerasClassNames: [String] { [] }
    /// Older or alternative names of those classes, mapped to the current one (`Convolution2D` → `Conv2D`).
    package class var legacyClassNames: [String: String] { [:] }
    /// Whether `input_dim`, `output_dim` and `input_length` are this class's own config keys (an Embedding's
    /// vocabulary and width) rather than Keras 1's ways of giving a first layer's input shape.
    package class var ownsDimensionKeys: Bool { false }
    /// The name a config written for a Keras generation gives the class, where it is not `className` (Keras 3
    /// exports its class GroupedQueryAttention only as `keras.layers.GroupQueryAttention`).
    package class var writtenClassNames: [KerasDialect: String] { [:] }
    /// The class whose snake-cased name names this layer's folder of weights (`layers/lstm/`) in the files
    /// kconv writes: its own, unless it is written as another class (a CuDNNLSTM as LSTM).
    package var storageClassName: String { className }
    /// Where the weights kconv writes for `target` keep `spec`, below the layer's folder.
    package func writtenObjectPath(_ spec: WeightSpec, for target: KerasDialect) -> String { spec.objectPath(for: target) }
    /// Where Keras 3 finds the class when `keras.layers` does not hold it (a class of `keras.applications`,
    /// which Keras 3 imports by the module a config names): the `module` and `registered_name` kconv writes.
    package class var keras3Registration: (module: String, registeredName: String)? { nil }
    /// The Python class a tf-keras reader must pass in `custom_objects` to load this class, which tf-keras
    /// registers under no name; writing it for tf-keras adds a note saying so.
    package class var keras2CustomObject: String? { nil }
    /// The Keras generations that have no such class, each with why: kconv refuses to write it for them.
    package class var absentIn: [KerasDialect: String] { [:] }
    /// Why a config of this class cannot be written for another Keras generation than the one that wrote
    /// it, when both have the class but compute it differently at inference (RandomCrop); nil when it converts.
    package class var inferenceDiffersBetweenGenerations: String? { nil }
    /// A minimal use of each class in `kerasClassNames`, which `LayerSupport` builds, runs and writes to
    /// tell what kconv supports (and the tests check there is one per class).
    package class var examples: [LayerExample] { [] }

    package required init(_ context: LayerContext) throws {
        name = context.name
        className = context.className
        dialect = context.dialect
        config = context.config.object
        trainable = try context.config.bool("trainable", default: true)
    }

    /// Declares the weights for these input shapes; only the first call counts, as in Keras.
    package func build(_ inputShapes: [TensorShape]) throws {
        guard builtInputShapes == nil else { return }
        var specs = try makeWeights(inputShapes)
        for spec in specs {
            guard let count = checkedElementCount(spec.shape), count <= largestTensor else {
                throw ModelError(layer: label, field: "weight '\(spec.name)'", "the config implies shape \(spec.shape), more than the \(largestTensor) values kconv allows a tensor")
            }
        }
        if !trainable {
            for index in specs.indices { specs[index].trainable = false }
        }
        weightSpecs = specs
        builtInputShapes = inputShapes
    }

    /// Reads what a Keras 3 archive keeps for this layer under `assets/<its object path>/` (`read` gives a
    /// file's bytes by name, nil when absent): the state some layers keep outside their config and weights.
    package func readAssets(_ read: (String) throws -> [UInt8]?) throws {}

    /// Attaches weight arrays (already checked against `weightSpecs`); containers pass them on to the
    /// layers they hold.
    package func bind(_ arrays: [WeightArray]) throws {
        weights = arrays
    }

    /// Binds `arrays` as this layer's own, then hands `children` their weights in order, each taking as
    /// many as it declares (a Pipeline's layers, a StackedRNNCells' cells).
    package func bind(_ arrays: [WeightArray], handingOutTo children: [Layer]) throws {
        weights = arrays
        var rest = arrays[...]
        for child in children {
            try child.bind(Array(rest.prefix(child.weightSpecs.count)))
            rest = rest.dropFirst(child.weightSpecs.count)
        }
    }

    /// A layer whose shapes cannot be known takes its weights as the file declares them.
    package func adoptFileWeights(_ arrays: [WeightArray]) {
        weightSpecs = arrays.enumerated().map { index, array in
            WeightSpec(name: array.name, shape: array.shape, trainable: trainable, objectPath: "vars/\(index)",
                       legacyName: array.name, legacyNameIsComplete: array.name.contains("/"))
        }
        weights = arrays
    }

    /// The weights this layer creates for these input shapes, in creation order.
    package func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] { [] }

    /// Output shapes for one call with these input shapes. The default passes shapes through.
    package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] { inputShapes }

    /// Output shapes that do not depend on the input's (a Reshape to a fully given shape, batch aside): what
    /// still tells them past a layer kconv cannot compute. Nil when they depend on the input.
    package var inputIndependentOutputShapes: [TensorShape]? { nil }

    /// Output shapes for one call as the config recorded it (`call`: its arguments that are not tensors,
    /// such as `return_attention_scores`, in either form `GraphBuilder.recordedArgument` reads). The
    /// default looks at the shapes only.
    package func outputShapes(_ inputShapes: [TensorShape], call: JSONValue) throws -> [TensorShape] {
        try outputShapes(inputShapes)
    }

    /// Layers this one contains (a wrapper's inner layer, a nested model's layers), for summaries.
    package var sublayers: [Layer] { [] }

    /// Why kconv cannot compute this layer, or nil when it can.
    package var unsupportedReason: String? { nil }

    // MARK: Lowering

    /// Adds one call of this layer to `graph`: the operations it computes, reading `call`'s values and
    /// returning its outputs with their masks. A class kconv cannot compute adds a node that fails, when
    /// run, with the reason.
    package func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        lowerUnsupported(call, into: &graph)
    }

    // MARK: Calls and writing

    /// How a call of this layer passes its tensors, which Keras 2 and Keras 3 configs record differently.
    package var callSignature: CallSignature { .tensors }

    /// Keys of this class's config that only some Keras generations know, beyond those any layer may carry.
    package var versionOnlyKeys: [VersionOnlyKey] { [] }

    /// What a config for `target` records in place of this layer's call `call` (as it was read), when the
    /// other Keras generation records the same computation another way (a tf-keras TFOpLambda is a Keras 3
    /// operation): that layer, and its call with placeholders for the call's tensors (the node's inputs,
    /// then its keyword tensors, in order): Keras 3 `__keras_tensor__` entries without `keras_history`,
    /// Keras 2 `["__input__", 0, 0, kwargs?]` entries. nil: the layer is written as itself.
    package func substitute(for target: KerasDialect, call: JSONValue) throws -> (layer: Layer, call: JSONValue)? { nil }

    /// The layers a config for `target` records in place of this layer's call `call` (as it was read), when
    /// the target computes it with other layers (Keras 3's `hard_swish` in Keras 2, its operation `x + y` as an
    /// `Add` layer); nil: written as itself. The last step keeps this layer's name and takes its place; the
    /// others take names from `names.free`, so they are stable and unique.
    package func expansion(for target: KerasDialect, call: JSONValue, names: inout LayerNames) throws -> [ExpansionStep]? { nil }

    /// Whether Keras loads the class only from the custom objects it is given (a user's own class).
    package var needsCustomObject: Bool { false }

    /// Whether the layer only records a function call (a TFOpLambda), which a Keras 3 model holds as an
    /// operation rather than a layer: layer lists compared across generations leave it out.
    package var recordsCallOnly: Bool { false }

    /// Translates this layer's config (common vocabulary, shared rules applied) into `export.target`'s.
    /// The default translates the activation functions it names; layers whose keys or defaults differ
    /// between Keras generations override it.
    package func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        try export.translateActivations(&config, of: self)
    }

    /// The weights whose affine map is the argument of the function named by config key `key`
    /// (`activation`, `recurrent_activation`), so that scaling them scales that argument exactly; nil when
    /// the argument is not such a map (a standalone activation, an LSTM's cell-state activation).
    package func affineArguments(of key: String) -> [WeightScaling]? { nil }

    /// All of this layer's weights, for `affineArguments` of a layer whose output is one affine map.
    package var allWeightsScaled: [WeightScaling] { weightSpecs.indices.map(WeightScaling.init) }

    /// Keras 1 stored some weights in another layout; this layer's arrays, read from a Keras 1 file, in the
    /// layout it declares (`preprocess_weights_for_loading`).
    package func keras1Weights(_ arrays: [WeightArray]) throws -> [WeightArray] { arrays }

    /// This layer's arrays in the layout it declares, from the layout its class stores them in when that
    /// differs (cuDNN's recurrent kernels).
    package func storedWeights(_ arrays: [WeightArray]) throws -> [WeightArray] { arrays }

    /// This layer's arrays from a file written under Theano, in TensorFlow's conventions.
    package func theanoWeights(_ arrays: [WeightArray]) -> [WeightArray] { arrays }

    /// The mask the layer computes itself for its outputs from its first input (an Embedding's `x != 0`, a
    /// Masking's `any(x != value, axis=-1)`), which Keras 2 files leave implicit where Keras 3 graphs record
    /// it as operations passed on by `mask=`.
    package var computedMask: ComputedMask? { nil }

    /// Whether a call takes the Keras masks off its input tensors as it runs, so that the layers reading them
    /// afterwards see none (Keras 3's MultiHeadAttention calls `backend.set_keras_mask(query, None)`).
    package var clearsInputMasks: Bool { false }

    /// The vocabulary size of the integer indices this layer takes (an Embedding's `input_dim`), so seeded
    /// inputs stay in range.
    package var inputVocabulary: Int? { nil }

    /// The words this layer takes as string inputs (a StringLookup's vocabulary), so seeded inputs hit it.
    package var inputWords: [String]? { nil }

    package var paramCount: Int { weightSpecs.filter(\.countedByKeras).reduce(0) { $0 + $1.count } }
    package var trainableParamCount: Int { weightSpecs.filter { $0.trainable && $0.countedByKeras }.reduce(0) { $0 + $1.count } }

    /// `layer 'dense_1' (Dense)`, the prefix of every message about this layer.
    package var label: String { "layer '\(name)' (\(className))" }

    // MARK: Helpers for subclasses

    /// The `index`-th weight of the layer, or of its sub-object `owner` (an RNN's `cell`, whose tf-keras
    /// scope is `legacyScope`, such as `lstm_cell`). `legacyName` is tf-keras's name where it differs.
    /// `keras2Owner` is the sub-object's path in tf-keras's `.weights.h5` files where it differs from `owner`.
    package func weight(_ name: String, _ shape: [Int], index: Int, trainable: Bool = true, owner: String = "",
                keras2Owner: String? = nil, legacyScope: String? = nil, legacyName: String? = nil) -> WeightSpec {
        let variable = (legacyName ?? name) + ":0"
        return WeightSpec(name: name, shape: shape, trainable: trainable, objectPath: owner + "vars/\(index)",
                          keras2ObjectPath: keras2Owner.map { $0 + "vars/\(index)" },
                          legacyName: legacyScope.map { $0 + "/" + variable } ?? variable)
    }

    /// The single input of a one-input layer.
    package func singleInput(_ shapes: [TensorShape]) throws -> TensorShape {
        guard shapes.count == 1 else {
            throw ModelError(layer: label, "expected 1 input, found \(shapes.count)")
        }
        return shapes[0]
    }

    /// The input's last dimension, which sizes the weights of most layers and must be known.
    package func lastDimension(_ shape: TensorShape) throws -> Int {
        guard let last = shape.last, let dim = last else {
            throw ModelError(layer: label, "the input's last dimension must be known to build weights, found \(shape.kerasDescription)")
        }
        return dim
    }

    /// A call's first input, checked to have a rank in `ranks` (`what` names the expected input in the error).
    package func firstInput(_ inputShapes: [TensorShape], _ ranks: ClosedRange<Int>, _ what: String) throws -> TensorShape {
        guard let input = inputShapes.first else { throw ModelError(layer: label, "expected an input, found none") }
        try requireRank(input, ranks, what)
        return input
    }

    /// Checks the input rank, naming what was expected.
    package func requireRank(_ shape: TensorShape, _ ranks: ClosedRange<Int>, _ what: String) throws {
        guard ranks.contains(shape.count) else {
            throw ModelError(layer: label, "expected \(what) input, found shape \(shape.kerasDescription)")
        }
    }

    /// Checks a `rows × columns` float32 constant the layer computes from sizes its config gives against the
    /// memory budget, before it is made: the config may ask for any size.
    package func requireBudget(floats rows: Int, by columns: Int = 1, for what: String) throws {
        let (count, overflow) = rows.multipliedReportingOverflow(by: columns)
        let bytes = overflow || count > Int.max / 4 ? Int.max : count * 4
        do { try MemoryBudget.current.check(bytes, for: "\(what) of \(rows) × \(columns) float32") } catch {
            throw ModelError(layer: label, error.description)
        }
    }

    /// The shape of an image layer that maps a 4-D image batch to one of the same shape.
    package func imageBatchShape(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let shape = try singleInput(inputShapes)
        try requireRank(shape, 4...4, "a 4-D image batch")
        return [shape]
    }
}

/// A mask computed from a tensor, as a layer computes it (`Layer.computedMask`) or as Keras 3 records it in
/// operation nodes (`KerasOperation.recordedMask`), so a writer can tell the two apart or the same.
package enum ComputedMask: Equatable {
    /// `x != value`, elementwise.
    case notEqual(Double)
    /// `any(x != value, axis=-1)`: a position is kept when any of its features differs.
    case anyNotEqual(Double)
}

/// A minimal use of a Keras class: its config (without `name`) in the common vocabulary, and the input
/// shapes of one call without the batch axis. No inputs: a model input, which is fed rather than called.
package struct LayerExample {
    package var className: String
    package var config: JSONObject
    package var inputs: [[Int]]
    /// The inputs' element type: float32, or string for the text layers.
    package var dtype: DType

    package init(_ className: String, _ config: JSONObject = [:], inputs: [[Int]], dtype: DType = .float32) {
        self.className = className
        self.config = config
        self.inputs = inputs
        self.dtype = dtype
    }

    /// A channels_last input with `rank` spatial axes of 4 and 2 channels: `[4, 4, 2]` for 2-D.
    package static func spatialInput(rank: Int) -> [Int] { Array(repeating: 4, count: rank) + [2] }
}

/// How a layer's call passes its tensors.
package enum CallSignature: Equatable {
    /// One positional argument per tensor (a single input, or an operation's operands).
    case tensors
    /// One positional list of tensors (merge layers): Keras 3 writes `args: [[a, b]]`.
    case list
    /// A sequence, then initial states: further positional tensors in Keras 2, `initial_state=` in Keras 3.
    case sequenceAndStates
    /// Tensors the call's parameters name (`query`, `value`, `key`), passed positionally or by keyword: the
    /// layer's inputs are those given, in `parameters` order. Keras 3 writes the `required` ones positionally
    /// and the others by keyword; Keras 2 passes only a call's first argument positionally (as `inputs`).
    case named(parameters: [String], required: Int)
}

/// A config key only some Keras generations know: written for a target that knows it, dropped for one
/// that does not when it holds `value` (nil: any value, for keys without effect on inference), and an
/// error otherwise.
package struct VersionOnlyKey {
    package var key: String
    /// The generation that alone knows the key; Keras 1 keys are known by neither target.
    package var onlyIn: KerasDialect
    package var value: JSONValue?
    package var why: String

    package init(_ key: String, onlyIn: KerasDialect, value: JSONValue? = nil, why: String) {
        self.key = key
        self.onlyIn = onlyIn
        self.value = value
        self.why = why
    }
}

/// One layer of an expansion (`Layer.expansion`) and the tensors its call reads.
package struct ExpansionStep {
    /// What a step reads: the expanded call's input `n`, or the output of an earlier step.
    package enum Source { case input(Int), step(Int) }
    package let layer: Layer
    package let inputs: [Source]

    package init(_ layer: Layer, reading inputs: [Source]) {
        self.layer = layer
        self.inputs = inputs
    }
}

/// Names taken in a model, handing out free ones: `base`, else `base_1`, `base_2`, ....
package struct LayerNames {
    private var taken: Set<String>

    package init(_ taken: some Sequence<String>) { self.taken = Set(taken) }

    package mutating func free(_ base: String) -> String {
        var name = base, suffix = 0
        while taken.contains(name) {
            suffix += 1
            name = "\(base)_\(suffix)"
        }
        taken.insert(name)
        return name
    }
}
