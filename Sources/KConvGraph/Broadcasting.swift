/// NumPy broadcasting, which the engine's binary kernels and the front end's broadcast constants share.
package enum Broadcasting {
    /// Row-major strides of an operand aligned to the trailing axes of `shape`, 0 on the axes it repeats
    /// (its size-1 axes and the leading axes it lacks).
    package static func strides(of operand: [Int], in shape: [Int]) -> [Int] {
        let padded = Array(repeating: 1, count: shape.count - operand.count) + operand
        var strides = Array(repeating: 0, count: shape.count)
        var step = 1
        for axis in padded.indices.reversed() {
            strides[axis] = padded[axis] == 1 ? 0 : step
            step *= padded[axis]
        }
        return strides
    }
}
