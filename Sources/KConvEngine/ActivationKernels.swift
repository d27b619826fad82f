import KConvGraph
import Foundation

/// Elementwise and row-wise activation maths, as Keras defines each function.
extension Activation {
    /// Whether the function needs whole rows (softmax) rather than single elements.
    package var isRowWise: Bool { self == .softmax || self == .logSoftmax || self == .sparsemax }

    /// Applies the function to `tensor`; row-wise functions (and glu) use the last axis, as Keras does.
    package func apply(to tensor: inout Tensor) throws {
        try apply(to: &tensor, along: [-1])
    }

    /// Applies the function to `tensor`: row-wise ones over `axes` together (negative count from the end),
    /// glu splitting its one axis; elementwise ones ignore them.
    package func apply(to tensor: inout Tensor, along axes: [Int]) throws {
        guard self == .glu || isRowWise else { return try apply(&tensor.values, start: 0, count: tensor.count) }
        let resolved = try axes.map { axis in
            let resolved = axis < 0 ? axis + tensor.rank : axis
            guard (0 ..< tensor.rank).contains(resolved) else {
                throw EngineError("\(name): axis \(axis) does not exist in an input of shape \(tensor.shape)")
            }
            return resolved
        }
        if self == .glu {
            guard resolved.count == 1 else { throw EngineError("glu splits one axis, found axes \(axes)") }
            tensor = try Self.glu(tensor, axis: resolved[0])
            return
        }
        tensor = try tensor.mappingRows(over: resolved) { values, rows, width in
            try apply(&values, start: 0, count: width, rows: rows, stride: width)
        }
    }

    /// Applies the function in place to `rows` runs of `count` values, run `r` starting at
    /// `values[start + r · stride]` (one run by default); a row-wise function treats each run as a row.
    package func apply(_ values: inout [Float], start: Int, count: Int, rows: Int = 1, stride: Int = 0) throws {
        guard rows > 0, count > 0 else { return }
        if self == .logSoftmax {
            for row in 0..<rows { logSoftmaxRow(&values, start: start + row * stride, count: count) }
            return
        }
        if self == .sparsemax {
            for row in 0..<rows { Self.sparsemaxRow(&values, start: start + row * stride, count: count) }
            return
        }
        var span = values.mutableSpan
        var region = span._mutatingExtracting(start ..< start + (rows - 1) * stride + count)
        if let function = vectorFunction {
            return NativeKernels.apply(function, to: &region, rows: rows, stride: stride, count: count)
        }
        for row in 0..<rows {
            var run = region._mutatingExtracting(row * stride ..< row * stride + count)
            try apply(&run)
        }
    }

    /// The functions NativeKernels computes.
    private var vectorFunction: NativeKernels.Function? {
        switch self {
        case .sigmoid: .sigmoid
        case .tanh: .tanh
        case .swish: .swish
        case .softmax: .softmax
        default: nil
        }
    }

