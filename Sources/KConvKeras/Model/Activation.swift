import KConvGraph
import KConvIO

extension Activation {
    /// Reads an activation from a config value: a name, or Keras 3's serialized-function object.
    package init(config value: JSONValue, dialect: KerasDialect) {
        if let name = value.stringValue {
            self.init(name: name, dialect: dialect)
        } else if let object = value.objectValue, let name = object["config"]?.stringValue ?? object["class_name"]?.stringValue {
            self.init(name: name, dialect: dialect)
        } else if value.isNull {
            self = .linear
        } else {
            self = .unknown(ConfigReader.describe(value))
        }
    }

    package init(name: String, dialect: KerasDialect) {
        switch name {
        case "linear", "None": self = .linear
        case "relu": self = .relu
        case "relu6": self = .relu6
        case "sigmoid": self = .sigmoid
        case "tanh": self = .tanh
        case "softmax": self = .softmax
        case "log_softmax": self = .logSoftmax
        case "elu": self = .elu
        case "selu": self = .selu
        case "softplus": self = .softplus
        case "softsign": self = .softsign
        case "swish", "silu": self = .swish
        case "gelu": self = .gelu
        case "exponential": self = .exponential
        case "mish": self = .mish
        case "hard_swish", "hard_silu": self = .hardSwish
        case "log_sigmoid": self = .logSigmoid
        case "leaky_relu": self = .leakyRelu
        case "hard_sigmoid": self = dialect >= .keras3 ? .hardSigmoidRelu6 : .hardSigmoidLinear
        default: self = Self.keras3Functions[name] ?? .unknown(name)
        }
    }

    /// Keras 3's functions tf-keras does not have, by config name, with Keras's default parameters (a config
    /// names a function without its arguments). `threshold` has no defaults, so Keras cannot call it from a
    /// config and kconv reads the name as unknown.
    private static let keras3Functions: [String: Activation] = [
        "celu": .celu(alpha: 1), "glu": .glu, "hard_shrink": .hardShrink(threshold: 0.5), "hard_tanh": .hardTanh,
        "soft_shrink": .softShrink(threshold: 0.5), "sparse_plus": .sparsePlus, "sparse_sigmoid": .sparseSigmoid,
        "sparsemax": .sparsemax, "squareplus": .squareplus(b: 4), "tanh_shrink": .tanhShrink,
    ]

    /// Whether only Keras 3 has the function (tf-keras has no such name).
    package var isKeras3Only: Bool { Self.keras3Functions[name] != nil || self == .hardSwish || self == .logSigmoid }

    /// Whether a config can name the function: Keras writes an activation as its name alone, which means
    /// the function with its default parameters.
    package var isNameable: Bool {
        switch self {
        case .geluTanh, .threshold: false
        case .celu, .hardShrink, .softShrink, .squareplus: Self.keras3Functions[name] == self
        default: true
        }
    }
}

extension ConfigReader {
    /// An activation field; absent means `fallback`.
    package func activation(_ key: String, default fallback: String, dialect: KerasDialect) -> Activation {
        guard let value = object[key] else { return Activation(name: fallback, dialect: dialect) }
        return Activation(config: value, dialect: dialect)
    }
}
