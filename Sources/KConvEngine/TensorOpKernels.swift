import Foundation
import KConvGraph

/// Kernels of the NumPy-like operations Keras 3 records as graph nodes (`keras.ops.where`, `ops.mean`,
/// `x[:, -1]`), which tf-keras records in TFOpLambda layers.

/// `condition ? a : b` elementwise, the three broadcast together.
package func select(_ condition: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
    guard let pair = Tensor.broadcastShape(condition.shape, a.shape), let shape = Tensor.broadcastShape(pair, b.shape) else {
        throw EngineError("where: shapes \(condition.shape), \(a.shape) and \(b.shape) cannot be broadcast together")
    }
    let strides = [condition.shape, a.shape, b.shape].map { Broadcasting.strides(of: $0, in: shape) }
    var output = Tensor(zeros: shape)
    var index = Array(repeating: 0, count: shape.count)
    for position in output.values.indices {
        let offsets = strides.map { zip($0, index).reduce(0) { $0 + $1.0 * $1.1 } }
        output.values[position] = condition.values[offsets[0]] != 0 ? a.values[offsets[1]] : b.values[offsets[2]]
        for axis in shape.indices.reversed() {
            index[axis] += 1
            if index[axis] < shape[axis] { break }
            index[axis] = 0
        }
    }
    return output
}

extension ReduceOp {
    package func run(_ input: Tensor) throws -> Tensor {
        let reduced = Set(axes ?? Array(input.shape.indices)).sorted()
        guard reduced.allSatisfy(input.shape.indices.contains) else {
            throw EngineError("cannot reduce axes \(reduced) of an input of shape \(input.shape)")
        }
        let kept = input.shape.indices.filter { !reduced.contains($0) }
        let width = reduced.reduce(1) { $0 * input.shape[$1] }
        let rows = kept.reduce(1) { $0 * input.shape[$1] }
        guard width > 0 || kind == .sum else { throw EngineError("cannot take the \(kind) of no values (shape \(input.shape))") }
        let moved = input.permuted(kept + reduced)
        let values: [Float] = (0 ..< rows).map { row in
            let slice = moved.values[row * width ..< (row + 1) * width]
            switch kind {
            case .sum: return slice.reduce(0, +)
            case .mean: return slice.reduce(0, +) / Float(width)
            case .max: return slice.max() ?? 0
            case .min: return slice.min() ?? 0
            }
        }
        let shape = keepDims ? input.shape.indices.map { reduced.contains($0) ? 1 : input.shape[$0] } : kept.map { input.shape[$0] }
        return Tensor(shape: shape, values: values)
    }
}

/// `slot[indices]`: the positions each index selects on its axis, the axes of single indices dropped.
package func sliced(_ slot: Plan.Slot, _ indices: [SliceIndex]) throws -> Plan.Slot {
    let shape = slot.shape
    guard indices.count <= shape.count else { throw EngineError("\(indices.count) indices do not fit a value of shape \(shape)") }
    let positions = try shape.indices.map { axis in
        guard axis < indices.count else { return Array(0 ..< shape[axis]) }
        let selected = indices[axis].positions(size: shape[axis])
        guard selected.allSatisfy((0 ..< shape[axis]).contains) else {
            throw EngineError("index \(indices[axis]) is out of range for axis \(axis) of size \(shape[axis])")
        }
        return selected
    }
    let strides = shape.indices.map { shape[($0 + 1)...].reduce(1, *) }
    var offsets = [0]
    for axis in shape.indices {
        offsets = offsets.flatMap { base in positions[axis].map { base + $0 * strides[axis] } }
    }
    let outputShape = shape.indices.filter { axis in
        guard axis < indices.count, case .index = indices[axis] else { return true }
        return false
    }.map { positions[$0].count }
    switch slot {
    case .mask(let mask): return .mask(Mask(shape: outputShape, values: offsets.map { mask.values[$0] }))
    case .strings(let strings): return .strings(StringTensor(shape: outputShape, values: offsets.map { strings.values[$0] }))
    case .tensor, .integers:
        let values = slot.asTensor.values
        return .tensor(Tensor(shape: outputShape, values: offsets.map { values[$0] }))
    }
}

extension BinaryOperation {
    /// The operation as a native kernel, where there is one.
    var native: NativeKernels.Arithmetic? {
        switch self {
        case .add: .add
        case .subtract: .subtract
        case .multiply: .multiply
        case .divide: .divide
        default: nil
        }
    }

    /// The elementwise function of a numeric operation (nil for those giving masks).
    var arithmetic: ((Float, Float) -> Float)? {
        switch self {
        case .add: (+)
        case .subtract: (-)
        case .multiply: (*)
        case .divide: (/)
        case .power: { powf($0, $1) }
        case .maximum: { $0.isNaN || $1.isNaN ? .nan : max($0, $1) }
        case .minimum: { $0.isNaN || $1.isNaN ? .nan : min($0, $1) }
        case .and, .equal, .notEqual, .greater, .greaterEqual, .less, .lessEqual: nil
        }
    }

    /// The test of an operation giving a mask (nil for numeric ones).
    var predicate: ((Float, Float) -> Bool)? {
        switch self {
        case .and: { $0 != 0 && $1 != 0 }
        case .equal: (==)
        case .notEqual: (!=)
        case .greater: (>)
        case .greaterEqual: (>=)
        case .less: (<)
        case .lessEqual: (<=)
        default: nil
        }
    }
}

/// `slot` as `dtype`: a mask for bool (true where not 0); whole numbers truncated toward 0 for an integer type.
package func cast(_ slot: Plan.Slot, to dtype: DType) -> Plan.Slot {
    let values = slot.asTensor
    if dtype == .bool { return .mask(Mask(shape: values.shape, values: values.values.map { $0 != 0 })) }
    if dtype.isInteger { return .tensor(Tensor(shape: values.shape, values: values.values.map { $0.rounded(.towardZero) })) }
    return .tensor(values)
}
