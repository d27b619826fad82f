import KConvIO
import KConvGraph
import Foundation

/// What the TensorFlow.js layers format fixes, shared by its writer and reader: file names, shard sizes,
/// element types and weight names, as tensorflowjs 4.x (`converters/keras_h5_conversion.py`,
/// `write_weights.py`) writes them and tfjs-layers (`loadLayersModel`) reads them.
package enum TFJSLayout {
    /// The `format` of a layers model (a graph model says `graph-model`).
    package static let format = "layers-model"
    /// The name tensorflowjs gives the JSON file in its output directory.
    package static let modelFileName = "model.json"
    /// 4 MiB, tensorflowjs's default: "the max file size for caching for all major browsers".
    package static let defaultShardSize = 4 * 1024 * 1024

    /// `group1-shard2of3.bin`: shards are counted from 1 within each group, groups from 1.
    package static func shardFileName(group: Int, shard: Int, of count: Int) -> String {
        "group\(group)-shard\(shard)of\(count).bin"
    }

    /// The shard file names of one group holding `totalBytes`: `ceil(total / shardSize)` of them, none for
    /// an empty group (`_shard_group_bytes_to_disk`).
    package static func shardFileNames(group: Int, totalBytes: Int, shardSize: Int) -> [String] {
        let count = totalBytes / shardSize + (totalBytes % shardSize == 0 ? 0 : 1)
        return (0..<count).map { shardFileName(group: group, shard: $0 + 1, of: count) }
    }

    /// Whether a file name is one tensorflowjs gives shards (`group1-shard1of2.bin`, or without `.bin` as
    /// tensorflowjs 0.x wrote them): the only files kconv removes when a replaced model.json listed them.
    package static func isShardFileName(_ name: String) -> Bool {
        let stem = name.hasSuffix(".bin") ? String(name.dropLast(4)) : name
        guard stem.hasPrefix("group") else { return false }
        let parts = stem.dropFirst(5).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].allSatisfy(\.isNumber), !parts[0].isEmpty, parts[1].hasPrefix("shard") else { return false }
        let counts = parts[1].dropFirst(5).split(separator: "of", omittingEmptySubsequences: false)
        return counts.count == 2 && counts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    }

    /// The manifest names of a layer's weights, in `weightSpecs` order: the names tf-keras gives them in a
    /// Keras 2 `.h5` file without the `:0` suffix (`normalize_weight_name`), e.g.
    /// `bidirectional/forward_lstm/lstm_cell/kernel`. Weights a layer of unknown shapes adopted keep the
    /// name the file gave them, under the layer's name.
    package static func weightNames(_ layer: Layer) -> [String] {
        guard layer.builtInputShapes != nil else {
            let prefix = layer.name + "/"
            return layer.weightSpecs.map { let name = withoutIndex($0.name); return name.hasPrefix(prefix) ? name : prefix + name }
        }
        return KerasH5Writer.legacyWeightNames(layer).map(withoutIndex)
    }

    /// `dense/kernel:0` → `dense/kernel`.
    private static func withoutIndex(_ name: String) -> String {
        name.hasSuffix(":0") ? String(name.dropLast(2)) : name
    }

    /// The name tfjs-layers itself gives a weight: TF 2.2 put the RNN cell in the name
    /// (`lstm/lstm_cell/kernel`), tfjs-layers does not (`lstm/kernel`), and its `loadWeights` matches a
    /// file's name with the second-to-last part removed when the whole name matches nothing.
    package static func cellless(_ name: String) -> String? {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return nil }
        return (parts.dropLast(2) + [parts[parts.count - 1]]).joined(separator: "/")
    }

    /// An element type of the binary weight data and its size in bytes.
    package enum ElementType: String {
        case float32, int32, uint8, uint16, float16

        package var size: Int {
            switch self {
            case .float32, .int32: 4
            case .uint16, .float16: 2
            case .uint8: 1
            }
        }
    }
}
