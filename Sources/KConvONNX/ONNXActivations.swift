import KConvGraph

extension ONNXTranslator {
    /// `activation(x)` as ONNX operators, with Keras's constants. Softmax-like ones act on the last axis.
    mutating func apply(_ activation: Activation, _ x: String) throws -> String {
        switch activation {
        case .linear: return x
        case .relu: return builder.add1("Relu", [x])
        case .relu6: return builder.add1("Clip", [x, builder.scalar(0), builder.scalar(6)])
        case .sigmoid: return builder.add1("Sigmoid", [x])
        case .tanh: return builder.add1("Tanh", [x])
        case .softmax: return builder.add1("Softmax", [x], [Attr.attribute("axis", int: -1)])
        case .logSoftmax: return builder.add1("LogSoftmax", [x], [Attr.attribute("axis", int: -1)])
        case .elu: return builder.add1("Elu", [x], [Attr.attribute("alpha", float: 1)])
        case .selu:
            // Keras's constants, which ONNX's defaults round differently.
            return builder.add1("Selu", [x], [Attr.attribute("alpha", float: 1.6732632423543772), Attr.attribute("gamma", float: 1.0507009873554805)])
        case .softplus: return builder.add1("Softplus", [x])
        case .softsign: return builder.add1("Softsign", [x])
        case .swish: return builder.add1("Mul", [x, builder.add1("Sigmoid", [x])])
        case .gelu:
            // Keras's default gelu is the exact form, 0.5·x·(1 + erf(x/√2)).
            if opset >= 20 { return builder.add1("Gelu", [x]) }
            let erf = builder.add1("Erf", [builder.add1("Mul", [x, builder.scalar(Float(0.5.squareRoot()))])])
            return builder.add1("Mul", [builder.add1("Mul", [x, builder.scalar(0.5)]), builder.add1("Add", [erf, builder.scalar(1)])])
        case .exponential: return builder.add1("Exp", [x])
        case .mish:
            if opset >= 18 { return builder.add1("Mish", [x]) }
            return builder.add1("Mul", [x, builder.add1("Tanh", [builder.add1("Softplus", [x])])])
        case .hardSwish: return builder.add1("HardSwish", [x])
        case .logSigmoid: return builder.add1("Neg", [builder.add1("Softplus", [builder.add1("Neg", [x])])])
        case .leakyRelu: return builder.add1("LeakyRelu", [x], [Attr.attribute("alpha", float: 0.2)])
        case .hardSigmoidLinear, .hardSigmoidRelu6:
            let (alpha, beta) = try hardSigmoidCoefficients(activation)
            return builder.add1("HardSigmoid", [x], [Attr.attribute("alpha", float: alpha), Attr.attribute("beta", float: beta)])
        case .unknown(let name):
            throw ModelError("activation '\(name)' is not a Keras built-in: kconv cannot write it to ONNX")
        }
    }

    /// ONNX `HardSigmoid(alpha, beta)` = `clip(alpha·x + beta, 0, 1)`: Keras 1/2's is (0.2, 0.5), Keras 3's
    /// `relu6(x + 3) / 6` is (1/6, 0.5).
    func hardSigmoidCoefficients(_ activation: Activation) throws -> (Float, Float) {
        switch activation {
        case .hardSigmoidLinear: (0.2, 0.5)
        case .hardSigmoidRelu6: (Float(1.0 / 6.0), 0.5)
        default: throw ModelError("\(activation) is not a hard sigmoid")
        }
    }

    /// The name and coefficients of `activation` among the functions ONNX's LSTM, GRU and RNN operators take.
    func recurrentActivation(_ activation: Activation) throws -> (name: String, alpha: Float?, beta: Float?) {
        switch activation {
        case .sigmoid: return ("Sigmoid", nil, nil)
        case .tanh: return ("Tanh", nil, nil)
        case .relu: return ("Relu", nil, nil)
        case .linear: return ("Affine", 1, 0)
        case .softsign: return ("Softsign", nil, nil)
        case .softplus: return ("Softplus", nil, nil)
        case .elu: return ("Elu", 1, nil)
        case .hardSigmoidLinear, .hardSigmoidRelu6:
            let (alpha, beta) = try hardSigmoidCoefficients(activation)
            return ("HardSigmoid", alpha, beta)
        default:
            throw ModelError("ONNX's recurrent operators take sigmoid, tanh, relu, linear, softsign, softplus, elu and hard_sigmoid, not \(activation.name)")
        }
    }
}