    /// Applies an elementwise function in place to every element of `run`. Each case is one loop over
    /// a span, so the bounds checks hoist and the branch-free ones vectorise; sigmoid, tanh and swish run in
    /// the C kernels (NativeKernels), built for the CPU's widest vectors.
    package func apply(_ run: inout MutableSpan<Float>) throws {
        let range = 0 ..< run.count
        if let function = vectorFunction {
            return NativeKernels.apply(function, to: &run, rows: 1, stride: 0, count: run.count)
        }
        switch self {
        case .linear: return
        case .relu: for i in range { run[i] = max(run[i], 0) }
        case .relu6: for i in range { run[i] = min(max(run[i], 0), 6) }
        case .elu: for i in range { run[i] = Self.elu(run[i], alpha: 1) }
        case .selu:
            // Keras: scale · elu(x, alpha) with the self-normalising constants.
            for i in range { run[i] = 1.0507009873554805 * Self.elu(run[i], alpha: 1.6732632423543772) }
        case .softplus: for i in range { run[i] = Self.softplus(run[i]) }
        case .softsign: for i in range { run[i] = run[i] / (1 + abs(run[i])) }
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
        case .geluTanh:
            // tf.nn.gelu(approximate=True): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
            for i in range {
                let x = run[i]
                run[i] = 0.5 * x * (1 + Foundation.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
            }
        case .celu(let alpha):
            // Keras 3: max(x, 0) + alpha · expm1(min(x, 0) / alpha).
            for i in range { run[i] = max(run[i], 0) + alpha * expm1(min(run[i], 0) / alpha) }
        case .hardShrink(let threshold): for i in range where !(abs(run[i]) > threshold) { run[i] = 0 }
        case .softShrink(let threshold):
            for i in range {
                let x = run[i]
                run[i] = x > threshold ? x - threshold : x < -threshold ? x + threshold : 0
            }
        case .squareplus(let b): for i in range { run[i] = (run[i] + (run[i] * run[i] + b).squareRoot()) / 2 }
        case .threshold(let threshold, let defaultValue): for i in range where !(run[i] > threshold) { run[i] = defaultValue }
        case .hardTanh: for i in range { run[i] = min(max(run[i], -1), 1) }
        case .sparsePlus:
            for i in range {
                let x = run[i]
                run[i] = x <= -1 ? 0 : x < 1 ? 0.25 * (x + 1) * (x + 1) : x
            }
        case .sparseSigmoid:
            for i in range {
                let x = run[i]
                run[i] = x <= -1 ? 0 : x >= 1 ? 1 : 0.5 * (x + 1)
            }
        case .tanhShrink: for i in range { run[i] -= Foundation.tanh(run[i]) }
        case .glu:
            throw EngineError("glu halves its axis, so kconv cannot apply it in place (only in Dense and Activation layers and the glu operation)")
        case .logSoftmax, .sparsemax:
            preconditionFailure("row-wise functions go through their row kernels")
        case .sigmoid, .tanh, .swish, .softmax:
            preconditionFailure("vector functions go through NativeKernels")
        case .unknown(let name):
            throw EngineError("activation '\(name)' is not a Keras built-in: kconv cannot compute it")
        }
    }

    /// Log-softmax of one row, shifted by its maximum for stability.
    private func logSoftmaxRow(_ values: inout [Float], start: Int, count: Int) {
        let range = start ..< start + count
        var largest = -Float.infinity
        for i in range { largest = max(largest, values[i]) }
        var total: Float = 0
        for i in range { total += exp(values[i] - largest) }
        let offset = largest + log(total)
        for i in range { values[i] -= offset }
    }

    /// Keras 3's sparsemax of one row, as every Keras backend computes it: the row sorted descending, its
    /// running sums `c`, the support `k` = how many `sorted[j] − (c[j] − 1) / (j + 1) > 0`, then
    /// `max(x − τ, 0)`. Keras takes `τ = (Σ_{j<k} c[j] − 1) / k`, the sum of the running sums over the
    /// support rather than the paper's `(c[k−1] − 1) / k`; the two agree only when k is 1, and kconv
    /// follows Keras.
    private static func sparsemaxRow(_ values: inout [Float], start: Int, count: Int) {
        let range = start ..< start + count
        let sorted = values[range].sorted(by: >)
        var running: Float = 0
        var support: Float = 0
        var supportSums: Float = 0
        for (index, value) in sorted.enumerated() {
            running += value
            if value - (running - 1) / Float(index + 1) > 0 {
                support += 1
                supportSums += running
            }
        }
        let tau = (supportSums - 1) / support
        for i in range { values[i] = max(values[i] - tau, 0) }
    }

    /// Keras 3 `glu(x, axis)`: `x` split along `axis` into halves `a` and `b`, giving `a · sigmoid(b)`.
    package static func glu(_ input: Tensor, axis: Int) throws -> Tensor {
        let size = input.shape[axis]
        guard size % 2 == 0 else {
            throw EngineError("glu: axis \(axis) of an input of shape \(input.shape) must have an even size")
        }
        let half = size / 2
        let inner = input.shape[(axis + 1)...].reduce(1, *)
        let outer = input.shape[..<axis].reduce(1, *)
        var outputShape = input.shape
        outputShape[axis] = half
        var gates = [Float](repeating: 0, count: outer * half * inner)
        var output = gates
        let block = half * inner
        for o in 0 ..< outer {
            let base = o * size * inner
            for j in 0 ..< block {
                output[o * block + j] = input.values[base + j]
                gates[o * block + j] = input.values[base + block + j]
            }
        }
        try Activation.sigmoid.apply(&gates, start: 0, count: gates.count)
        for i in output.indices { output[i] *= gates[i] }
        return Tensor(shape: outputShape, values: output)
    }

    package static func elu(_ x: Float, alpha: Float) -> Float { x > 0 ? x : alpha * (exp(x) - 1) }

    /// log(1 + eˣ) without overflow for large x.
    package static func softplus(_ x: Float) -> Float { x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)) }
}

/// Keras's `relu(x, negative_slope, max_value, threshold)` (tf.keras `backend.relu`, Keras 3
/// `activations.relu`), one element at a time: the positive part is `x` where `x > threshold` (else 0),
/// clipped to `[0, max_value]` when there is a maximum, minus `negative_slope · max(threshold − x, 0)`.
/// With threshold 0 and no maximum that is `x` for x > 0 and `slope · x` below (leaky ReLU). Like Keras,
/// a negative threshold without a maximum lets `threshold < x < 0` through unchanged.
package struct Rectifier {
    package var negativeSlope: Float = 0
    package var maxValue: Float?
    package var threshold: Float = 0

    package func callAsFunction(_ x: Float) -> Float {
        var positive = threshold != 0 ? (x > threshold ? x : 0) : max(x, 0)
        if let maxValue { positive = min(max(positive, 0), maxValue) }
        return negativeSlope == 0 ? positive : positive - negativeSlope * max(threshold - x, 0)
    }

    /// Applies the function to every value in place: one loop the compiler can vectorise, with the
    /// common cases (plain ReLU, ReLU6, leaky ReLU) written out.
    package func apply(to values: inout [Float]) {
        switch (negativeSlope, maxValue, threshold) {
        case (0, nil, 0):
            for index in values.indices { values[index] = max(values[index], 0) }
        case (0, let cap?, 0):
            for index in values.indices { values[index] = min(max(values[index], 0), cap) }
        case (let slope, nil, 0):
            for index in values.indices where values[index] < 0 { values[index] *= slope }
        default:
            for index in values.indices { values[index] = self(values[index]) }
        }
    }
}

extension MathFunction {
    /// The function on every value, in float32 as TensorFlow computes it.
    func apply(to values: inout [Float]) {
        switch self {
        case .sqrt: for index in values.indices { values[index] = values[index].squareRoot() }
        case .log: for index in values.indices { values[index] = Foundation.log(values[index]) }
        case .atLeast(let floor): for index in values.indices { values[index] = Swift.max(values[index], floor) }
        }
    }
}
