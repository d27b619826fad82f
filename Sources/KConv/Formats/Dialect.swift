import KConvIO
/// Normalises Keras 1, 2 and 3 layer configs to one vocabulary (the Keras 2/3 names) on import, so that
/// layers and everything after them speak one language.
enum Dialect {
    /// Class names that changed or have aliases, mapped to the canonical name.
    static let classAliases: [String: String] = [
        "Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "Convolution3D": "Conv3D",
        "AtrousConvolution1D": "Conv1D", "AtrousConvolution2D": "Conv2D",
        "SeparableConvolution2D": "SeparableConv2D", "Deconvolution2D": "Conv2DTranspose",
        "Deconvolution3D": "Conv3DTranspose",
        "BatchNormalizationV1": "BatchNormalization", "BatchNormalizationV2": "BatchNormalization",
        "UnifiedLSTM": "LSTM", "UnifiedGRU": "GRU", "LSTMV1": "LSTM", "GRUV1": "GRU",
        "Model": "Functional",
    ]

    /// Keras 1 config keys and their Keras 2 names.
    static let keyRenames: [(old: String, new: String)] = [
        ("init", "kernel_initializer"), ("inner_init", "recurrent_initializer"), ("bias", "use_bias"),
        ("p", "rate"), ("inner_activation", "recurrent_activation"), ("dropout_W", "dropout"),
        ("dropout_U", "recurrent_dropout"), ("nb_filter", "filters"), ("subsample", "strides"),
        ("subsample_length", "strides"), ("border_mode", "padding"), ("pool_length", "pool_size"),
        ("stride", "strides"), ("sigma", "stddev"), ("input_dtype", "dtype"), ("atrous_rate", "dilation_rate"),
    ]

    /// The canonical class name and normalised config of one layer entry.
    static func normalize(className: String, config: JSONObject, dialect: KerasDialect) -> (String, JSONObject) {
        var className = classAliases[className] ?? className
        var config = config
        for (old, new) in keyRenames where config[old] != nil && config[new] == nil {
            config[new] = config[old]
            config[old] = nil
        }
        if let ordering = config["dim_ordering"]?.stringValue, config["data_format"] == nil {
            config["data_format"] = .string(ordering == "th" ? "channels_first" : "channels_last")
            config["dim_ordering"] = nil
        }
        if className != "Embedding", config["output_dim"] != nil, config["units"] == nil {
            config["units"] = config["output_dim"]
            config["output_dim"] = nil
        }
        normalizeKernelSize(&config)
        normalizeInputShape(className: className, &config)
        if className == "Merge", config["layers"] == nil { className = normalizeMerge(&config) }
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
    /// `batch_input_shape`. An Embedding's `input_dim` is its vocabulary, not a shape.
    private static func normalizeInputShape(className: String, _ config: inout JSONObject) {
        guard config["batch_input_shape"] == nil else { return }
        if let batchShape = config["batch_shape"] {
            config["batch_input_shape"] = batchShape
        } else if let shape = config["input_shape"]?.arrayValue {
            config["batch_input_shape"] = .array([.null] + shape)
        } else if className == "Embedding" {
            if let length = config["input_length"], !length.isNull { config["batch_input_shape"] = .array([.null, length]) }
        } else if let dim = config["input_dim"], !dim.isNull {
            let length = config["input_length"]
            config["batch_input_shape"] = .array(length.map { [.null, $0, dim] } ?? [.null, dim])
        }
    }

    /// Keras 1's `Merge(mode=...)` as the Keras 2 merge layer it stands for.
    private static func normalizeMerge(_ config: inout JSONObject) -> String {
        let mode = config["mode"]?.stringValue ?? "sum"
        switch mode {
        case "sum": return "Add"
        case "mul": return "Multiply"
        case "ave": return "Average"
        case "max": return "Maximum"
        case "concat":
            config["axis"] = config["concat_axis"] ?? .int(-1)
            return "Concatenate"
        case "dot", "cos":
            config["axes"] = config["dot_axes"] ?? .int(-1)
            config["normalize"] = .bool(mode == "cos")
            return "Dot"
        default: return "Merge"
        }
    }
}
