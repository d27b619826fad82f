import KConvGraph
/// Elementwise maths over two tensors with NumPy broadcasting, the rule every Keras backend op
/// (`ops.add`, `ops.where`, `tf.maximum`) follows: shapes align at their last axes, and an axis of
/// size 1 (or a missing leading axis) repeats to match the other operand.
extension Tensor {
    /// The shape NumPy broadcasting gives two operands, or nil when they cannot broadcast together.
    package static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        let a = Array(repeating: 1, count: rank - a.count) + a
        let b = Array(repeating: 1, count: rank - b.count) + b
        var shape: [Int] = []
        shape.reserveCapacity(rank)
        for (x, y) in zip(a, b) {
            guard x == y || x == 1 || y == 1 else { return nil }
            shape.append(x == 1 ? y : x)
        }
        return shape
    }

    /// `operation(a, b)` elementwise, with `a` and `b` broadcast against each other. Inlined so that each
    /// caller's closure is compiled into the loops.
    @inline(__always)
    package static func broadcasting(_ a: Tensor, _ b: Tensor, _ operation: (Float, Float) -> Float) throws -> Tensor {
        if a.shape == b.shape {
            var result = a
            for index in result.values.indices { result.values[index] = operation(result.values[index], b.values[index]) }
            return result
        }
        guard let shape = broadcastShape(a.shape, b.shape) else {
            throw EngineError("shapes \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        let plan = BroadcastPlan(shape: shape, a.shape, b.shape)
        var result = Tensor(zeros: shape)
        guard result.count > 0 else { return result }
        let (width, strideA, strideB) = (plan.dims.last ?? 1, plan.stridesA.last ?? 0, plan.stridesB.last ?? 0)
        var outer = BroadcastCounter(plan: plan)
        var start = 0
        repeat {
            var (i, j) = (outer.offsetA, outer.offsetB)
            for index in start ..< start + width {
                result.values[index] = operation(a.values[i], b.values[j])
                i += strideA
                j += strideB
            }
            start += width
        } while outer.advance()
        return result
    }
}

extension Tensor {
    /// `operation(a, b)` elementwise, with `a` and `b` broadcast against each other, in the native kernels
    /// (vectorised for the CPU, across cores when large).
    package static func broadcasting(_ a: Tensor, _ b: Tensor, _ operation: NativeKernels.Arithmetic) throws -> Tensor {
        guard let shape = broadcastShape(a.shape, b.shape) else {
            throw EngineError("shapes \(a.shape) and \(b.shape) cannot be broadcast together")
        }
        let plan = BroadcastPlan(shape: shape, a.shape, b.shape)
        guard !plan.dims.isEmpty else {
            // Every axis of size 1 (or none): one value.
            return Tensor(shape: shape, values: NativeKernels.broadcast(operation, a.values, b.values, dims: [1], stridesA: [0], stridesB: [0]))
        }
        guard !plan.dims.contains(0) else { return Tensor(zeros: shape) }
        return Tensor(shape: shape, values: NativeKernels.broadcast(operation, a.values, b.values, dims: plan.dims,
                                                                   stridesA: plan.stridesA, stridesB: plan.stridesB))
    }
}

/// How two operands map onto a broadcast result: the result's axes (merged where both operands step
/// through them contiguously or both repeat them, so the innermost loop is as long as possible) and each
/// operand's element stride along them (0 where it repeats).
private struct BroadcastPlan {
    package var dims: [Int] = []
    package var stridesA: [Int] = []
    package var stridesB: [Int] = []

    package init(shape: [Int], _ a: [Int], _ b: [Int]) {
        let fullA = Broadcasting.strides(of: a, in: shape), fullB = Broadcasting.strides(of: b, in: shape)
        for (axis, dim) in shape.enumerated() where dim != 1 {
            if let last = dims.indices.last,
               stridesA[last] == fullA[axis] * dim, stridesB[last] == fullB[axis] * dim {
                dims[last] *= dim
                stridesA[last] = fullA[axis]
                stridesB[last] = fullB[axis]
            } else {
                dims.append(dim)
                stridesA.append(fullA[axis])
                stridesB.append(fullB[axis])
            }
        }
    }
}

/// Walks the outer axes of a broadcast plan (all but the innermost), keeping each operand's offset.
private struct BroadcastCounter {
    package let plan: BroadcastPlan
    private var index: [Int]
    package private(set) var offsetA = 0
    package private(set) var offsetB = 0

    package init(plan: BroadcastPlan) {
        self.plan = plan
        index = Array(repeating: 0, count: max(plan.dims.count - 1, 0))
    }

    /// Moves to the next outer position; false once every position has been visited.
    package mutating func advance() -> Bool {
        for axis in index.indices.reversed() {
            index[axis] += 1
            offsetA += plan.stridesA[axis]
            offsetB += plan.stridesB[axis]
            if index[axis] < plan.dims[axis] { return true }
            offsetA -= plan.stridesA[axis] * plan.dims[axis]
            offsetB -= plan.stridesB[axis] * plan.dims[axis]
            index[axis] = 0
        }
        return false
    }
}
