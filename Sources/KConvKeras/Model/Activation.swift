import KConvGraph
import KConvIO

extension Activation {
    /// Reads an activation from a config value: a name, or Keras 3's serialized-function object.
    public init(config value: JSONValue, dialect: KerasDialect) {
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

    public init(name: String, dialect: KerasDialect) {
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
        default: self = .unknown(name)
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
