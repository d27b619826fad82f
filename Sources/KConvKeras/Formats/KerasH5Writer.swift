import KConvGraph
import KConvIO
/// Writes the Keras 2 full-model HDF5 file as tf-keras 2.x `model.save("x.h5")` does: root attributes
/// `backend`, `keras_version`, `model_config`; a `model_weights` group listing `layer_names`, one group per
/// layer listing its `weight_names` (`dense/kernel:0`, `bidirectional/forward_lstm/lstm_cell/kernel:0`)
/// with a float32 dataset at each.
package enum KerasH5Writer {
    /// The tf-keras release whose vocabulary and layout these files follow.
    package static let kerasVersion = "2.21.0"

    package static func write(_ model: Model, config: JSONObject, rewrites: WeightRewrites = WeightRewrites(), to path: String) throws {
        let root = try HDF5File.create(path).root
        try root.setAttribute("backend", .string("tensorflow"))
        try root.setAttribute("keras_version", .string(kerasVersion))
        try root.setAttribute("model_config", .string(JSONValue.object(config).serialized()))
        let weights = try root.createGroup("model_weights")
        try weights.setAttribute("backend", .string("tensorflow"))
        try weights.setAttribute("keras_version", .string(kerasVersion))
        try setNameList(weights, "layer_names", model.layers.map(\.name))
        // By name, as tf-keras writes them: a name containing `/` is a path, so `a/b` must exist before
        // `a/b/c` makes it an intermediate group (MobileNetV3's `expanded_conv/depthwise/pad`).
        for layer in model.layers.sorted(by: { $0.name.unicodeScalars.lexicographicallyPrecedes($1.name.unicodeScalars) }) {
            try locating(layer: layer.label) {
                let group = try weights.createGroup(layer.name)
                let arrays = try boundWeights(layer, rewrites)
                let names = legacyWeightNames(layer)
                try setNameList(group, "weight_names", names)
                for ((spec, array), name) in zip(zip(layer.weightSpecs, arrays), names) {
                    _ = try array.withValues { try group.createDataset(name, shape: spec.shape, floats: $0) }
                }
            }
        }
        try weights.createGroup("top_level_model_weights").setAttribute("weight_names", .strings([]))
        try root.file.flush()  // a full disk fails here, not silently at close
    }

    /// Names stored as a variable-length string attribute take 16 bytes each in the object header, which
    /// HDF5 limits to 64 KiB per attribute: longer lists are split as Keras splits them.
    package static let namesPerAttribute = 64512 / 16

    /// Writes a name list as Keras does: one attribute, or — past the object-header limit — `name0`,
    /// `name1`, ... in as few chunks as fit, the first `count % chunks` one name longer (numpy's
    /// `array_split`).
    package static func setNameList(_ group: HDF5Group, _ name: String, _ names: [String]) throws {
        guard names.count > namesPerAttribute else { return try group.setAttribute(name, .strings(names)) }
        let chunks = (names.count + namesPerAttribute - 1) / namesPerAttribute
        var start = 0
        for chunk in 0..<chunks {
            let count = names.count / chunks + (chunk < names.count % chunks ? 1 : 0)
            try group.setAttribute("\(name)\(chunk)", .strings(Array(names[start ..< start + count])))
            start += count
        }
    }

    /// tf-keras weight names, in `weightSpecs` order, as each layer's weight declarations name them.
    package static func legacyWeightNames(_ layer: Layer) -> [String] { layer.weightSpecs.map { $0.legacyName(in: layer) } }
}

/// A layer's bound weight arrays, one per spec, or an error saying they are missing.
package func boundWeights(_ layer: Layer, _ rewrites: WeightRewrites = WeightRewrites()) throws -> [WeightArray] {
    guard layer.weights.count == layer.weightSpecs.count else {
        throw ModelError("has \(layer.weightSpecs.count) weights but \(layer.weights.count) were loaded: give the weights file that goes with this config")
    }
    return layer.weights.map(rewrites.applied)
}
