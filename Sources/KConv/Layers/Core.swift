/// Core layers: inputs, Dense, Activation, Embedding, Masking and the layers that do nothing at inference.

/// A model input. `batch_input_shape` (Keras 2) or `batch_shape` (Keras 3) is its full shape.
public final class InputLayer: Layer {
    public let batchShape: TensorShape
    public let dtype: String

    public required init(_ context: LayerContext) throws {
        let config = context.config
        let shape = try config.optionalShape("batch_input_shape") ?? config.optionalShape("batch_shape")
        guard let shape else {
            throw config.error("batch_input_shape", expected: "the input's shape", found: nil)
        }
        batchShape = shape
        dtype = dtypeName(config.object["dtype"]) ?? "float32"
        try super.init(context)
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] { [batchShape] }
}

/// The dtype name from a config value: `"float32"`, or Keras 3's `DTypePolicy` object.
func dtypeName(_ value: JSONValue?) -> String? {
    guard let value else { return nil }
    if let name = value.stringValue { return name }
    return value["config"]?["name"]?.stringValue
}

/// `y = activation(x·W + b)` on the last axis; Keras Dense. kernel is [in, units].
public final class Dense: Layer {
    public let units: Int
    public let activation: Activation
    public let useBias: Bool

    public required init(_ context: LayerContext) throws {
        units = try context.config.int("units")
        activation = context.config.activation("activation", default: "linear", dialect: context.dialect)
        useBias = try context.config.bool("use_bias", default: true)
        try super.init(context)
    }

    override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let input = try lastDimension(singleInput(inputShapes))
        var specs = [weight("kernel", [input, units], index: 0)]
        if useBias { specs.append(weight("bias", [units], index: 1)) }
        return specs
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        try requireRank(input, 2...Int.max, "a 2-D or higher")
        return [input.dropLast() + [units]]
    }

    override public var unsupportedReason: String? { activation.unsupportedReason }
}

/// Applies an activation function elementwise.
public final class ActivationLayer: Layer {
    public let activation: Activation

    public required init(_ context: LayerContext) throws {
        activation = context.config.activation("activation", default: "linear", dialect: context.dialect)
        try super.init(context)
    }

    override public var unsupportedReason: String? { activation.unsupportedReason }
}

/// Dropout, SpatialDropout, GaussianNoise and friends: training-time noise, the identity at inference.
public final class InferenceIdentity: Layer {}

/// Looks up rows of an `[input_dim, output_dim]` table; Keras Embedding. With `mask_zero`, index 0 is padding.
public final class Embedding: Layer {
    public let inputDim: Int
    public let outputDim: Int
    public let maskZero: Bool

    public required init(_ context: LayerContext) throws {
        inputDim = try context.config.int("input_dim")
        outputDim = try context.config.int("output_dim")
        maskZero = try context.config.bool("mask_zero", default: false)
        try super.init(context)
    }

    override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        [weight("embeddings", [inputDim, outputDim], index: 0)]
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        [try singleInput(inputShapes) + [outputDim]]
    }
}

/// Marks timesteps whose features all equal `mask_value` as padding for the layers downstream.
public final class Masking: Layer {
    public let maskValue: Double

    public required init(_ context: LayerContext) throws {
        maskValue = try context.config.double("mask_value", default: 0)
        try super.init(context)
    }
}

/// A layer whose class kconv does not know (a Lambda, a custom class): kept with its config so that
/// `inspect` can show it, with shapes and weights taken from the file where they can be known.
public final class UnsupportedLayer: Layer {
    /// A Lambda's serialized function, shown as text and never executed.
    public var functionSource: String? {
        guard let function = config["function"] else { return nil }
        let text = function.stringValue ?? function.arrayValue?.first?.stringValue
            ?? function["config"]?["code"]?.stringValue ?? ConfigReader.describe(function)
        // Keras 1 stores marshalled bytecode as raw characters, Keras 2 as base64: neither is readable code.
        let isBytecode = config["function_type"]?.stringValue == "lambda"
            || text.unicodeScalars.contains { $0.value < 32 && $0 != "\n" && $0 != "\t" }
        return isBytecode ? "marshalled Python bytecode (\(text.utf8.count) bytes)" : text
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        throw ModelError.unknownShape(label)
    }

    override public var unsupportedReason: String? { "kconv does not implement class \(className)" }
}

/// A Keras 3 backend operation recorded in a functional graph (`keras.ops.not_equal`, used to compute an
/// Embedding's mask). Not a layer to Keras: it has no weights and `model.layers` leaves it out.
public final class KerasOperation: Layer {
    /// Elementwise comparisons with a constant keep their tensor operand's shape.
    static let shapePreserving: Set<String> = ["NotEqual", "Equal", "Greater", "GreaterEqual", "Less", "LessEqual"]

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        guard Self.shapePreserving.contains(className), inputShapes.count == 1 else { throw ModelError.unknownShape(label) }
        return inputShapes
    }

    override public var unsupportedReason: String? {
        Self.shapePreserving.contains(className) ? nil : "kconv does not implement operation \(className)"
    }
}

extension Activation {
    var unsupportedReason: String? {
        if case .unknown(let name) = self { return "unknown activation '\(name)'" }
        return nil
    }
}
