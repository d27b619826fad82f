import KConvGraph
import KConvIO

/// `StringLookup(vocabulary, num_oov_indices, mask_token, oov_token, invert, output_mode, encoding)`: strings
/// to their vocabulary indices, or indices back to strings (see `IndexLookup`); several OOV indices take a
/// string by its FarmHash fingerprint (`tf.strings.to_hash_bucket_fast`) in both Kerases.
package final class StringLookup: IndexLookup<String> {
    package override class var kerasClassNames: [String] { ["StringLookup"] }
    package override class var examples: [LayerExample] {
        [LayerExample("StringLookup", ["vocabulary": ["a", "b", "c"]], inputs: [[4]], dtype: .string)]
    }

    /// Keras 3's OOV hashing options, which for strings hash as tf-keras does.
    package override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("oov_method", onlyIn: .keras3, value: "floormod", why: "tf-keras hashes out-of-vocabulary strings by FarmHash only"),
         VersionOnlyKey("salt", onlyIn: .keras3, value: .null, why: "tf-keras does not salt out-of-vocabulary hashes")]
    }
}
