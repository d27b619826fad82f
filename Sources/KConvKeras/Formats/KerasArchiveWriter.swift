import KConvGraph
import Foundation
import KConvIO

/// Writes the Keras 3 `.keras` archive (`metadata.json`, `config.json`, `model.weights.h5`, all stored
/// uncompressed as Keras writes them) and Keras 3 `.weights.h5` files.
package enum KerasArchiveWriter {
    /// The Keras release whose vocabulary and layout these files follow.
    package static let kerasVersion = "3.15.1"

    /// `renames` are the layer names written in place of those Keras 3 refuses (`Keras3Names`), kept in
    /// `metadata.json`.
    package static func write(_ model: Model, config: JSONObject, rewrites: WeightRewrites = WeightRewrites(),
                              renames: [(original: String, written: String)] = [], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        // The weights are written into an in-memory HDF5 file and its image goes into the zip: no scratch file.
        let file = try HDF5File.createInMemory(name: path + "/model.weights.h5")
        try writeWeights(model, rewrites: rewrites, renames: renames, into: file.root)

        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd@HH:mm:ss"
        var metadata: JSONObject = ["keras_version": .string(kerasVersion), "date_saved": .string(formatter.string(from: Date()))]
        if !renames.isEmpty {
            metadata[Keras3Names.metadataKey] = .object(JSONObject(renames.map { ($0.written, .string($0.original)) }))
        }
        try file.withImage { weights in
            try ZipWriter.write([("metadata.json", Data(JSONValue.object(metadata).serialized().utf8)),
                                 ("config.json", Data(JSONValue.object(config).serialized().utf8)),
                                 ("model.weights.h5", weights)], to: url)
        }
    }

    /// Keras 3's object-path weights: every variable at `layers/<snake_case class>[_n]/.../vars/<i>`, and a
    /// `vars` group naming each top-level layer, as `model.save_weights("x.weights.h5")` writes them.
    /// `target` chooses the paths of sub-layers that tf-keras and Keras 3 name apart (`WeightSpec.keras2ObjectPath`).
    package static func writeWeights(_ model: Model, rewrites: WeightRewrites = WeightRewrites(), renames: [(original: String, written: String)] = [],
                                     to path: String, target: KerasDialect = .keras3) throws {
        let root = try HDF5File.create(path).root
        try writeWeights(model, rewrites: rewrites, renames: renames, into: root, target: target)
        try root.file.flush()  // a full disk fails here, not silently at close
    }

    /// The object-path weights written under `root`, on disk or in memory.
    private static func writeWeights(_ model: Model, rewrites: WeightRewrites, renames: [(original: String, written: String)],
                                     into root: HDF5Group, target: KerasDialect = .keras3) throws {
        let written = Dictionary(renames, uniquingKeysWith: { first, _ in first })
        try root.createGroup("vars").setAttribute("name", .string(written[model.name] ?? model.name))
        for layer in model.layers {
            let base = model.writtenObjectPathPrefix(of: layer)
            try locating(layer: layer.label) {
                try root.createGroup(base + "vars").setAttribute("name", .string(written[layer.name] ?? layer.name))
                for (spec, array) in zip(layer.weightSpecs, try boundWeights(layer, rewrites)) {
                    try array.withValues { values in
                        for path in [layer.writtenObjectPath(spec, for: target)] + spec.objectAliases {
                            try root.createDataset(base + path, shape: spec.shape, floats: values)
                        }
                    }
                }
            }
        }
    }
}
