import KConvGraph
/// The engine's attention arithmetic: two-operand einsums as batched GEMMs, broadcast elementwise
/// operations, inserted axes and the causal mask.

extension EinsumOp {
    /// `activation(einsum(a, b) + bias)`. Letters only one operand has and the output leaves out are summed
    /// first; the rest are batch letters (both operands and the output), contracted letters (both operands
    /// only) and free letters (one operand and the output). Each operand is laid out as
    /// `[batch, free, contracted]` (or `[batch, contracted, free]`, whichever needs no copy), and one GEMM per
    /// batch entry gives `[batch, free a, free b]`, or `[batch, free b, free a]` with the operands swapped
    /// when that is the output's order, so the common equations (EinsumDense, attention) move no data.
    package func run(_ a: Tensor, _ b: Tensor, bias: Tensor?) throws -> Tensor {
        guard let terms else { throw EngineError("'\(equation)' is not an einsum of two operands kconv computes") }
        var sizes: [Character: Int] = [:]
        for (term, operand) in [(terms.a, a), (terms.b, b)] {
            guard term.count == operand.rank else {
                throw EngineError("einsum '\(equation)': term '\(String(term))' does not fit an operand of shape \(operand.shape)")
            }
            for (letter, size) in zip(term, operand.shape) {
                guard sizes[letter, default: size] == size else {
                    throw EngineError("einsum '\(equation)': axis '\(letter)' has sizes \(sizes[letter] ?? 0) and \(size) in shapes \(a.shape) and \(b.shape)")
                }
                sizes[letter] = size
            }
        }
        guard terms.output.allSatisfy({ sizes[$0] != nil }) else {
            throw EngineError("einsum '\(equation)': an output letter names no operand axis")
        }
        let (termA, x) = Self.summingOut(terms.a, a, keeping: Set(terms.b + terms.output))
        let (termB, y) = Self.summingOut(terms.b, b, keeping: Set(terms.a + terms.output))
        let batch = terms.output.filter { termA.contains($0) && termB.contains($0) }
        let contracted = termA.filter { termB.contains($0) && !terms.output.contains($0) }
        var freeA = terms.output.filter { termA.contains($0) && !termB.contains($0) }
        var freeB = terms.output.filter { termB.contains($0) && !termA.contains($0) }
        var (left, right, leftTerm, rightTerm) = (x, y, termA, termB)
        if terms.output != batch + freeA + freeB, terms.output == batch + freeB + freeA {
            (left, right, leftTerm, rightTerm) = (y, x, termB, termA)
            swap(&freeA, &freeB)
        }
        let count = { (letters: [Character]) in letters.reduce(1) { $0 * (sizes[$1] ?? 1) } }
        let (batches, m, n, k) = (count(batch), count(freeA), count(freeB), count(contracted))
        let (lhs, transposeA) = Self.layout(left, leftTerm, batch: batch, free: freeA, contracted: contracted)
        let (rhs, transposeB) = Self.layout(right, rightTerm, batch: batch, free: freeB, contracted: contracted)
        let productTerm = batch + freeA + freeB
        var product = Tensor(zeros: productTerm.map { sizes[$0] ?? 1 })
        if k > 0 {  // else the product is zeros
            for index in 0..<batches {
                BLAS.gemm(m: m, n: n, k: k,
                          a: lhs.values, aOffset: index * m * k, transposeA: transposeA,
                          b: rhs.values, bOffset: index * k * n, transposeB: !transposeB,
                          c: &product.values, cOffset: index * m * n, splitRows: batches == 1)
            }
        }
        var result = productTerm == terms.output ? product
            : product.permuted(terms.output.map { letter in productTerm.firstIndex(of: letter) ?? 0 })
        if let bias {
            guard Tensor.broadcastShape(result.shape, bias.shape) == result.shape else {
                throw EngineError("a bias of shape \(bias.shape) does not broadcast against the product's shape \(result.shape)")
            }
            result = try Tensor.broadcasting(result, bias, +)
        }
        try activation.apply(to: &result)
        return result
    }

    /// The operand summed over the letters of `term` not in `keeping`, and the letters left.
    private static func summingOut(_ term: [Character], _ operand: Tensor, keeping: Set<Character>) -> ([Character], Tensor) {
        let summed = term.indices.filter { !keeping.contains(term[$0]) }
        guard !summed.isEmpty else { return (term, operand) }
        let kept = term.indices.filter { keeping.contains(term[$0]) }
        let moved = operand.permuted(kept + summed)
        let width = summed.reduce(1) { $0 * operand.shape[$1] }
        let rows = kept.reduce(1) { $0 * operand.shape[$1] }
        var values = [Float](repeating: 0, count: rows)
        for row in 0..<rows {
            var total: Float = 0
            for i in row * width ..< (row + 1) * width { total += moved.values[i] }
            values[row] = total
        }
        return (kept.map { term[$0] }, Tensor(shape: kept.map { operand.shape[$0] }, values: values))
    }

    /// The operand as `[batch, free, contracted]` rows (`transposed` false) or `[batch, contracted, free]`
    /// (true): the one its own layout already is, else the first, permuted.
    private static func layout(_ operand: Tensor, _ term: [Character], batch: [Character], free: [Character],
                               contracted: [Character]) -> (Tensor, transposed: Bool) {
        let positions = { (letters: [Character]) in letters.compactMap { term.firstIndex(of: $0) } }
        let rows = positions(batch + free + contracted)
        if rows == Array(term.indices) { return (operand, false) }
        let columns = positions(batch + contracted + free)
        if columns == Array(term.indices) { return (operand, true) }
        return (operand.permuted(rows), false)
    }
}

extension BinaryOperation {
    /// `a ∘ b` with NumPy broadcasting; `and` and comparisons (masks read as 1 and 0) give a mask.
    package func run(_ a: Plan.Slot, _ b: Plan.Slot) throws -> Plan.Slot {
        let (x, y) = (a.asTensor, b.asTensor)
        if let native { return .tensor(try Tensor.broadcasting(x, y, native)) }
        if let arithmetic { return .tensor(try Tensor.broadcasting(x, y, arithmetic)) }
        let test = predicate ?? { _, _ in false }
        let result = try Tensor.broadcasting(x, y) { test($0, $1) ? 1 : 0 }
        return .mask(Mask(shape: result.shape, values: result.values.map { $0 != 0 }))
    }
}

/// `slot` with an axis of size 1 inserted at `axis` of the result (negative: from its end).
package func expandingDims(_ slot: Plan.Slot, axis: Int) throws -> Plan.Slot {
    let shape = slot.shape
    let position = axis < 0 ? axis + shape.count + 1 : axis
    guard (0...shape.count).contains(position) else {
        throw EngineError("cannot insert axis \(axis) into a value of shape \(shape)")
    }
    var expanded = shape
    expanded.insert(1, at: position)
    if case .mask(let mask) = slot { return .mask(Mask(shape: expanded, values: mask.values)) }
    return .tensor(slot.asTensor.reshaped(expanded))
}

/// Keras's causal mask `[1, rows, columns]`: row `i` keeps columns `j ≤ i` (`cumsum` row index ≥ column index).
package func causalMask(rows: Int, columns: Int) -> Mask {
    var values = [Bool](repeating: false, count: rows * columns)
    for row in 0..<rows {
        for column in 0..<min(row + 1, columns) { values[row * columns + column] = true }
    }
    return Mask(shape: [1, rows, columns], values: values)
}
