import KConvGraph
import KConvIO

/// `HashedCrossing(num_bins, output_mode)`: two or more features of one integer or string per sample
/// crossed into `num_bins` bins by `tf.sparse.cross_hashed` (keras 3.15 and tf-keras 2.21
/// `layers/preprocessing/hashed_crossing.py`; see `Op.hashedCrossing`), then encoded unless `output_mode`
/// is `int`. Inputs are `[batch]` or `[batch, 1]`; the bins have the first input's shape.
package final class HashedCrossing: Layer {
    package override class var kerasClassNames: [String] { ["HashedCrossing"] }
    package override class var examples: [LayerExample] {
        [LayerExample("HashedCrossing", ["num_bins": 5], inputs: [[1], [1]], dtype: .string)]
    }
    package let bins: Int
    package let output: CategoricalOutput

    package required init(_ context: LayerContext) throws {
        let config = context.config
        bins = try config.int("num_bins")
        guard bins > 0 else { throw config.error("num_bins", expected: "a positive number of bins", found: config.object["num_bins"]) }
        output = try CategoricalOutput(config, default: "int", depth: bins)
        guard output.encoding == nil || output.encoding == .oneHot else {
            throw config.error("output_mode", expected: "int or one_hot", found: config.object["output_mode"])
        }
        try super.init(context)
    }

    package override var callSignature: CallSignature { .list }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        guard inputShapes.count >= 2, let first = inputShapes.first else {
            throw ModelError(layer: label, "expected at least 2 inputs to cross, found \(inputShapes.count)")
        }
        guard first.count <= 2, first.count < 2 || first.last == 1 else {
            throw ModelError(layer: label, "expected inputs of one value per sample ([batch] or [batch, 1]), found \(first.kerasDescription)")
        }
        return [output.shape(first)]
    }

    override package var unsupportedReason: String? { output.unsupportedReason }

    /// Integer features are crossed as whole numbers: seeded inputs draw them from [0, 100).
    package override var inputVocabulary: Int? { 100 }

    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        output.exportDType(into: &config, export)
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        if let reason = unsupportedReason { throw ModelError(layer: label, "kconv cannot compute \(reason)") }
        guard let first = call.inputs.first?.value else { throw ModelError(layer: label, "expected inputs to cross, found none") }
        let crossed = graph.add(.hashedCrossing(bins: bins), inputs: call.inputs.map(\.value),
                                outputs: [ValueType(dtype: .int64, shape: graph.type(of: first).shape)], origin: label)[0]
        return [try output.lower(crossed, call, origin: label, dtype: .int64, into: &graph)]
    }
}
