import KConvGraph
import KConvIO

/// Keras 3 `Pipeline(layers)`: its layers applied one after the other, each to the previous one's output, as a
/// plain layer rather than a model (an augmentation pipeline). Each layer reads the mask the one before it left;
/// the Pipeline itself does not support masking, so Keras drops the mask after it. Keras 3 keeps the layers'
/// weights under `layers/<class>/` (numbered per class, as a model's); its config holds only `layers` and `name`.
package final class Pipeline: Layer {
    package override class var kerasClassNames: [String] { ["Pipeline"] }
    package override class var examples: [LayerExample] {
        [LayerExample("Pipeline", ["layers": [["module": "keras.layers", "class_name": "Rescaling", "config": ["scale": 0.5, "name": "rescaling"]],
                                              ["module": "keras.layers", "class_name": "Dense", "config": ["units": 2, "name": "dense"]]]],
                      inputs: [[3]])]
    }
    package override class var absentIn: [KerasDialect: String] { [.keras2: "tf-keras has no Pipeline"] }
    package let layers: [Layer]

    package required init(_ context: LayerContext) throws {
        guard let entries = context.config.object["layers"]?.arrayValue else {
            throw context.config.error("layers", expected: "a list of layers", found: context.config.object["layers"])
        }
        layers = try entries.enumerated().map { index, entry in
            try locating(field: "config.layers[\(index)]") { () throws -> Layer in
                guard let object = entry.objectValue else { throw ModelError("expected a layer object, found \(ConfigReader.describe(entry))") }
                return try context.buildLayer(object)
            }
        }
        try super.init(context)
    }

    /// The input shapes of each layer in turn, then the pipeline's output shapes.
    private func stageShapes(_ inputShapes: [TensorShape]) throws -> [[TensorShape]] {
        var stages = [inputShapes]
        for layer in layers {
            let input = stages[stages.count - 1]
            stages.append(try locating(layer: layer.label) { try layer.outputShapes(input) })
        }
        return stages
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        var names = StorageNames()
        var specs: [WeightSpec] = []
        for (layer, shapes) in zip(layers, try stageShapes(inputShapes)) {
            try locating(layer: layer.label) { try layer.build(shapes) }
            let prefix = "layers/\(names.next(for: layer.storageClassName))/"
            specs += layer.weightSpecs.map { $0.adopted(objectPrefix: prefix, legacyScope: layer.name) }
        }
        return specs
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        try stageShapes(inputShapes).last ?? inputShapes
    }

    package override func bind(_ arrays: [WeightArray]) throws {
        try bind(arrays, handingOutTo: layers)
    }

    override package var sublayers: [Layer] { layers }

    override package var unsupportedReason: String? {
        layers.lazy.compactMap { layer in layer.unsupportedReason.map { "\(layer.label): \($0)" } }.first
    }

    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        config["layers"] = .array(try layers.map { .object(try export.layerEntry($0)) })
    }

    /// Each layer lowered on the previous one's outputs and masks; no mask flows out.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let stages = try builtInputShapes.map(stageShapes)
        var tensors = call.inputs
        for (index, layer) in layers.enumerated() {
            let shapes = call.outputShapes == nil ? nil : stages.map { $0[index + 1] }
            let step = LoweringCall(inputs: tensors, keywordInputs: [], recordedCall: .null, outputShapes: shapes)
            tensors = try locating(layer: layer.label) { try layer.lower(step, into: &graph) }
        }
        return tensors.map { LoweredTensor(value: $0.value, mask: nil) }
    }
}
