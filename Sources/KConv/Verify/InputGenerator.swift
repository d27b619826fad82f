import KConvEngine
import KConvKeras
import KConvIO
import KConvGraph
/// Seeded inputs drawn from a model's input spec, for `verify --against`, `run --random`, `bench` and `diff`: unknown dimensions
/// get a concrete length, inputs that feed an Embedding (or an inverted lookup) get whole numbers within its
/// vocabulary, string inputs words of the lookups they feed and one word outside them.
package struct InputGenerator {
    package var batch: Int
    /// The length given to unknown non-batch dimensions (a variable sequence length).
    package var unknownLength: Int
    package var seed: UInt64

    package init(batch: Int = 2, unknownLength: Int = 7, seed: UInt64 = 42) {
        self.batch = batch
        self.unknownLength = unknownLength
        self.seed = seed
    }

    /// One tensor per model input, in input order (token ids as whole-number floats).
    package func inputs(for model: Model) -> [Tensor] { arrays(for: model).map(\.tensor) }

    /// One array per model input, in input order: token ids for an Embedding as int32 (kept exact by
    /// `predict(arrays:)` and written as integers to an `.npz`), everything else float32 in [-1, 1).
    package func arrays(for model: Model) -> [NumPyArray] {
        var random = SplitMix64(seed: seed)
        return zip(model.inputs, model.inputLayers).map { ref, layer in
            let shape = layer.batchShape.enumerated().map { axis, dim in axis == 0 ? batch : dim ?? unknownLength }
            let count = shape.reduce(1, *)
            if DType(kerasName: layer.dtype) == .string {
                let words = (model.words(fedBy: ref) ?? ["the", "cat", "sat"]) + ["unseen"]
                func word() -> String { words[Int(random.next() % UInt64(words.count))] }
                // One string per sample is text to split: a few words.
                let perString = shape.last == 1 ? 3 : 1
                return NumPyArray(shape: shape, strings: (0..<count).map { _ in
                    (0...Int(random.next() % UInt64(perString))).map { _ in word() }.joined(separator: " ")
                })
            }
            if let vocabulary = model.embeddingVocabulary(fedBy: ref), vocabulary > 0 {
                // Index 0 is padding for mask_zero Embeddings; draw it too, and pad the last sample's second
                // half with it, so masks are exercised both inside a sequence and as trailing padding.
                var ids = (0..<count).map { _ in Int64(random.next() % UInt64(vocabulary)) }
                if shape.count >= 2, shape[0] > 1, shape[1] > 1 {
                    let sampleSize = count / shape[0], stepSize = sampleSize / shape[1]
                    let padding = (count - sampleSize + shape[1] / 2 * stepSize) ..< count
                    ids.replaceSubrange(padding, with: repeatElement(0, count: padding.count))
                }
                return NumPyArray(shape: shape, dtype: .int32, values: ids.map(Float.init), integers: ids)
            }
            return NumPyArray(shape: shape, values: (0..<count).map { _ in random.nextUnit() * 2 - 1 })
        }
    }
}

/// A small, fast, seedable generator (SplitMix64), so generated inputs are the same on every machine.
package struct SplitMix64 {
    private var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    package mutating func nextUnit() -> Float { Float(next() >> 40) / Float(1 << 24) }
}
