import KConvGraph
import Foundation
import KConvIO

/// Writes a TensorFlow.js layers model as `tensorflowjs_converter --input_format keras` (tensorflowjs 4.x)
/// writes one from a Keras 2 `.h5`: `model.json` holding
/// `{"format", "generatedBy", "convertedBy", "modelTopology", "weightsManifest"}`, and one group of binary
/// shards beside it.
///
/// - `modelTopology` is `{"keras_version", "backend", "model_config"}` with the Keras 2 model config, the
///   form tfjs-layers deserialises (no `keras_history` nodes, no `batch_shape`).
/// - The manifest lists every weight as `{"name", "shape", "dtype": "float32"}`, named as in a Keras 2 `.h5`
///   without `:0`. Layers come in the order tensorflowjs reads them from the `.h5`'s `model_weights` group —
///   by name, byte-wise, as HDF5 indexes group members — and each layer's weights in `weight_names` order
///   (trainable, then non-trainable). tfjs-layers binds weights by name, so the order is cosmetic.
/// - Shards hold the little-endian float32 values of every weight, concatenated in manifest order and cut
///   every `shardSize` bytes, so a tensor (even a single value) may span two shards and the last shard is
///   the only short one.
///
/// Weights are written as float32 whatever the source file held: kconv's engine keeps every weight as
/// Float32 (an int32 or float64 weight was converted on reading), as tensorflowjs converts float64 too.
package enum TFJSWriter {
    /// Where the model.json goes: `OUT/model.json` for an existing directory OUT (tensorflowjs names its
    /// output directory), else OUT itself, which must then be named `*.json`.
    package static func modelJSONPath(for path: String) throws -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            return URL(fileURLWithPath: path).appendingPathComponent(TFJSLayout.modelFileName).path
        }
        guard path.lowercased().hasSuffix(".json") else {
            throw ModelError(file: path, "a TensorFlow.js model is written into an existing directory or as a .json file; this is neither")
        }
        return path
    }

    /// The shard files an existing model.json lists beside it, by tensorflowjs's shard names only; none if
    /// the file is missing or not a TensorFlow.js model.json. Replacing it with `--force` removes them.
    package static func listedShards(of path: String) -> [String] {
        guard let text = try? readText(path, limit: 256 << 20), let document = try? JSONValue.parse(text),
              TFJSReader.isModelJSON(document), let groups = document["weightsManifest"]?.arrayValue else { return [] }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        return groups.flatMap { $0["paths"]?.arrayValue ?? [] }.compactMap(\.stringValue)
            .filter { !$0.contains("/") && TFJSLayout.isShardFileName($0) }
            .map { directory.appendingPathComponent($0).path }
            .filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// The files a model's weights need: `group1-shard{i}of{n}.bin`.
    package static func shardFileNames(_ model: Model, shardSize: Int) -> [String] {
        let bytes = model.layers.reduce(0) { $0 + $1.weightSpecs.reduce(0) { $0 + $1.count * 4 } }
        return TFJSLayout.shardFileNames(group: 1, totalBytes: bytes, shardSize: shardSize)
    }

    /// Writes `model.json` at `path` and the shards beside it; `config` is the Keras 2 `model_config`.
    package static func write(_ model: Model, config: JSONObject, rewrites: WeightRewrites = WeightRewrites(), to path: String, shardSize: Int) throws {
        guard shardSize > 0 else { throw ModelError("the shard size must be a positive number of bytes, found \(shardSize)") }
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        let layers = model.layers.filter { !$0.weightSpecs.isEmpty }
            .sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
        let names = try weightNames(model, config: config)
        var entries: [JSONValue] = []
        var seen: [String: String] = [:]
        for layer in layers {
            for (spec, name) in zip(layer.weightSpecs, names[layer.name] ?? []) {
                if let other = seen[name] {
                    // tfjs-layers refuses a manifest naming one weight twice ("Duplicate weight name").
                    throw ModelError(layer: layer.label, field: "weight '\(name)'", "has the same name as a weight of \(other); TensorFlow.js binds weights by name and cannot tell them apart")
                }
                seen[name] = layer.label
                entries.append(["name": .string(name), "shape": .array(spec.shape.map { .int(Int64($0)) }), "dtype": "float32"])
            }
        }

        let shardNames = shardFileNames(model, shardSize: shardSize)
        var shards = ShardStream(directory: directory, names: shardNames, shardSize: shardSize)
        for layer in layers {
            try locating(layer: layer.label) {
                for (spec, array) in zip(layer.weightSpecs, try boundWeights(layer, rewrites)) {
                    let values = try array.values()
                    guard values.count == spec.count else {
                        throw ModelError(field: "weight '\(array.name)'", "shape \(spec.shape) holds \(spec.count) values, found \(values.count)")
                    }
                    try shards.append(values)
                }
            }
        }
        try shards.finish()

        let version = JSONValue.string(KerasH5Writer.kerasVersion)
        let topology: JSONValue = ["keras_version": version, "backend": "tensorflow", "model_config": .object(config)]
        let document: JSONValue = [
            "format": .string(TFJSLayout.format),
            "generatedBy": .string("keras v\(KerasH5Writer.kerasVersion)"),
            "convertedBy": "kconv",
            "modelTopology": topology,
            "weightsManifest": [["paths": .array(shardNames.map { .string($0) }), "weights": .array(entries)]],
        ]
        try Data(document.serialized().utf8).write(to: URL(fileURLWithPath: path))
    }
}

