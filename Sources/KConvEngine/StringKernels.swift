import KConvGraph
/// The engine's string operations, as Keras computes them on TensorFlow: vocabulary lookups, hashing, text
/// vectorization and hashed feature crosses.

extension LookupOp {
    /// Every token's index (see `LookupOp`); `oovBucket` places an out-of-vocabulary token among several OOV
    /// indices. A token with no OOV index to go to is an error, as Keras asserts.
    package func indices(_ tokens: [Token], oovBucket: (Token) -> Int64) throws -> [Int64] {
        let table = Dictionary(vocabulary.enumerated().map { ($1, Int64(tokenStart + $0)) }, uniquingKeysWith: { first, _ in first })
        return try tokens.map { token in
            if let maskToken, token == maskToken { return maskIndex }
            if let index = table[token] { return index }
            switch oovIndices {
            case 0: throw EngineError("\(token) is not in the vocabulary, and the layer has no out-of-vocabulary index (num_oov_indices=0)")
            case 1: return Int64(oovStart)
            default: return Int64(oovStart) + oovBucket(token)
            }
        }
    }

    /// Every index mapped back to its token: 0 to the mask token (if any), past the vocabulary to `oovToken`.
    package func tokens(_ indices: [Int64]) -> [Token] {
        indices.map { value in
            if let maskToken, value == 0 { return maskToken }
            let position = value - Int64(tokenStart)
            return position >= 0 && position < vocabulary.count ? vocabulary[Int(position)] : oovToken
        }
    }
}

extension StringLookupOp {
    /// Every string's index; several OOV indices take an out-of-vocabulary string by its fingerprint
    /// (`tf.strings.to_hash_bucket_fast`).
    package func run(_ input: StringTensor) throws -> IndexTensor {
        let count = UInt64(oovIndices)
        return IndexTensor(shape: input.shape, values: try indices(input.values) { Int64(FarmHash.fingerprint64(Array($0.utf8)) % count) })
    }

    /// Inverted: every index's string.
    package func run(_ input: IndexTensor) -> StringTensor { StringTensor(shape: input.shape, values: tokens(input.values)) }
}

extension HashingOp {
    /// Each value's bin; `floats`, when the input held floats, decides which values equal the mask value.
    package func run(_ input: IndexTensor, floats: Tensor?) -> IndexTensor {
        let values = input.values.enumerated().map { position, value -> Int64 in
            guard let maskValue else { return bin(String(value)) }
            let masked = floats.map { $0.values[position] == Float(maskValue) } ?? (value == maskValue)
            return masked ? 0 : bin(String(value)) + 1
        }
        return IndexTensor(shape: input.shape, values: values)
    }

    /// Each string's bin (the mask string's: 0).
    package func run(_ input: StringTensor) -> IndexTensor {
        IndexTensor(shape: input.shape, values: input.values.map { string in
            guard let maskString else { return bin(string) }
            return string == maskString ? 0 : bin(string) + 1
        })
    }

    /// The UTF-8 bytes' hash, read as unsigned, modulo `bins`.
    private func bin(_ string: String) -> Int64 {
        let bytes = Array(string.utf8)
        let hash = salt.map { SipHash.hash(bytes, key: ($0[0], $0[1])) } ?? FarmHash.fingerprint64(bytes)
        return Int64(hash % UInt64(bins))
    }
}

extension TextVectorizationOp {
    /// ASCII punctuation, which Keras's `[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']` removes.
    private static let punctuation = Set(##"!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~"##.unicodeScalars)
    /// ASCII whitespace, on which `tf.strings.split` splits.
    private static let whitespace = Set(" \t\n\r\u{0B}\u{0C}".unicodeScalars)

    /// Each sample's tokens looked up, one row of indices per sample. Splitting takes one string per sample
    /// (a `[batch]` or `[batch, 1]` input); without a split, each of a sample's strings is a token.
    package func run(_ input: StringTensor) throws -> IndexTensor {
        let batch = input.shape.first ?? 1
        if split != nil, input.shape.count > 2 || input.shape.count == 2 && input.shape[1] != 1 {
            throw EngineError("splitting strings takes a [batch] or [batch, 1] input, found shape \(input.shape)")
        }
        let perSample = batch == 0 ? 0 : input.values.count / batch
        let rows = try (0..<batch).map { sample in
            let strings = input.values[sample * perSample ..< (sample + 1) * perSample].map(standardized)
            return try lookup.indices(withNgrams(strings.flatMap(tokens))) { Int64(FarmHash.fingerprint64(Array($0.utf8)) % UInt64(lookup.oovIndices)) }
        }
        let width = length ?? rows.map(\.count).max() ?? 0
        return IndexTensor(shape: [batch, width], values: rows.flatMap { row in
            row.prefix(width) + Array(repeating: padding, count: max(0, width - row.count))
        })
    }

    private func standardized(_ string: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in string.unicodeScalars where !(stripPunctuation && Self.punctuation.contains(scalar)) {
            scalars.append(lower && ("A"..."Z").contains(scalar) ? Unicode.Scalar(UInt8(scalar.value + 32)) : scalar)
        }
        return String(scalars)
    }

    private func tokens(_ string: String) -> [String] {
        switch split {
        case nil: [string]
        case .character: string.unicodeScalars.map { String($0) }
        case .whitespace: string.unicodeScalars.split { Self.whitespace.contains($0) }.map { String(String.UnicodeScalarView($0)) }
        }
    }

    /// `tf.strings.ngrams`: every run of each width in `ngrams`, width by width, joined by a space.
    private func withNgrams(_ tokens: [String]) -> [String] {
        guard let ngrams else { return tokens }
        return ngrams.flatMap { width in
            width > tokens.count ? [] : (0...(tokens.count - width)).map { tokens[$0 ..< $0 + width].joined(separator: " ") }
        }
    }
}

/// `tf.sparse.cross_hashed` of one value per sample from each feature: the features' hashes (an integer's
/// own bits, a string's fingerprint) chained with `FingerprintCat64` from the default hash key, modulo `bins`.
package func hashedCross(_ features: [Plan.Slot], bins: Int) throws -> IndexTensor {
    guard let shape = features.first?.shape, features.allSatisfy({ $0.shape == shape }) else {
        throw EngineError("the crossed features must have one shape, found \(features.map(\.shape))")
    }
    guard shape.count < 2 || shape.count == 2 && shape[1] == 1 else {
        throw EngineError("a cross takes one value per sample ([batch] or [batch, 1]), found shape \(shape)")
    }
    let hashes = try features.map { feature -> [UInt64] in
        switch feature {
        case .integers(let integers): return integers.values.map { UInt64(bitPattern: $0) }
        case .strings(let strings): return strings.values.map { FarmHash.fingerprint64(Array($0.utf8)) }
        default: throw EngineError("a crossed feature must hold integers or strings")
        }
    }
    let count = hashes[0].count
    return IndexTensor(shape: shape, values: (0..<count).map { sample in
        let hash = hashes.reduce(UInt64(0xDE_CAFC_AFFE)) { FarmHash.cat($0, $1[sample]) }
        return Int64(hash % UInt64(bins))
    })
}
