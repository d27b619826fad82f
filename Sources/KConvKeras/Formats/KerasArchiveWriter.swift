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
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd@HH:mm:ss"
        var metadata: JSONObject = ["keras_version": .string(kerasVersion), "date_saved": .string(formatter.string(from: Date()))]
        if !renames.isEmpty {
            metadata[Keras3Names.metadataKey] = .object(JSONObject(renames.map { ($0.written, .string($0.original)) }))
        }
        // The weights file is written by HDF5 into the archive itself, behind its local header: no scratch file, no copy.
        try ZipWriter.write(inPlace: "model.weights.h5", writtenBy: { path, offset in
            try writeWeights(model, rewrites: rewrites, renames: renames, to: path, userBlock: offset)
        }, then: [("metadata.json", Data(JSONValue.object(metadata).serialized().utf8)),
                  ("config.json", Data(JSONValue.object(config).serialized().utf8))], to: URL(fileURLWithPath: path))
    }

    /// Keras 3's object-path weights: every variable at `layers/<snake_case class>[_n]/.../vars/<i>`, and a
    /// `vars` group naming each top-level layer, as `model.save_weights("x.weights.h5")` writes them.
    /// `target` chooses the paths of sub-layers that tf-keras and Keras 3 name apart (`WeightSpec.keras2ObjectPath`);
    /// `userBlock`: bytes left before the HDF5 data (`HDF5File.create(_:userBlock:)`).
    package static func writeWeights(_ model: Model, rewrites: WeightRewrites = WeightRewrites(), renames: [(original: String, written: String)] = [],
                                     to path: String, target: KerasDialect = .keras3, userBlock: Int = 0) throws {
        let root = try HDF5File.create(path, userBlock: userBlock).root
        try writeWeights(model, rewrites: rewrites, renames: renames, into: root, target: target)
        try root.file.flush()  // a full disk fails here, not silently at close
    }

    /// The object-path weights written under `root`.
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
