import KConvIO
import KConvGraph
/// A tensor shape as Keras reports it: batch dimension first, `nil` for a dimension that is unknown
/// until run time (the batch size, a variable sequence length).
package typealias TensorShape = [Int?]

extension Array where Element == Int? {
    /// Keras's own notation: `(None, 10, 32)`.
    package var kerasDescription: String {
        let dims = map { $0.map(String.init) ?? "None" }
        return dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
    }

    /// The shape without its batch dimension, the form `input_shape` uses in configs.
    package var withoutBatch: TensorShape { Array(dropFirst()) }

    /// The product of the dimensions after the batch axis, or nil if any of them is unknown (or the
    /// product overflows, which only a hostile config achieves).
    package var featureCount: Int? {
        var dims: [Int] = []
        for dim in dropFirst() {
            guard let dim else { return nil }
            dims.append(dim)
        }
        return checkedElementCount(dims)
    }

    /// The product of the known dimensions after the batch axis, nil on overflow.
    package var knownFeatureCount: Int? { checkedElementCount(dropFirst().compactMap { $0 }) }
}

/// The most values one tensor may hold: 2³⁴ Float32s (64 GiB), beyond any real Keras model. Sizes that
/// configs declare are checked against it when the model is built, so a hostile file is an error at load
/// time, never an overflow or an absurd allocation later.
package let largestTensor = 1 << 34
