import KConvIO
/// The one map from Keras class name to native layer type, and the factory that builds layers from
/// config entries.
enum LayerRegistry {
    static let types: [String: Layer.Type] = [
        // Core
        "InputLayer": InputLayer.self, "Dense": Dense.self, "Activation": ActivationLayer.self,
        "Embedding": Embedding.self, "Masking": Masking.self,
        "Dropout": InferenceIdentity.self, "SpatialDropout1D": InferenceIdentity.self,
        "SpatialDropout2D": InferenceIdentity.self, "SpatialDropout3D": InferenceIdentity.self,
        "GaussianNoise": InferenceIdentity.self, "GaussianDropout": InferenceIdentity.self,
        "AlphaDropout": InferenceIdentity.self, "ActivityRegularization": InferenceIdentity.self,
        // Models
        "Sequential": Model.self, "Functional": Model.self,
        // Recurrent and wrappers
        "SimpleRNN": Recurrent.self, "LSTM": Recurrent.self, "GRU": Recurrent.self,
        "TimeDistributed": TimeDistributed.self, "Bidirectional": Bidirectional.self,
        // Convolution
        "Conv1D": Convolution.self, "Conv2D": Convolution.self, "Conv3D": Convolution.self,
        "Conv1DTranspose": ConvolutionTranspose.self, "Conv2DTranspose": ConvolutionTranspose.self,
        "Conv3DTranspose": ConvolutionTranspose.self,
        "SeparableConv1D": SeparableConvolution.self, "SeparableConv2D": SeparableConvolution.self,
        "DepthwiseConv1D": DepthwiseConvolution.self, "DepthwiseConv2D": DepthwiseConvolution.self,
        // Pooling
        "MaxPooling1D": Pooling.self, "MaxPooling2D": Pooling.self, "MaxPooling3D": Pooling.self,
        "AveragePooling1D": Pooling.self, "AveragePooling2D": Pooling.self, "AveragePooling3D": Pooling.self,
        "GlobalMaxPooling1D": GlobalPooling.self, "GlobalMaxPooling2D": GlobalPooling.self,
        "GlobalMaxPooling3D": GlobalPooling.self, "GlobalAveragePooling1D": GlobalPooling.self,
        "GlobalAveragePooling2D": GlobalPooling.self, "GlobalAveragePooling3D": GlobalPooling.self,
        // Normalization
        "BatchNormalization": BatchNormalization.self, "LayerNormalization": LayerNormalization.self,
        // Merge
        "Add": ElementwiseMerge.self, "Subtract": ElementwiseMerge.self, "Multiply": ElementwiseMerge.self,
        "Average": ElementwiseMerge.self, "Maximum": ElementwiseMerge.self, "Minimum": ElementwiseMerge.self,
        "Concatenate": Concatenate.self, "Dot": Dot.self,
        // Reshaping
        "Flatten": Flatten.self, "Reshape": Reshape.self, "Permute": Permute.self, "RepeatVector": RepeatVector.self,
        "ZeroPadding1D": SpatialPadding.self, "ZeroPadding2D": SpatialPadding.self, "ZeroPadding3D": SpatialPadding.self,
        "Cropping1D": SpatialPadding.self, "Cropping2D": SpatialPadding.self, "Cropping3D": SpatialPadding.self,
        "UpSampling1D": UpSampling.self, "UpSampling2D": UpSampling.self, "UpSampling3D": UpSampling.self,
        // Activation layers
        "ReLU": ReLULayer.self, "LeakyReLU": LeakyReLU.self, "PReLU": PReLU.self, "ELU": ELULayer.self,
        "Softmax": SoftmaxLayer.self, "ThresholdedReLU": ThresholdedReLU.self,
    ]

    /// Builds a layer from a `{"class_name", "config"}` entry written in `dialect`. Unknown classes become
    /// `UnsupportedLayer`s; a config that contradicts its class is an error naming the layer and field.
    static func build(_ entry: JSONObject, dialect: KerasDialect) throws -> Layer {
        guard let rawClass = entry["class_name"]?.stringValue else {
            throw ModelError(field: "class_name", "expected a layer class name, found \(entry["class_name"].map(ConfigReader.describe) ?? "nothing")")
        }
        var rawConfig = entry["config"]?.objectValue ?? JSONObject()
        if let layers = entry["config"]?.arrayValue {
            // Keras ≤ 2.2.2 wrote a Sequential's config as a bare list of layers.
            rawConfig = JSONObject([("layers", .array(layers))])
        }
        let (className, config) = Dialect.normalize(className: rawClass, config: rawConfig, dialect: dialect)
        let name = config["name"]?.stringValue ?? entry["name"]?.stringValue ?? snakeCase(className)
        let context = LayerContext(name: name, className: className, config: ConfigReader(config), dialect: dialect,
                                   buildLayer: { try build($0, dialect: dialect) })
        let isOperation = isKeras3Operation(entry, dialect: dialect)
        let layer = try locating(layer: "layer '\(name)' (\(className))") {
            try (isOperation ? KerasOperation.self : types[className] ?? UnsupportedLayer.self).init(context)
        }
        if let module = entry["module"] { layer.registration = (module, entry["registered_name"] ?? .null) }
        return layer
    }

    /// Keras 3 ops recorded in a graph carry `module: keras.src.ops.*`; legacy `.h5` files drop the module,
    /// but an op's config holds only its name, while every layer's has `trainable` and `dtype`.
    private static func isKeras3Operation(_ entry: JSONObject, dialect: KerasDialect) -> Bool {
        if let module = entry["module"]?.stringValue { return module.hasPrefix("keras.src.ops") }
        guard dialect == .keras3, let config = entry["config"]?.objectValue else { return false }
        return config["trainable"] == nil && config["dtype"] == nil
    }
}
