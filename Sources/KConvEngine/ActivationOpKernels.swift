import KConvGraph
/// The engine's activation operations with parameters or masks: softmax over axes, PReLU.

extension SoftmaxOp {
    /// Masked positions (`mask` given, else the input's own mask, broadcast NumPy style) are left out as
    /// `masking` says: offset by −1e9, or replaced by −1e9 where `mask ≤ 0.5` (and zeroed afterwards). Any
    /// large negative number gives the same results in float32: exp of it underflows to 0.
    package func run(_ input: Tensor, inputMask: Mask?, givenMask: Tensor?) throws -> Tensor {
        let axes = try self.axes.map { axis in
            let resolved = axis < 0 ? axis + input.rank : axis
            guard (0..<input.rank).contains(resolved) else {
                throw EngineError("config.axis: axis \(axis) does not exist in an input of shape \(input.shape)")
            }
            return resolved
        }
        let mask = givenMask ?? inputMask.map { Tensor(shape: $0.shape, values: $0.values.map { $0 ? 1 : 0 }) }
        var logits = input
        if let mask {
            guard mask.rank <= input.rank, Tensor.broadcastShape(input.shape, mask.shape) == input.shape else {
                throw EngineError("a mask of shape \(mask.shape) does not broadcast to the input's shape \(input.shape)")
            }
            logits = try masking == .offset
                ? Tensor.broadcasting(input, mask) { x, keep in x + (1 - keep) * -1e9 }
                : Tensor.broadcasting(input, mask) { x, keep in keep > 0.5 ? x : -1e9 }
        }
        var output = try logits.mappingRows(over: axes) { values, rows, width in
            for row in 0..<rows { try Activation.softmax.apply(&values, start: row * width, count: width) }
        }
        if let mask, masking == .replaceAndZero {
            output = try Tensor.broadcasting(output, mask) { y, keep in keep > 0.5 ? y : 0 }
        }
        return output
    }
}

/// `x` for x > 0, `alpha · x` below (Keras: `relu(x) − alpha · relu(−x)`), alpha repeating along the
/// shared axes and the batch.
package func prelu(_ input: Tensor, alpha: Tensor) throws -> Tensor {
    guard alpha.rank == input.rank - 1, Tensor.broadcastShape(input.shape, [1] + alpha.shape) == input.shape else {
        throw EngineError("alpha of shape \(alpha.shape) does not fit an input of shape \(input.shape)")
    }
    return try Tensor.broadcasting(input, alpha.reshaped([1] + alpha.shape)) { x, slope in x > 0 ? x : slope * x }
}
