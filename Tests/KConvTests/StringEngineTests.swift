import Testing
@testable import KConvGraph
@testable import KConvEngine

/// The string kernels against numbers and tokens TensorFlow 2.21 computed (Keras runs its string layers on
/// TensorFlow in both generations).
@Suite struct StringEngineTests {
    /// Strings of 0 to 186 UTF-8 bytes: every branch of FarmHash (up to 16, 32, 64 bytes, the 64-byte loop)
    /// and of SipHash's tail.
    static let strings = ["", "a", "cat", "héllo ✓", String(repeating: "x", count: 17), String(repeating: "y", count: 33),
                          "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ!?", String(repeating: "z", count: 65),
                          String(repeating: "The quick brown fox jumps over the lazy dog, again and again: ", count: 3)]

    /// Reference: `tf.strings.to_hash_bucket_fast(strings, 2**63 - 1)` and
    /// `tf.strings.to_hash_bucket_strong(strings, 2**63 - 1, key=[7, 7])` (and `key=[-5, 12345]`).
    @Test func stringHashingMatchesTensorFlow() {
        let input = StringTensor(shape: [Self.strings.count], values: Self.strings)
        let fast: [Int64] = [1_936_946_117_179_621_456, 3_694_432_073_954_588_132, 5_895_093_417_125_187_289, 388_974_397_503_833_843,
                             2_082_709_914_559_524_774, 8_610_735_037_765_521_150, 6_291_081_726_458_281_529, 8_299_915_583_762_718_517,
                             4_469_397_066_528_265_286]
        let salted: [Int64] = [4_673_399_734_692_642_358, 4_886_863_274_070_914_166, 1_800_454_310_580_939_979, 6_365_665_016_296_854_817,
                               2_720_015_675_572_751_036, 5_106_195_011_231_190_819, 8_850_695_633_047_496_712, 7_068_365_179_332_394_501,
                               6_095_937_952_432_550_972]
        let negativeKey: [Int64] = [4_401_142_133_353_256_982, 3_333_060_081_647_714_165, 3_850_149_559_194_308_178, 7_006_669_828_307_634_341,
                                    5_313_060_806_686_090_958, 1_918_177_813_372_300_303, 4_836_860_053_361_437_468, 6_268_960_517_836_886_139,
                                    4_824_881_861_339_455_113]
        #expect(HashingOp(bins: Int(Int64.max), maskValue: nil).run(input).values == fast)
        #expect(HashingOp(bins: Int(Int64.max), maskValue: nil, salt: [7, 7]).run(input).values == salted)
        #expect(HashingOp(bins: Int(Int64.max), maskValue: nil, salt: [UInt64(bitPattern: -5), 12345]).run(input).values == negativeKey)
        // The mask string takes bin 0; the others move up by one.
        let plain = HashingOp(bins: 4, maskValue: nil).run(StringTensor(shape: [1], values: ["a"])).values[0]
        let masked = HashingOp(bins: 4, maskValue: nil, maskString: "cat").run(StringTensor(shape: [2], values: ["cat", "a"]))
        #expect(masked.values == [0, plain + 1])
    }

    /// Reference: `tf.sparse.cross_hashed([ints, strings], 2**63 - 1)` and with three features
    /// `[[3], [-4], [0]]`, `[[5], [6], [7]]` (int64), `[['x'], ['y'], ['z']]`.
    @Test func hashedCrossMatchesTensorFlow() throws {
        let ints = Plan.Slot.integers(IndexTensor(shape: [3, 1], values: [3, -4, 0]))
        let strings = Plan.Slot.strings(StringTensor(shape: [3, 1], values: ["ab", "c", ""]))
        let two = try hashedCross([ints, strings], bins: Int(Int64.max))
        #expect(two.shape == [3, 1])
        #expect(two.values == [6_556_546_830_792_085_739, 158_522_177_676_172_818, 2_804_693_284_008_004_158])
        let more = Plan.Slot.integers(IndexTensor(shape: [3, 1], values: [5, 6, 7]))
        let letters = Plan.Slot.strings(StringTensor(shape: [3, 1], values: ["x", "y", "z"]))
        #expect(try hashedCross([ints, more, letters], bins: Int(Int64.max)).values == [1_994_640_339_713_640_958, 959_695_724_701_568_017, 8_379_369_258_858_538_500])
        #expect(throws: EngineError.self) { try hashedCross([ints, .strings(StringTensor(shape: [3], values: ["a", "b", "c"]))], bins: 5) }
    }

    /// A TextVectorization whose vocabulary is the tokens TensorFlow gave, in order, so each index says which
    /// token came where. References: `tf.strings.lower(['ÄBC Éx'])` is `'Äbc Éx'` (ASCII only);
    /// `tf.strings.split` splits `'a\u{a0}b  c\td\u{1c}e\u{0b}f\u{0c}g\rh'` into `a\u{a0}b, c, d\u{1c}e, f, g, h`;
    /// `tf.strings.ngrams([['a', 'b', 'c']], (1, 2, 3), separator=' ')` is `a, b, c, a b, b c, a b c`.
    @Test func textVectorizationTokenizesAsTensorFlow() throws {
        func vectorize(_ text: String, _ vocabulary: [String], lower: Bool = false, ngrams: [Int]? = nil, length: Int? = nil) throws -> [Int64] {
            let lookup = StringLookupOp(vocabulary: vocabulary, tokenStart: 2, oovStart: 1, oovIndices: 1, maskToken: "", maskIndex: 0, oovToken: "[UNK]", invert: false)
            let op = TextVectorizationOp(lower: lower, stripPunctuation: true, split: .whitespace, ngrams: ngrams, lookup: lookup, length: length, padding: 0)
            return try op.run(StringTensor(shape: [1, 1], values: [text])).values
        }
        #expect(try vectorize("ÄBC, Éx!", ["Äbc", "Éx"], lower: true) == [2, 3])
        #expect(try vectorize("a\u{a0}b  c\td\u{1c}e\u{0b}f\u{0c}g\rh", ["a\u{a0}b", "c", "d\u{1c}e", "f", "g", "h"]) == [2, 3, 4, 5, 6, 7])
        #expect(try vectorize("a b c", ["a", "b", "c", "a b", "b c", "a b c"], ngrams: [1, 2, 3]) == [2, 3, 4, 5, 6, 7])
        #expect(try vectorize("a b c", ["a"], length: 5) == [2, 1, 1, 0, 0])
        #expect(try vectorize("a b c", ["a"], length: 2) == [2, 1])
    }

    /// Several OOV indices take a string by its fingerprint modulo their count (`to_hash_bucket_fast`); an
    /// inverted lookup gives the OOV token past the vocabulary.
    @Test func stringLookup() throws {
        let op = StringLookupOp(vocabulary: ["cat"], tokenStart: 3, oovStart: 0, oovIndices: 3, maskToken: nil, maskIndex: 0, oovToken: "[UNK]", invert: false)
        let bucket = HashingOp(bins: 3, maskValue: nil).run(StringTensor(shape: [1], values: ["a"])).values[0]
        #expect(try op.run(StringTensor(shape: [2], values: ["cat", "a"])).values == [3, bucket])
        var inverted = op
        inverted.invert = true
        #expect(inverted.run(IndexTensor(shape: [3], values: [3, 0, 9])).values == ["cat", "[UNK]", "[UNK]"])
    }
}
