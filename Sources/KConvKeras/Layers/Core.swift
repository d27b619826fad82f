import KConvGraph
import KConvIO
/// Core layers: inputs, Dense, Activation, Embedding, Masking and the layers that do nothing at inference.

/// A model input. `batch_input_shape` (Keras 2) or `batch_shape` (Keras 3) is its full shape.
package final class InputLayer: Layer {
    package override class var kerasClassNames: [String] { ["InputLayer"] }
    package override class var examples: [LayerExample] { [LayerExample("InputLayer", ["batch_input_shape": [nil, 3]], inputs: [])] }
    package let batchShape: TensorShape
    package let dtype: String

    package required init(_ context: LayerContext) throws {
        let config = context.config
        let shape = try config.optionalShape("batch_input_shape") ?? config.optionalShape("batch_shape")
        guard let shape else {
            throw config.error("batch_input_shape", expected: "the input's shape", found: nil)
        }
        batchShape = shape
        dtype = dtypeName(config.object["dtype"]) ?? "float32"
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] { [batchShape] }
}

/// The dtype name from a config value: `"float32"`, or Keras 3's `DTypePolicy` object.
package func dtypeName(_ value: JSONValue?) -> String? {
    guard let value else { return nil }
    if let name = value.stringValue { return name }
    return value["config"]?["name"]?.stringValue
}

/// `y = activation(x·W + b)` on the last axis; Keras Dense. kernel is [in, units].
package final class Dense: Layer {
    package override class var kerasClassNames: [String] { ["Dense"] }
    package override class var examples: [LayerExample] { [LayerExample("Dense", ["units": 2], inputs: [[3]])] }
    package let units: Int
    package let activation: Activation
    package let useBias: Bool

    package required init(_ context: LayerContext) throws {
        units = try context.config.int("units")
        activation = context.config.activation("activation", default: "linear", dialect: context.dialect)
        useBias = try context.config.bool("use_bias", default: true)
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let input = try lastDimension(singleInput(inputShapes))
        var specs = [weight("kernel", [input, units], index: 0)]
        if useBias { specs.append(weight("bias", [units], index: 1)) }
        return specs
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        try requireRank(input, 2...Int.max, "a 2-D or higher")
        return [input.dropLast() + [try activation.outputSize(units, of: self)]]
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let weights = try weightValues(&graph)
        return try lowerElementwise(.dense(activation: activation), call, weights: [weights[0], useBias ? weights[1] : nil], into: &graph)
    }

    package override func affineArguments(of key: String) -> [WeightScaling]? { key == "activation" ? allWeightsScaled : nil }

    override package var unsupportedReason: String? { activation.unsupportedReason }
}

/// Applies an activation function elementwise.
package final class ActivationLayer: Layer {
    package override class var kerasClassNames: [String] { ["Activation"] }
    package override class var examples: [LayerExample] { [LayerExample("Activation", ["activation": "tanh"], inputs: [[3]])] }
    package let activation: Activation

    package required init(_ context: LayerContext) throws {
        activation = context.config.activation("activation", default: "linear", dialect: context.dialect)
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        guard activation == .glu, let last = input.last else { return [input] }
        return [input.dropLast() + [try last.map { try activation.outputSize($0, of: self) }]]
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerElementwise(.activation(activation), call, into: &graph)
    }

    override package var unsupportedReason: String? { activation.unsupportedReason }

    /// Functions the target has no name for, written exactly as layers it has (`name_rescaling`, ...). Keras 1/2
    /// `hard_sigmoid` is `clip(0.2x+0.5, 0, 1)`, Keras 3's `clip(x/6+0.5, 0, 1)`: each is the other's of a
    /// rescaled input, so a `Rescaling(1.2)` (to Keras 3) or `Rescaling(5/6)` (to Keras 2) goes first. Keras 3's
    /// `hard_swish` (`hard_silu`), `x · clip(x/6+0.5, 0, 1)`, has no tf-keras activation: it becomes that
    /// `Rescaling(5/6)` and `hard_sigmoid`, multiplied by `x` in a `Multiply` (as tf-keras's own MobileNetV3
    /// builds it from layers).
    package override func expansion(for target: KerasDialect, call: JSONValue, names: inout LayerNames) throws -> [ExpansionStep]? {
        let scale: Double
        switch activation {
        case .hardSigmoidLinear where target >= .keras3: scale = 1.2
        case .hardSigmoidRelu6 where target == .keras2, .hardSwish where target == .keras2: scale = 5.0 / 6.0
        default: return nil
        }
        let swish = activation == .hardSwish
        func layer(_ className: String, _ name: String, _ settings: JSONObject) throws -> Layer {
            var config = settings
            config["name"] = .string(name)
            config["trainable"] = .bool(trainable)
            if let dtype = self.config["dtype"] { config["dtype"] = dtype }
            return try LayerRegistry.build(["class_name": .string(className), "config": .object(config)], dialect: target)
        }
        let rescaling = try layer("Rescaling", names.free(name + "_rescaling"), ["scale": .double(scale), "offset": 0.0])
        let hardSigmoid = try layer("Activation", swish ? names.free(name + "_hard_sigmoid") : name, ["activation": "hard_sigmoid"])
        var steps = [ExpansionStep(rescaling, reading: [.input(0)]), ExpansionStep(hardSigmoid, reading: [.step(0)])]
        if swish { steps.append(ExpansionStep(try layer("Multiply", name, [:]), reading: [.input(0), .step(1)])) }
        return steps
    }
}

