import KConvGraph
import KConvIO
/// Shared shape arithmetic for layers over 1-3 spatial axes (convolutions, pooling, padding, cropping).

/// A spatial input split into batch, spatial axes and channels according to `data_format`.
package struct SpatialShape {
    package var batch: Int?
    package var spatial: [Int?]
    package var channels: Int?
    package let channelsFirst: Bool

    package init(_ shape: TensorShape, rank: Int, channelsFirst: Bool, of layer: Layer) throws {
        guard shape.count == rank + 2 else {
            throw ModelError(layer: layer.label, "expected a \(rank + 2)-D input (batch, \(rank) spatial axes, channels), found \(shape.kerasDescription)")
        }
        batch = shape[0]
        self.channelsFirst = channelsFirst
        channels = channelsFirst ? shape[1] : shape[rank + 1]
        spatial = channelsFirst ? Array(shape[2...]) : Array(shape[1...rank])
    }

    package var shape: TensorShape {
        channelsFirst ? [batch, channels] + spatial : [batch] + spatial + [channels]
    }
}

extension ConfigReader {
    /// `data_format`: true for channels_first.
    package func channelsFirst() throws -> Bool {
        try choice("data_format", ["channels_last", "channels_first"], default: "channels_last") == "channels_first"
    }

    /// An image layer's `value_range`: `[low, high]` with low < high, `[0, 255]` when absent.
    package func valueRange() throws -> (low: Double, high: Double) {
        let range = object["value_range"].map { $0.arrayValue?.compactMap(\.doubleValue) ?? [] } ?? [0, 255]
        guard range.count == 2, range[0] < range[1] else {
            throw error("value_range", expected: "[low, high] with low < high", found: object["value_range"])
        }
        return (range[0], range[1])
    }
}



/// Reads a padding/cropping amount per spatial axis: `n`, `(a, b)` per axis, or `((a, b), (c, d))`.
package func paddingPairs(_ config: ConfigReader, _ key: String, rank: Int) throws -> [[Int]] {
    let value = config.object[key] ?? .int(1)
    if let single = value.intValue { return Array(repeating: [single, single], count: rank) }
    guard let items = value.arrayValue else {
        throw config.error(key, expected: "an int or \(rank) pairs", found: value)
    }
    if rank == 1, items.count == 2, let a = items[0].intValue, let b = items[1].intValue { return [[a, b]] }
    guard items.count == rank else { throw config.error(key, expected: "an int or \(rank) pairs", found: value) }
    return try items.map { item in
        if let single = item.intValue { return [single, single] }
        guard let pair = item.arrayValue, pair.count == 2, let a = pair[0].intValue, let b = pair[1].intValue else {
            throw config.error(key, expected: "an int or \(rank) pairs", found: value)
        }
        return [a, b]
    }
}




