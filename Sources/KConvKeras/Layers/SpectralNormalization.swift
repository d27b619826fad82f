import KConvGraph
import KConvIO

/// Keras 3's SpectralNormalization wrapper. Only training normalises: `call(training=True)` divides the
/// wrapped layer's kernel by its spectral norm (estimated by power iteration from `vector_u`) and assigns
/// the result to the kernel; at inference `call` just runs the wrapped layer with the kernel as stored
/// (keras 3.15 `layers/normalization/spectral_normalization.py`). So kconv computes the inner layer.
///
/// Weights: the inner layer's (`layer/vars/...`), then the wrapper's own `vars/0`, the inner kernel again
/// (Keras tracks `self.kernel = self.layer.kernel` as its variable too, so `.keras` files store it twice),
/// and `vars/1`, `vector_u` `(1, kernel.shape[-1])`. Legacy `.h5` files list the kernel once.
package final class SpectralNormalization: Layer {
    package override class var kerasClassNames: [String] { ["SpectralNormalization"] }
    package override class var absentIn: [KerasDialect: String] {
        [.keras2: "tf-keras 2.21 cannot build SpectralNormalization (it checks the wrapped layer's input_spec against another InputSpec class)"]
    }
    package override class var examples: [LayerExample] {
        // A Keras 3 entry names its module (without one and without `trainable` it reads as an operation).
        [LayerExample("SpectralNormalization", ["layer": ["module": "keras.layers", "class_name": "Dense", "config": ["units": 2]]], inputs: [[3]])]
    }
    package let inner: Layer

    package required init(_ context: LayerContext) throws {
        inner = try context.buildLayer(context.config.nested("layer"))
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        try locating(layer: inner.label) { try inner.build(inputShapes) }
        var specs = inner.weightSpecs.map { $0.adopted(objectPrefix: "layer/", legacyScope: inner.name) }
        guard let kernel = specs.firstIndex(where: { ["kernel", "embeddings"].contains($0.name) }) else {
            throw ModelError(layer: label, field: "config.layer", "the wrapped \(inner.label) has no kernel nor embeddings to normalise")
        }
        specs[kernel].objectAliases.append("vars/0")
        let columns = specs[kernel].shape.last ?? 1
        return specs + [weight("vector_u", [1, columns], index: 1, trainable: false)]
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        try locating(layer: inner.label) { try inner.outputShapes(inputShapes) }
    }

    package override func bind(_ arrays: [WeightArray]) throws {
        try super.bind(arrays)
        try inner.bind(Array(arrays.prefix(inner.weightSpecs.count)))
    }

    override package var sublayers: [Layer] { [inner] }

    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        config["layer"] = .object(try export.layerEntry(inner))
    }

    override package var unsupportedReason: String? { inner.unsupportedReason.map { "inner \(inner.label): \($0)" } }

    /// The inner layer, on the call's inputs: at inference the stored kernel is used as it is.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try locating(layer: inner.label) { try inner.lower(call, into: &graph) }
    }
}