extension TFJSWriter {
    /// The manifest names of each top-level layer's weights: those of the model that tf-keras and tfjs-layers
    /// build from the written Keras 2 config, which is what they look the weights up by. They can differ
    /// from the source's own names: Keras 3 keeps a Bidirectional's given `backward_layer` name, where
    /// Keras 2 names it `backward_<name>`.
    package static func weightNames(_ model: Model, config: JSONObject) throws -> [String: [String]] {
        let rebuilt = try locating(field: "the written config") { try KerasModel.buildModel(.object(config), dialect: .keras2) }
        let keras2 = Dictionary(rebuilt.layers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var names: [String: [String]] = [:]
        for layer in model.layers {
            let written = keras2[layer.name].map(TFJSLayout.weightNames) ?? []
            // A layer whose shapes kconv cannot infer has no weights in the rebuilt model: its own names.
            names[layer.name] = written.count == layer.weightSpecs.count ? written : TFJSLayout.weightNames(layer)
        }
        return names
    }
}

/// Little-endian float32 bytes cut into files of exactly `shardSize` bytes (the last one shorter), holding
/// at most one shard and one tensor in memory.
private struct ShardStream {
    package let directory: URL
    package let names: [String]
    package let shardSize: Int
    private var pending: [UInt8] = []
    private var written = 0

    package init(directory: URL, names: [String], shardSize: Int) {
        self.directory = directory
        self.names = names
        self.shardSize = shardSize
    }

    package mutating func append(_ values: [Float]) throws {
        pending.reserveCapacity(pending.count + values.count * 4)
        for value in values {
            let bits = value.bitPattern
            pending.append(UInt8(truncatingIfNeeded: bits))
            pending.append(UInt8(truncatingIfNeeded: bits >> 8))
            pending.append(UInt8(truncatingIfNeeded: bits >> 16))
            pending.append(UInt8(truncatingIfNeeded: bits >> 24))
        }
        var start = 0
        while pending.count - start >= shardSize {
            try writeShard(pending[start ..< start + shardSize])
            start += shardSize
        }
        pending.removeFirst(start)
    }

    /// Writes the short last shard, and checks that as many shards were written as the manifest lists.
    package mutating func finish() throws {
        if !pending.isEmpty { try writeShard(pending[...]) }
        pending = []
        guard written == names.count else {
            throw ModelError("wrote \(written) weight shards where the weight shapes call for \(names.count)")
        }
    }

    private mutating func writeShard(_ bytes: ArraySlice<UInt8>) throws {
        guard written < names.count else {
            throw ModelError("the weights hold more values than their shapes declare")
        }
        try Data(bytes).write(to: directory.appendingPathComponent(names[written]))
        written += 1
    }
}
