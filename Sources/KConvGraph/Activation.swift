/// A built-in Keras activation function, named as in configs.
///
/// The same name can mean different maths in different Keras generations: `hard_sigmoid` is
/// `clip(0.2x + 0.5, 0, 1)` in Keras 1/2 and `relu6(x + 3) / 6` in Keras 3. Those get distinct cases,
/// chosen from the file's dialect on import, so a model never silently changes its function.
package enum Activation: Equatable, Sendable, CustomStringConvertible {
    case linear, relu, relu6, sigmoid, tanh, softmax, logSoftmax, elu, selu, softplus, softsign
    case swish, gelu, exponential, mish, hardSwish, logSigmoid, leakyRelu
    /// Keras 1/2 `hard_sigmoid`: `clip(0.2x + 0.5, 0, 1)`.
    case hardSigmoidLinear
    /// Keras 3 `hard_sigmoid`: `relu6(x + 3) / 6`.
    case hardSigmoidRelu6
    /// Keras 3 `gelu(approximate=True)`, the tanh form; `gelu` is the exact, erf form.
    case geluTanh
    /// Keras 3's functions with parameters. A config names an activation without them, which gives
    /// Keras's defaults (celu alpha 1, shrink thresholds 0.5, squareplus b 4); operation nodes carry them.
    case celu(alpha: Float)
    case hardShrink(threshold: Float)
    case softShrink(threshold: Float)
    case squareplus(b: Float)
    /// `x` where x > threshold, else `defaultValue`; Keras has no defaults, so no config names it.
    case threshold(threshold: Float, defaultValue: Float)
    /// Keras 3's functions without parameters.
    case hardTanh, sparsePlus, sparseSigmoid, tanhShrink
    /// Keras 3 `sparsemax`, over the last axis like softmax.
    case sparsemax
    /// Keras 3 `glu`: the last axis split in halves `a`, `b`, giving `a · sigmoid(b)`; it halves that axis.
    case glu
    /// A name kconv does not know (a custom function): shapes are known, the maths are not.
    case unknown(String)

    /// The config name Keras uses for this function.
    package var name: String {
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
        case .geluTanh: "gelu"
        case .celu: "celu"
        case .hardShrink: "hard_shrink"
        case .softShrink: "soft_shrink"
        case .squareplus: "squareplus"
        case .threshold: "threshold"
        case .hardTanh: "hard_tanh"
        case .sparsePlus: "sparse_plus"
        case .sparseSigmoid: "sparse_sigmoid"
        case .tanhShrink: "tanh_shrink"
        case .sparsemax: "sparsemax"
        case .glu: "glu"
        case .unknown(let name): name
        }
    }

    package var description: String {
        switch self {
        case .hardSigmoidLinear: "hard_sigmoid (Keras 1/2: clip(0.2x+0.5, 0, 1))"
        case .hardSigmoidRelu6: "hard_sigmoid (Keras 3: relu6(x+3)/6)"
        case .geluTanh: "gelu (approximate: the tanh form)"
        case .celu(let alpha): "celu(alpha=\(alpha))"
        case .hardShrink(let threshold): "hard_shrink(threshold=\(threshold))"
        case .softShrink(let threshold): "soft_shrink(threshold=\(threshold))"
        case .squareplus(let b): "squareplus(b=\(b))"
        case .threshold(let threshold, let defaultValue): "threshold(threshold=\(threshold), default_value=\(defaultValue))"
        default: name
        }
    }
}
