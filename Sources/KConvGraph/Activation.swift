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
