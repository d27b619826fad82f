import Foundation

/// Elementwise and row-wise activation maths, as Keras defines each function.
extension Activation {
    /// Whether the function needs whole rows (softmax) rather than single elements.
    var isRowWise: Bool { self == .softmax || self == .logSoftmax }

    /// Applies the function in place to `tensor`; row-wise functions use the last axis, as Keras does.
    func apply(to tensor: inout Tensor) throws {
        if isRowWise {
            let (rows, width) = tensor.rowsAndLast
            for row in 0..<rows { applyRow(&tensor.values, start: row * width, count: width) }
        } else {
            try apply(&tensor.values, start: 0, count: tensor.count)
        }
    }

    /// Applies an elementwise function in place to `values[start ..< start + count]`.
    func apply(_ values: inout [Float], start: Int, count: Int) throws {
        let range = start ..< start + count
        switch self {
        case .linear: return
        case .relu: for i in range { values[i] = max(values[i], 0) }
        case .relu6: for i in range { values[i] = min(max(values[i], 0), 6) }
        case .sigmoid: for i in range { values[i] = Self.sigmoid(values[i]) }
        case .tanh: for i in range { values[i] = Foundation.tanh(values[i]) }
        case .elu: for i in range { values[i] = Self.elu(values[i], alpha: 1) }
        case .selu:
            // Keras: scale · elu(x, alpha) with the self-normalising constants.
            for i in range { values[i] = 1.0507009873554805 * Self.elu(values[i], alpha: 1.6732632423543772) }
        case .softplus: for i in range { values[i] = Self.softplus(values[i]) }
        case .softsign: for i in range { values[i] = values[i] / (1 + abs(values[i])) }
        case .swish: for i in range { values[i] = values[i] * Self.sigmoid(values[i]) }
        case .gelu:
            // Keras's default gelu is the exact form, 0.5·x·(1 + erf(x/√2)).
            for i in range { values[i] = 0.5 * values[i] * (1 + erf(values[i] / Float(2).squareRoot())) }
        case .exponential: for i in range { values[i] = exp(values[i]) }
        case .mish: for i in range { values[i] = values[i] * Foundation.tanh(Self.softplus(values[i])) }
        case .hardSwish: for i in range { values[i] = values[i] * min(max(values[i] + 3, 0), 6) / 6 }
        case .logSigmoid: for i in range { values[i] = -Self.softplus(-values[i]) }
        case .leakyRelu: for i in range where values[i] < 0 { values[i] *= 0.2 }
        case .hardSigmoidLinear: for i in range { values[i] = min(max(0.2 * values[i] + 0.5, 0), 1) }
        case .hardSigmoidRelu6: for i in range { values[i] = min(max(values[i] + 3, 0), 6) / 6 }
        case .softmax, .logSoftmax:
            applyRow(&values, start: start, count: count)
        case .unknown(let name):
            throw EngineError("activation '\(name)' is not a Keras built-in: kconv cannot compute it")
        }
    }

    /// Softmax or log-softmax of one row, shifted by its maximum for stability.
    private func applyRow(_ values: inout [Float], start: Int, count: Int) {
        guard count > 0 else { return }
        let range = start ..< start + count
        var largest = -Float.infinity
        for i in range { largest = max(largest, values[i]) }
        var total: Float = 0
        for i in range { total += exp(values[i] - largest) }
        if self == .logSoftmax {
            let offset = largest + log(total)
            for i in range { values[i] -= offset }
        } else {
            for i in range { values[i] = exp(values[i] - largest) / total }
        }
    }

    static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    static func elu(_ x: Float, alpha: Float) -> Float { x > 0 ? x : alpha * (exp(x) - 1) }

    /// log(1 + eˣ) without overflow for large x.
    static func softplus(_ x: Float) -> Float { x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)) }
}
