import KConvGraph
import KConvIO

/// `IntegerLookup(vocabulary, num_oov_indices, mask_token, oov_token, invert, output_mode)`: integers to
/// their vocabulary indices (see `IndexLookup`); several OOV indices take a value by `value mod
/// num_oov_indices`. Keras 3's `farmhash` OOV hashing is not computed.
package final class IntegerLookup: IndexLookup<Int64> {
    package override class var kerasClassNames: [String] { ["IntegerLookup"] }
    package override class var examples: [LayerExample] {
        [LayerExample("IntegerLookup", ["vocabulary": [3, 5, 7]], inputs: [[4]])]
    }

    override func refusal(oovIndices: Int, invert: Bool) throws -> String? {
        try ConfigReader(config).string("oov_method", default: "floormod") != "floormod" && oovIndices > 1 ? "oov_method 'farmhash'" : nil
    }

    /// Keras 3's farmhash OOV option; tf-keras hashes nothing.
    package override var versionOnlyKeys: [VersionOnlyKey] {
        [VersionOnlyKey("oov_method", onlyIn: .keras3, value: "floormod", why: "tf-keras maps out-of-vocabulary integers by floormod only"),
         VersionOnlyKey("salt", onlyIn: .keras3, value: .null, why: "tf-keras does not hash out-of-vocabulary integers")]
    }
}
