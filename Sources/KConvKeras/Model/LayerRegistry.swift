import KConvGraph
import KConvIO
/// The one list of the layer types kconv implements. Each type names the Keras classes it stands for (and
/// their older names) in its own file; the maps from class name to type are built from those declarations.
package enum LayerRegistry {
    package static let layerTypes: [Layer.Type] = [
        InputLayer.self,
        Dense.self,
        EinsumDense.self,
        ActivationLayer.self,
        Embedding.self,
        ReversibleEmbedding.self,
        Masking.self,
        InferenceIdentity.self,
        Identity.self,
        Model.self,
        Recurrent.self,
        RNN.self,
        RNNCell.self,
        StackedRNNCells.self,
        ConvLSTM.self,
        CuDNNLSTM.self,
        CuDNNGRU.self,
        TimeDistributed.self,
        Bidirectional.self,
        Convolution.self,
        ConvolutionTranspose.self,
        SeparableConvolution.self,
        DepthwiseConvolution.self,
        LocallyConnected.self,
        Pooling.self,
        GlobalPooling.self,
        BatchNormalization.self,
        LayerNormalization.self,
        ElementwiseMerge.self,
        Concatenate.self,
        Dot.self,
        Flatten.self,
        Reshape.self,
        Permute.self,
        RepeatVector.self,
        SpatialPadding.self,
        UpSampling.self,
        ReLULayer.self,
        LeakyReLU.self,
        PReLU.self,
        ELULayer.self,
        SoftmaxLayer.self,
        ThresholdedReLU.self,
        Rescaling.self,
        LayerScale.self,
        Pipeline.self,
        GroupNormalization.self,
        UnitNormalization.self,
        RMSNormalization.self,
        Normalization.self,
        SpectralNormalization.self,
        RandomAugmentation.self,
        Keras3Augmentation.self,
        TFKerasAugmentation.self,
        ImageResizing.self,
        RandomCrop.self,
        Discretization.self,
        CategoryEncoding.self,
        IntegerLookup.self,
        StringLookup.self,
        TextVectorization.self,
        Hashing.self,
        HashedCrossing.self,
        AutoContrast.self,
        ContrastLimitedAdaptiveHistogramEqualization.self,
        STFTSpectrogram.self,
        MelSpectrogram.self,
        AdaptivePooling.self,
        AttentionLayer.self,
        MultiHeadAttention.self,
        GroupedQueryAttention.self,
        TFOpLambda.self,
    ]

    /// The Keras 3 operation families kconv implements (recorded in graphs as `keras.src.ops.*` nodes).
    package static let operationTypes: [KerasOperation.Type] = [
        TensorOperation.self,
        AnyOperation.self,
        ActivationOperation.self,
    ]

    /// Operation class name → the type that implements it; other operations are plain `KerasOperation`s.
    package static let operations: [String: KerasOperation.Type] = Dictionary(
        operationTypes.flatMap { type in type.operationNames.map { ($0, type) } }, uniquingKeysWith: { first, _ in first })

    /// Keras class name → the type that implements it.
    package static let types: [String: Layer.Type] = Dictionary(
        layerTypes.flatMap { type in type.kerasClassNames.map { ($0, type) } }, uniquingKeysWith: { first, _ in first })

    /// Older and alternative class names (Keras 1's `Convolution2D`, tf.keras's `LSTMV1`) → the canonical one.
    package static let legacyClassNames: [String: String] = Dictionary(
        layerTypes.flatMap { $0.legacyClassNames }, uniquingKeysWith: { first, _ in first })

    /// Builds a layer from a `{"class_name", "config"}` entry written in `dialect`. Unknown classes become
    /// `UnsupportedLayer`s, or with `asModel` (a model file's top level) a subclassed `Model`; a config that
    /// contradicts its class is an error naming the layer and field.
    package static func build(_ entry: JSONObject, dialect: KerasDialect, asModel: Bool = false) throws -> Layer {
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
        let isOperation = !asModel && isKeras3Operation(entry, dialect: dialect)
        let layer = try locating(layer: "layer '\(name)' (\(className))") { () throws -> Layer in
            if isOperation { return try (operations[className] ?? KerasOperation.self).init(context) }
            if let type = types[className] { return try type.init(context) }
            return asModel ? try Model(subclassed: context) : try UnsupportedLayer(context)
        }
        if let module = entry["module"] { layer.registration = (module, entry["registered_name"] ?? .null) }
        layer.recordedInputShapes = recordedInputShapes(entry["build_config"]?["input_shape"])
        if rawClass != className { layer.fileClassName = rawClass }
        return layer
    }

    /// `build_config.input_shape`: one shape (`[null, 4]`) or one per input (`[[null, 4], [null, 4]]`); nil when
    /// absent or not made of sizes.
    private static func recordedInputShapes(_ value: JSONValue?) -> [TensorShape]? {
        func shape(_ value: JSONValue) -> TensorShape? {
            guard let dims = value.arrayValue else { return nil }
            let sizes = dims.map { $0 == .null ? Optional<Int?>.some(nil) : $0.intValue.flatMap { $0 >= 0 ? .some($0) : nil } }
            return sizes.allSatisfy { $0 != nil } ? sizes.map { $0 ?? nil } : nil
        }
        guard let value, let items = value.arrayValue, !items.isEmpty else { return nil }
        if items.allSatisfy({ $0.arrayValue != nil }) {
            let shapes = items.compactMap(shape)
            return shapes.count == items.count ? shapes : nil
        }
        return shape(value).map { [$0] }
    }

    /// Keras 3 ops recorded in a graph carry `module: keras.src.ops.*` (`keras.src.activations.activations`
    /// for the ReLU operation `keras.activations.relu` records); legacy `.h5` files drop the module, but an
    /// op's config holds only its name and arguments, while every layer's has `trainable` and `dtype` (an
    /// operation's `dtype` is an argument, as `cast`'s), except a Pipeline's, which holds its `layers` and `name`.
    private static func isKeras3Operation(_ entry: JSONObject, dialect: KerasDialect) -> Bool {
        if let module = entry["module"]?.stringValue { return module.hasPrefix("keras.src.ops") || module.hasPrefix("keras.src.activations") }
        guard dialect == .keras3, let config = entry["config"]?.objectValue, config["trainable"] == nil, config["layers"] == nil else { return false }
        guard config["dtype"] != nil else { return true }
        let className = entry["class_name"]?.stringValue ?? ""
        return operations[className]?.arguments[className]?.contains("dtype") ?? false
    }
}