/// Dropout, SpatialDropout, GaussianNoise and friends: training-time noise, the identity at inference.
package final class InferenceIdentity: Layer {
    package override class var kerasClassNames: [String] { ["Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization"] }
    package override class var examples: [LayerExample] {
        kerasClassNames.map { $0.hasPrefix("SpatialDropout") ? ConvolutionBase.spatialExample($0) : LayerExample($0, inputs: [[3]]) }
    }
    package override var versionOnlyKeys: [VersionOnlyKey] {
        guard className.hasPrefix("SpatialDropout") else { return [] }
        return [VersionOnlyKey("noise_shape", onlyIn: .keras2, value: .null, why: "Keras 3 spatial dropout has no noise_shape"),
                VersionOnlyKey("trainable", onlyIn: .keras2, why: "Keras 3 spatial dropout takes no trainable flag")]
    }

    /// Nothing to compute: the input and its mask flow on.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let input = call.inputs.first else { throw EngineError("expected an input, found none") }
        return [input]
    }
}

/// Looks up rows of an `[input_dim, output_dim]` table; Keras Embedding. With `mask_zero`, index 0 is padding.
package class Embedding: Layer {
    package override class var kerasClassNames: [String] { ["Embedding"] }
    package override class var examples: [LayerExample] { [LayerExample("Embedding", ["input_dim": 5, "output_dim": 2], inputs: [[3]])] }
    package let inputDim: Int
    package let outputDim: Int
    package let maskZero: Bool

    package required init(_ context: LayerContext) throws {
        inputDim = try context.config.int("input_dim")
        outputDim = try context.config.int("output_dim")
        maskZero = try context.config.bool("mask_zero", default: false)
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        [weight("embeddings", [inputDim, outputDim], index: 0)]
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        [try singleInput(inputShapes) + [outputDim]]
    }

    package override class var ownsDimensionKeys: Bool { true }
    package override var computedMask: ComputedMask? { maskZero ? .notEqual(0) : nil }
    package override var inputVocabulary: Int? { inputDim }

    package override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("input_length", onlyIn: .keras2, why: "the input layer carries the sequence length"),
         VersionOnlyKey("dropout", onlyIn: .keras1, value: 0, why: "Keras 2 and 3 Embeddings have no dropout")]
    }

    /// Keras 2.0 wrote the input's dtype (int32) as the Embedding's own; its weights were float32.
    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        if let name = dtypeName(config["dtype"]), name.hasPrefix("int") || name.hasPrefix("uint") {
            config["dtype"] = try export.dtype("float32")
        }
    }

    /// The table's rows picked by the indices; with `mask_zero`, the output's mask is `indices ≠ 0`.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let indices = call.inputs.first else { throw EngineError("expected an input, found none") }
        let table = try weightValues(&graph)[0]
        let shape = call.outputShapes?.first
        let output = graph.add(.gather, inputs: [table, indices.value], outputs: [ValueType(dtype: .float32, shape: shape?.dims)], origin: label)
        let mask = maskZero
            ? graph.add(.notEqual(0), inputs: [indices.value], outputs: [ValueType(dtype: .bool, shape: shape.map { Array($0.dropLast()).dims })], origin: label)[0]
            : nil
        return [LoweredTensor(value: output[0], mask: mask)]
    }
}

