import KConvGraph
import KConvIO
/// Normalises Keras 1, 2 and 3 layer configs to one vocabulary (the Keras 2/3 names) on import, so that
/// layers and everything after them speak one language.
package enum Dialect {
    /// Keras 1 config keys and their Keras 2 names.
    package static let keyRenames: [(old: String, new: String)] = [
        ("init", "kernel_initializer"), ("inner_init", "recurrent_initializer"), ("bias", "use_bias"),
        ("p", "rate"), ("inner_activation", "recurrent_activation"), ("dropout_W", "dropout"),
        ("dropout_U", "recurrent_dropout"), ("nb_filter", "filters"), ("subsample", "strides"),
        ("subsample_length", "strides"), ("border_mode", "padding"), ("pool_length", "pool_size"),
        ("stride", "strides"), ("sigma", "stddev"), ("input_dtype", "dtype"), ("atrous_rate", "dilation_rate"),
    ]

    /// The canonical class name and normalised config of one layer entry.
    package static func normalize(className: String, config: JSONObject, dialect: KerasDialect) -> (String, JSONObject) {
        var className = LayerRegistry.legacyClassNames[className] ?? className
        var config = config
        // Keras 3 configs (known by their version) have keys of those names of their own: RandomGaussianBlur's `sigma`.
        for (old, new) in keyRenames where dialect < .keras3 && config[old] != nil && config[new] == nil {
            config[new] = config[old]
            config[old] = nil
        }
        if let ordering = config["dim_ordering"]?.stringValue, config["data_format"] == nil {
            config["data_format"] = .string(ordering == "th" ? "channels_first" : "channels_last")
            config["dim_ordering"] = nil
        }
        let ownsDimensionKeys = LayerRegistry.types[className]?.ownsDimensionKeys ?? false
        if !ownsDimensionKeys, config["output_dim"] != nil, config["units"] == nil {
            config["units"] = config["output_dim"]
            config["output_dim"] = nil
        }
        normalizeKernelSize(&config)
        normalizeInputShape(ownsDimensionKeys: ownsDimensionKeys, &config)
        if className == "Merge", config["layers"] == nil { className = keras1MergeClass(&config) }
        return (className, config)
    }

    /// Keras 1's `nb_row`/`nb_col`, `filter_length` and `kernel_dim1..3` become `kernel_size`.
    private static func normalizeKernelSize(_ config: inout JSONObject) {
        guard config["kernel_size"] == nil else { return }
        let keys = [["kernel_dim1", "kernel_dim2", "kernel_dim3"], ["nb_row", "nb_col"], ["filter_length"]]
        for group in keys where group.allSatisfy({ config[$0] != nil }) {
            config["kernel_size"] = .array(group.map { config[$0] ?? .null })
            for key in group { config[key] = nil }
            return
        }
    }

    /// Keras 1's `input_dim`/`input_length` (and Keras 2's `input_shape`) on a first layer become
    /// `batch_input_shape`, except on a layer whose `input_dim` is its own (an Embedding's vocabulary).
    private static func normalizeInputShape(ownsDimensionKeys: Bool, _ config: inout JSONObject) {
        guard config["batch_input_shape"] == nil else { return }
        if let batchShape = config["batch_shape"] {
            config["batch_input_shape"] = batchShape
        } else if let shape = config["input_shape"]?.arrayValue {
            config["batch_input_shape"] = .array([.null] + shape)
        } else if ownsDimensionKeys {
            if let length = config["input_length"], !length.isNull { config["batch_input_shape"] = .array([.null, length]) }
        } else if let dim = config["input_dim"], !dim.isNull {
            let length = config["input_length"]
            config["batch_input_shape"] = .array(length.map { [.null, $0, dim] } ?? [.null, dim])
        }
    }
}
