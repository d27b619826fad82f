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
        if isRowWise { return applyRow(&values, start: start, count: count) }
        var span = values.mutableSpan
        var run = span._mutatingExtracting(start ..< start + count)
        try apply(&run)
    }

    /// Applies an elementwise function in place to every element of `run`. Each case is one loop over
    /// a span, so the bounds checks hoist and the branch-free ones (relu, sigmoid, tanh) vectorise.
    func apply(_ run: inout MutableSpan<Float>) throws {
        let range = 0 ..< run.count
        switch self {
        case .linear: return
        case .relu: for i in range { run[i] = max(run[i], 0) }
        case .relu6: for i in range { run[i] = min(max(run[i], 0), 6) }
        case .sigmoid: for i in range { run[i] = Self.sigmoid(run[i]) }
        case .tanh: for i in range { run[i] = Self.tanh(run[i]) }
        case .elu: for i in range { run[i] = Self.elu(run[i], alpha: 1) }
        case .selu:
            // Keras: scale · elu(x, alpha) with the self-normalising constants.
            for i in range { run[i] = 1.0507009873554805 * Self.elu(run[i], alpha: 1.6732632423543772) }
        case .softplus: for i in range { run[i] = Self.softplus(run[i]) }
        case .softsign: for i in range { run[i] = run[i] / (1 + abs(run[i])) }
        case .swish: for i in range { run[i] = run[i] * Self.sigmoid(run[i]) }
        case .gelu:
            // Keras's default gelu is the exact form, 0.5·x·(1 + erf(x/√2)).
            for i in range { run[i] = 0.5 * run[i] * (1 + erf(run[i] / Float(2).squareRoot())) }
        case .exponential: for i in range { run[i] = exp(run[i]) }
        case .mish: for i in range { run[i] = run[i] * Foundation.tanh(Self.softplus(run[i])) }
        case .hardSwish: for i in range { run[i] = run[i] * min(max(run[i] + 3, 0), 6) / 6 }
        case .logSigmoid: for i in range { run[i] = -Self.softplus(-run[i]) }
        case .leakyRelu: for i in range where run[i] < 0 { run[i] *= 0.2 }
        case .hardSigmoidLinear: for i in range { run[i] = min(max(0.2 * run[i] + 0.5, 0), 1) }
        case .hardSigmoidRelu6: for i in range { run[i] = min(max(run[i] + 3, 0), 6) / 6 }
        case .softmax, .logSoftmax:
            preconditionFailure("row-wise activations go through applyRow")
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

    static func sigmoid(_ x: Float) -> Float { 1 / (1 + fastExp(-x)) }

    /// tanh within 3·10⁻⁷ (relative) of the exact value: Cephes's odd polynomial below 0.625, and
    /// (1 − e⁻²ˣ) / (1 + e⁻²ˣ) above, sign restored. Branch-free, so loops over it vectorise; libm's
    /// tanhf was most of an LSTM's run time.
    static func tanh(_ x: Float) -> Float {
        let z = x * x
        var p: Float = -5.70498872745e-3
        p = p * z + 2.06390887954e-2
        p = p * z - 5.37397155531e-2
        p = p * z + 1.33314422036e-1
        p = p * z - 3.33332819422e-1
        let small = p * z * x + x
        let e = fastExp(-2 * abs(x))
        let large = (1 - e) / (1 + e)
        return abs(x) < 0.625 ? small : Float(bitPattern: large.bitPattern | (x.bitPattern & 0x8000_0000))
    }

    /// eˣ within 2·10⁻⁷ (relative), branch-free so that loops over it vectorise: x = n·ln2 + r with
    /// |r| ≤ ln2/2 (Cody–Waite split of ln2), Cephes's degree-6 polynomial for eʳ, and 2ⁿ built in the
    /// exponent bits. x is clamped to [−87.3, 88.3], where 2ⁿ stays a normal float; NaN stays NaN.
    static func fastExp(_ x: Float) -> Float {
        let x = min(max(x, -87.3), 88.3)
        // Adding 1.5·2²³ rounds x·log2(e) to the nearest integer n, held in the low mantissa bits.
        let shifted = x * 1.44269504 + 12_582_912
        let n = shifted - 12_582_912
        let r = (x - n * 0.693359375) + n * 2.12194440e-4
        var p: Float = 1.9875691500e-4
        p = p * r + 1.3981999507e-3
        p = p * r + 8.3334519073e-3
        p = p * r + 4.1665795894e-2
        p = p * r + 1.6666665459e-1
        p = p * r + 5.0000001201e-1
        let powerOfTwo = Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) &<< 23)
        return (p * r * r + r + 1) * powerOfTwo
    }

    static func elu(_ x: Float, alpha: Float) -> Float { x > 0 ? x : alpha * (exp(x) - 1) }

    /// log(1 + eˣ) without overflow for large x.
    static func softplus(_ x: Float) -> Float { x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)) }
}