/// Marks timesteps whose features all equal `mask_value` as padding for the layers downstream.
package final class Masking: Layer {
    package override class var kerasClassNames: [String] { ["Masking"] }
    package override class var examples: [LayerExample] { [LayerExample("Masking", inputs: [[3, 2]])] }
    package let maskValue: Double

    package required init(_ context: LayerContext) throws {
        maskValue = try context.config.double("mask_value", default: 0)
        try super.init(context)
    }

    package override var computedMask: ComputedMask? { .anyNotEqual(maskValue) }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let input = call.inputs.first else { throw EngineError("expected an input, found none") }
        let shape = call.outputShapes?.first
        let outputs = graph.add(.masking(value: Float(maskValue)), inputs: [input.value],
                                outputs: [ValueType(dtype: .float32, shape: shape?.dims), ValueType(dtype: .bool, shape: shape.map { Array($0.dropLast()).dims })],
                                origin: label)
        return [LoweredTensor(value: outputs[0], mask: outputs[1])]
    }
}

/// A layer whose class kconv does not know (a Lambda, a custom class): kept with its config so that
/// `inspect` can show it, with shapes and weights taken from the file where they can be known.
package final class UnsupportedLayer: Layer {
    /// A Lambda's serialized function, shown as text and never executed.
    package var functionSource: String? {
        guard let function = config["function"] else { return nil }
        let text = function.stringValue ?? function.arrayValue?.first?.stringValue
            ?? function["config"]?["code"]?.stringValue ?? ConfigReader.describe(function)
        // Keras 1 stores marshalled bytecode as raw characters, Keras 2 as base64: neither is readable code.
        let isBytecode = config["function_type"]?.stringValue == "lambda"
            || text.unicodeScalars.contains { $0.value < 32 && $0 != "\n" && $0 != "\t" }
        return isBytecode ? "marshalled Python bytecode (\(text.utf8.count) bytes)" : text
    }

    /// Its weights cannot be predicted, so it stays unbuilt and takes them as the file declares them.
    package override func build(_ inputShapes: [TensorShape]) throws {}

    /// A user's class, unless Keras has it: a Lambda or TFOpLambda, or a class Keras 3 registered in its
    /// own modules (`keras.layers`).
    package override var needsCustomObject: Bool {
        let module = registration?.module.stringValue ?? ""
        return !["Lambda", "TFOpLambda", "SlicingOpLambda"].contains(className) && module != "keras" && !module.hasPrefix("keras.")
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        throw ModelError.unknownShape(label)
    }

    /// tf-keras records each `tf.*` call and `x[...]` slice as a TFOpLambda/SlicingOpLambda naming its function:
    /// the reason names that operation.
    override package var unsupportedReason: String? {
        if ["TFOpLambda", "SlicingOpLambda"].contains(className), let function = config["function"]?.stringValue {
            return "kconv does not implement \(className) operation tf.\(function)"
        }
        return "kconv does not implement class \(className)" + (Self.outOfReach[className].map { ": \($0)" } ?? "")
    }

    /// Why kconv leaves out classes it knows of.
    private static let outOfReach = [
        "StringLookup": "it maps strings, and kconv's tensors hold numbers only",
        "TextVectorization": "it splits and maps strings, and kconv's tensors hold numbers only",
    ]
}

extension Activation {
    package var unsupportedReason: String? {
        if case .unknown(let name) = self { return "unknown activation '\(name)'" }
        return nil
    }

    /// Why a layer that applies the function to its result in place (a convolution, a recurrent cell)
    /// cannot use it: glu halves the axis it splits.
    package var inPlaceUnsupportedReason: String? {
        self == .glu ? "activation glu halves the last axis; kconv computes it only in Dense and Activation layers" : unsupportedReason
    }

    /// The size of the last axis after the function: halved by glu (which needs it even), else the same.
    package func outputSize(_ size: Int, of layer: Layer) throws -> Int {
        guard self == .glu else { return size }
        guard size % 2 == 0 else {
            throw ModelError(layer: layer.label, field: "config.activation", "glu splits the last axis in halves, so it must have an even size, found \(size)")
        }
        return size / 2
    }
}
