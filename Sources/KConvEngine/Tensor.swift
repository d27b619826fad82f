import KConvGraph
/// A dense Float32 tensor in C (row-major) order: the engine's one value type.
package struct Tensor: Equatable, Sendable {
    package var shape: [Int]
    package var values: [Float]

    /// A tensor over `values`, which must hold exactly `shape`'s element count.
    package init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "tensor shape \(shape) does not match \(values.count) values")
        self.shape = shape
        self.values = values
    }

    package init(zeros shape: [Int]) {
        self.shape = shape
        values = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    package var count: Int { values.count }
    package var rank: Int { shape.count }

    /// The same values under another shape with the same element count.
    package func reshaped(_ newShape: [Int]) -> Tensor { Tensor(shape: newShape, values: values) }

    /// Size of the last axis and the number of rows before it (a `[rows, last]` view).
    package var rowsAndLast: (rows: Int, last: Int) {
        let last = shape.last ?? 1
        return (last == 0 ? 0 : count / last, last)
    }
}

/// Values of one element type in C order, with their shape.
package struct ShapedArray<Element: Equatable & Sendable>: Equatable, Sendable {
    package var shape: [Int]
    package var values: [Element]

    package init(shape: [Int], values: [Element]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not match \(values.count) values")
        self.shape = shape
        self.values = values
    }
}

/// Whole numbers, exact at any size: integer model inputs (an Embedding's token ids).
package typealias IndexTensor = ShapedArray<Int64>

/// Text: string model inputs and outputs (StringLookup, TextVectorization, Hashing of strings).
package typealias StringTensor = ShapedArray<String>

/// Which timesteps of each sample are real (true) or padding (false): shape `[batch, steps]` as Keras
/// computes it from `Masking` or `Embedding(mask_zero=True)` and passes it down the graph.
package typealias Mask = ShapedArray<Bool>

extension Mask {
    /// Elementwise AND of masks of one shape (Keras merges masks this way); nil inputs are all-true.
    package static func all(_ masks: [Mask?]) -> Mask? {
        let present = masks.compactMap { $0 }
        guard var result = present.first else { return nil }
        for other in present.dropFirst() where other.shape == result.shape {
            for index in result.values.indices { result.values[index] = result.values[index] && other.values[index] }
        }
        return result
    }
}
