import Testing
@testable import KConvGraph
@testable import KConvEngine

/// The preprocessing kernels against numbers TensorFlow computed.
@Suite struct PreprocessingEngineTests {
    /// Hashing into `Int64.max` bins keeps the whole fingerprint (modulo 2⁶³ − 1), for decimal strings of
    /// 1 to 20 bytes (both FarmHash branches). Reference: tf 2.21,
    /// `tf.strings.to_hash_bucket_fast(tf.strings.as_string(tf.constant(values, tf.int64)), 2**63 - 1)`.
    @Test func hashingMatchesTensorFlow() {
        let expected: [(Int64, Int64)] = [
            (0, 5_975_597_238_397_796_928), (1, 80_785_766_752_259_042), (-1, 7_333_874_265_151_076_430),
            (7, 590_358_713_228_080_281), (123, 6_000_784_015_536_866_124), (-45, 9_157_323_666_671_310_781),
            (12_345_678, 3_430_003_927_990_384_362), (-1_234_567, 4_561_049_060_225_586_265),
            (123_456_789_012_345, 1_846_120_429_383_599_614), (.min, 1_493_431_938_208_774_112),
            (.max, 3_516_461_496_058_286_512),
        ]
        let input = IndexTensor(shape: [expected.count], values: expected.map(\.0))
        let output = HashingOp(bins: Int(Int64.max), maskValue: nil).run(input, floats: nil)
        #expect(output.values == expected.map(\.1))
    }

    /// A mask value goes to bin 0 and the others move up by one; a float input is compared before it is
    /// truncated, as Keras 3 does (2.5 is not the mask value 2, but hashes as "2").
    @Test func hashingMaskValue() {
        let op = HashingOp(bins: 4, maskValue: 2)
        let plain = HashingOp(bins: 4, maskValue: nil).run(IndexTensor(shape: [3], values: [2, 7, 2]), floats: nil)
        let masked = op.run(IndexTensor(shape: [3], values: [2, 7, 2]), floats: Tensor(shape: [3], values: [2, 7, 2.5]))
        #expect(masked.values == [0, plain.values[1] + 1, plain.values[2] + 1])
    }
}
