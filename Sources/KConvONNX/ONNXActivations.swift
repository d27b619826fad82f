import KConvGraph

extension ONNXTranslator {
    /// `activation(x)` as ONNX operators, with Keras's constants. Row-wise ones (softmax, log_softmax,
    /// sparsemax) act on `axis`, and glu halves it.
    mutating func apply(_ activation: Activation, _ x: String, axis: Int = -1) throws -> String {
        switch activation {
        case .linear: return x
        case .relu: return builder.add1("Relu", [x])
        case .relu6: return builder.add1("Clip", [x, builder.scalar(0), builder.scalar(6)])
        case .sigmoid: return builder.add1("Sigmoid", [x])
        case .tanh: return builder.add1("Tanh", [x])
        case .softmax: return builder.add1("Softmax", [x], [Attr.attribute("axis", int: axis)])
        case .logSoftmax: return builder.add1("LogSoftmax", [x], [Attr.attribute("axis", int: axis)])
        case .sparsemax: return sparsemax(x, axis: axis)
        case .glu:
            // Halves a, b along the axis: a · sigmoid(b). Opset 18 asks Split for its number of outputs.
            let attributes = [Attr.attribute("axis", int: axis)] + (opset >= 18 ? [Attr.attribute("num_outputs", int: 2)] : [])
            let halves = builder.add("Split", [x], outputs: 2, attributes)
            return builder.add1("Mul", [halves[0], builder.add1("Sigmoid", [halves[1]])])
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
        case .geluTanh:
            if opset >= 20 { return builder.add1("Gelu", [x], [Attr.attribute("approximate", string: "tanh")]) }
            // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
            let cube = builder.add1("Mul", [builder.add1("Mul", [x, x]), x])
            let inner = builder.add1("Add", [x, builder.add1("Mul", [cube, builder.scalar(0.044715)])])
            let tanh = builder.add1("Tanh", [builder.add1("Mul", [inner, builder.scalar(0.7978845608028654)])])
            return builder.add1("Mul", [builder.add1("Mul", [x, builder.scalar(0.5)]), builder.add1("Add", [tanh, builder.scalar(1)])])
        case .celu(let alpha): return builder.add1("Celu", [x], [Attr.attribute("alpha", float: alpha)])
        case .hardShrink(let threshold):
            return builder.add1("Shrink", [x], [Attr.attribute("lambd", float: threshold), Attr.attribute("bias", float: 0)])
        case .softShrink(let threshold):
            return builder.add1("Shrink", [x], [Attr.attribute("lambd", float: threshold), Attr.attribute("bias", float: threshold)])
        case .squareplus(let b):
            let root = builder.add1("Sqrt", [builder.add1("Add", [builder.add1("Mul", [x, x]), builder.scalar(b)])])
            return builder.add1("Div", [builder.add1("Add", [x, root]), builder.scalar(2)])
        case .threshold(let threshold, let defaultValue):
            return builder.add1("Where", [builder.add1("Greater", [x, builder.scalar(threshold)]), x, builder.scalar(defaultValue)])
        case .hardTanh: return builder.add1("Clip", [x, builder.scalar(-1), builder.scalar(1)])
        case .sparsePlus:
            // 0 up to −1, ¼(x + 1)² up to 1, then x.
            let shifted = builder.add1("Add", [x, builder.scalar(1)])
            let square = builder.add1("Mul", [builder.add1("Mul", [shifted, shifted]), builder.scalar(0.25)])
            let upper = builder.add1("Where", [builder.add1("Less", [x, builder.scalar(1)]), square, x])
            return builder.add1("Where", [builder.add1("LessOrEqual", [x, builder.scalar(-1)]), builder.scalar(0), upper])
        case .sparseSigmoid:
            let line = builder.add1("Mul", [builder.add1("Add", [x, builder.scalar(1)]), builder.scalar(0.5)])
            return builder.add1("Clip", [line, builder.scalar(0), builder.scalar(1)])
        case .tanhShrink: return builder.add1("Sub", [x, builder.add1("Tanh", [x])])
        case .unknown(let name):
            throw ModelError("activation '\(name)' is not a Keras built-in: kconv cannot write it to ONNX")
        }
    }

    /// An activation along `axes`: row-wise ones over them together, glu halving its one axis, elementwise
    /// ones ignoring them.
    mutating func translateActivation(_ input: ValueID, _ activation: Activation, axes: [Int], output: ValueID) throws {
        let rank = try knownRank(of: input)
        let resolved = try axes.map { axis in
            guard (-rank ..< rank).contains(axis) else { throw ModelError("\(activation.name): axis \(axis) does not exist in a tensor of rank \(rank)") }
            return axis < 0 ? axis : axis - rank
        }
        let x = try name(input)
        guard activation.actsOnLastAxis || activation == .glu || activation == .sparsemax else { return produce(output, try apply(activation, x)) }
        if resolved.count == 1 { return produce(output, try apply(activation, x, axis: resolved[0])) }
        // Several axes together: exp(x − max) / sum, or its log.
        let positive = resolved.map { $0 + rank }
        let shifted = builder.add1("Sub", [x, reduce("ReduceMax", x, axes: positive, keepDims: true)])
        let total = reduce("ReduceSum", builder.add1("Exp", [shifted]), axes: positive, keepDims: true)
        switch activation {
        case .softmax: produce(output, builder.add1("Div", [builder.add1("Exp", [shifted]), total]))
        case .logSoftmax: produce(output, builder.add1("Sub", [shifted, builder.add1("Log", [total])]))
        default: throw ModelError("ONNX export takes \(activation.name) along one axis, not \(axes)")
        }
    }

    /// Keras 3's sparsemax along `axis` (negative, from the end), as Keras computes it: sorted descending, running sums `c`, support
    /// where `sorted − (c − 1) / r > 0`, `τ = (Σ c over the support − 1) / |support|`, then `max(x − τ, 0)`.
    private mutating func sparsemax(_ x: String, axis: Int) -> String {
        let length = builder.add1("Gather", [builder.add1("Shape", [x]), builder.int64Scalar(axis)], [Attr.attribute("axis", int: 0)])
        let sorted = builder.add("TopK", [x, unsqueeze(length, axes: [0])], outputs: 2, [Attr.attribute("axis", int: axis)])[0]
        let running = builder.add1("CumSum", [sorted, builder.int64Scalar(axis)])
        // r = 1…n along the axis, shaped to broadcast there.
        let ranks = cast(builder.add1("Range", [builder.int64Scalar(1), builder.add1("Add", [length, builder.int64Scalar(1)]), builder.int64Scalar(1)]), to: .float32)
        let r = axis == -1 ? ranks : reshape(ranks, [-1] + Array(repeating: 1, count: -axis - 1))
        let support = builder.add1("Greater", [builder.add1("Sub", [sorted, builder.add1("Div", [builder.add1("Sub", [running, builder.scalar(1)]), r])]), builder.scalar(0)])
        let count = reduce("ReduceSum", cast(support, to: .float32), axes: [axis], keepDims: true)
        let total = reduce("ReduceSum", builder.add1("Where", [support, running, builder.scalar(0)]), axes: [axis], keepDims: true)
        let tau = builder.add1("Div", [builder.add1("Sub", [total, builder.scalar(1)]), count])
        return builder.add1("Relu", [builder.add1("Sub", [x, tau])])
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
