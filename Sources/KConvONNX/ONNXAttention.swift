import KConvGraph
import ONNXProto

/// The operations attention layers lower to: einsums, broadcast arithmetic on tensors and masks, inserted
/// axes and the causal mask.
extension ONNXTranslator {
    /// `activation(einsum(a, b) + bias)`; ONNX's Einsum takes Keras's equations as they are (letters only).
    mutating func translateEinsum(_ a: ValueID, _ b: ValueID, bias: ValueID?, _ op: EinsumOp, output: ValueID) throws {
        guard let terms = op.terms else { throw ModelError("einsum equation '\(op.equation)': expected 'term,term->term' in letters") }
        var y = einsum(try name(a), try name(b), op.equation, terms: terms)
        if let bias { y = builder.add1("Add", [y, try name(bias)]) }
        produce(output, try apply(op.activation, y))
    }

    /// `einsum(a, b)` with `equation` (parsed as `terms`): a MatMul when it is a matrix product, which
    /// onnxruntime runs faster than its general Einsum kernel, else an Einsum.
    mutating func einsum(_ a: String, _ b: String, _ equation: String, terms: (a: [Character], b: [Character], output: [Character])) -> String {
        Self.isMatrixProduct(terms) ? builder.add1("MatMul", [a, b]) : builder.add1("Einsum", [a, b], [Attr.attribute("equation", string: equation)])
    }

    /// Whether the equation is what MatMul computes: `…ij,…jk->…ik` over the same leading axes, or
    /// `…j,jk->…k` (a kernel applied to the last axis, as EinsumDense's usual equations). Each term's letters
    /// are distinct (`EinsumOp.terms`), so the summed letter appears in no output.
    static func isMatrixProduct(_ terms: (a: [Character], b: [Character], output: [Character])) -> Bool {
        let (a, b, output) = terms
        guard a.count >= 2, b.count >= 2, let j = a.last, let k = b.last else { return false }
        if b.count == 2 { return b[0] == j && output == a.dropLast() + [k] }
        return b.count == a.count && b.dropLast(2) == a.dropLast(2) && b[b.count - 2] == j && output == a.dropLast() + [k]
    }

    /// NumPy-broadcast `a ∘ b`; `and` reads numbers as true when not 0 and gives a mask.
    mutating func translateBinary(_ a: ValueID, _ b: ValueID, _ operation: BinaryOperation, output: ValueID) throws {
        let rank = try max(knownRank(of: a), knownRank(of: b))
        let operandType: DType = operation == .and ? .bool : .float32
        let x = try name(a, dtype: operandType), y = try name(b, dtype: operandType)
        let opType = switch operation {
        case .add: "Add"
        case .subtract: "Sub"
        case .multiply: "Mul"
        case .divide: "Div"
        case .power: "Pow"
        case .maximum: "Max"
        case .minimum: "Min"
        case .and: "And"
        case .equal, .notEqual: "Equal"
        case .greater: "Greater"
        case .greaterEqual: "GreaterOrEqual"
        case .less: "Less"
        case .lessEqual: "LessOrEqual"
        }
        var result = builder.add1(opType, [x, y])
        if operation == .notEqual { result = builder.add1("Not", [result]) }
        produce(output, result, dtype: operation.givesMask ? .bool : .float32, rank: rank)
    }

    /// An axis of size 1 inserted at `axis` of the result; a mask stays a mask.
    mutating func translateExpandDims(_ input: ValueID, axis: Int, output: ValueID) throws {
        let source = try producedValue(input)
        let x = try name(input, dtype: source.dtype)
        produce(output, unsqueeze(x, axes: [axis]), dtype: source.dtype, rank: try knownRank(of: input) + 1)
    }

    /// `[1, rows, columns]`, true where the row index ≥ the column index, sized by the two inputs' axes.
    mutating func translateCausalMask(rows: ValueID, rowAxis: Int, columns: ValueID, columnAxis: Int, output: ValueID) throws {
        func length(_ value: ValueID, _ axis: Int) throws -> String {
            let rank = try knownRank(of: value)
            guard (-rank ..< rank).contains(axis) else { throw ModelError("the causal mask's axis \(axis) does not exist in a tensor of rank \(rank)") }
            let shape = builder.add1("Shape", [try name(value, dtype: try producedValue(value).dtype)])
            return builder.add1("Gather", [shape, builder.int64Scalar((axis + rank) % rank)], [Attr.attribute("axis", int: 0)])
        }
        let zero = builder.int64Scalar(0), one = builder.int64Scalar(1)
        let rowIndices = unsqueeze(builder.add1("Range", [zero, try length(rows, rowAxis), one]), axes: [1])
        let columnIndices = unsqueeze(builder.add1("Range", [zero, try length(columns, columnAxis), one]), axes: [0])
        let mask = builder.add1("GreaterOrEqual", [rowIndices, columnIndices])
        produce(output, unsqueeze(mask, axes: [0]), dtype: .bool, rank: 3)
    }

    /// Keras Softmax over `axes`, masked positions (the given mask, else the input's) left out as `op.masking`
    /// says.
    mutating func translateSoftmax(_ input: ValueID, _ op: SoftmaxOp, mask: ValueID?, givenMask: ValueID?, output: ValueID) throws {
        let rank = try knownRank(of: input)
        let axes = op.axes.map { $0 < 0 ? $0 + rank : $0 }
        var x = try name(input)
        // The mask as numbers, kept where > 0.5 (a boolean mask casts to 1 and 0).
        let keep = try (givenMask ?? mask).map { try name($0) }
        if let keep {
            switch op.masking {
            case .offset:
                x = builder.add1("Add", [x, builder.add1("Mul", [builder.add1("Sub", [builder.scalar(1), keep]), builder.scalar(-1e9)])])
            case .replace, .replaceAndZero:
                x = builder.add1("Where", [kept(keep), x, builder.scalar(-1e9)])
            }
        }
        var y: String
        if axes.count == 1 {
            y = builder.add1("Softmax", [x], [Attr.attribute("axis", int: axes[0])])
        } else {
            // Several axes: exp(x − max) / sum, reduced over all of them.
            let shifted = builder.add1("Exp", [builder.add1("Sub", [x, reduce("ReduceMax", x, axes: axes, keepDims: true)])])
            y = builder.add1("Div", [shifted, reduce("ReduceSum", shifted, axes: axes, keepDims: true)])
        }
        if let keep, op.masking == .replaceAndZero { y = builder.add1("Where", [kept(keep), y, builder.scalar(0)]) }
        produce(output, y)
    }

    /// Where a numeric mask keeps its position (> 0.5).
    private mutating func kept(_ mask: String) -> String { builder.add1("Greater", [mask, builder.scalar(0.5)]) }
}
