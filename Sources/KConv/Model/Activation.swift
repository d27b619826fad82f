import KConvIO
/// A built-in Keras activation function, named as in configs.
///
/// The same name can mean different maths in different Keras generations: `hard_sigmoid` is
/// `clip(0.2x + 0.5, 0, 1)` in Keras 1/2 and `relu6(x + 3) / 6` in Keras 3. Those get distinct cases,
/// chosen from the file's dialect on import, so a model never silently changes its function.
public enum Activation: Equatable, Sendable, CustomStringConvertible {
    case linear, relu, relu6, sigmoid, tanh, softmax, logSoftmax, elu, selu, softplus, softsign
    case swish, gelu, exponential, mish, hardSwish, logSigmoid, leakyRelu
    /// Keras 1/2 `hard_sigmoid`: `clip(0.2x + 0.5, 0, 1)`.
    case hardSigmoidLinear
    /// Keras 3 `hard_sigmoid`: `relu6(x + 3) / 6`.
    case hardSigmoidRelu6
    /// A name kconv does not know (a custom function): shapes are known, the maths are not.
    case unknown(String)

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

    /// The config name Keras uses for this function.
    public var name: String {
        switch self {
        case .linear: "linear"
        case .relu: "relu"
        case .relu6: "relu6"
        case .sigmoid: "sigmoid"
        case .tanh: "tanh"
        case .softmax: "softmax"
        case .logSoftmax: "log_softmax"
        case .elu: "elu"
        case .selu: "selu"
        case .softplus: "softplus"
        case .softsign: "softsign"
        case .swish: "swish"
        case .gelu: "gelu"
        case .exponential: "exponential"
        case .mish: "mish"
        case .hardSwish: "hard_swish"
        case .logSigmoid: "log_sigmoid"
        case .leakyRelu: "leaky_relu"
        case .hardSigmoidLinear, .hardSigmoidRelu6: "hard_sigmoid"
        case .unknown(let name): name
        }
    }

    public var description: String {
        switch self {
        case .hardSigmoidLinear: "hard_sigmoid (Keras 1/2: clip(0.2x+0.5, 0, 1))"
        case .hardSigmoidRelu6: "hard_sigmoid (Keras 3: relu6(x+3)/6)"
        default: name
        }
    }
}

extension ConfigReader {
    /// An activation field; absent means `fallback`.
    func activation(_ key: String, default fallback: String, dialect: KerasDialect) -> Activation {
        guard let value = object[key] else { return Activation(name: fallback, dialect: dialect) }
        return Activation(config: value, dialect: dialect)
    }
}
