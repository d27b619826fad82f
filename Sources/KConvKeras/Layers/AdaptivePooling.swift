import KConvGraph
import KConvIO

/// Keras 3's AdaptiveAverage/MaxPooling1D/2D/3D(`output_size`, `data_format`): each spatial axis cut into
/// `output_size` windows `[floor(i·L/n), ceil((i+1)·L/n))` and each window reduced, one axis after the
/// other (keras 3.15 `backend/tensorflow/nn.py`, `_adaptive_*_pool*d`: two VALID pools of the two window
/// widths and a gather). The input's spatial sizes must be known, as Keras requires. No weights; the
/// layer does not support masking, so the mask stops.
package final class AdaptivePooling: Layer {
    package override class var kerasClassNames: [String] {
        ["AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
         "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D"]
    }
    package override class var absentIn: [KerasDialect: String] { [.keras2: "tf-keras has no adaptive pooling"] }
    package override class var examples: [LayerExample] {
        kerasClassNames.map { ConvolutionBase.spatialExample($0, ["output_size": 1]) }
    }
    package let reduction: PoolReduction
    package let outputSize: [Int]
    package let channelsFirst: Bool

    package required init(_ context: LayerContext) throws {
        reduction = context.className.hasPrefix("AdaptiveMax") ? .max : .average
        let rank = ConvolutionBase.spatialRank(context.className)
        outputSize = try context.config.positiveInts("output_size", count: rank)
        channelsFirst = try context.config.channelsFirst()
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        var shape = try SpatialShape(singleInput(inputShapes), rank: outputSize.count, channelsFirst: channelsFirst, of: self)
        guard !shape.spatial.contains(where: { $0 == nil }) else {
            throw ModelError(layer: label, "adaptive pooling needs the input's spatial sizes, found \(shape.shape.kerasDescription)")
        }
        shape.spatial = outputSize
        return [shape.shape]
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let op = AdaptivePoolOp(reduction: reduction, outputSize: outputSize, channelsFirst: channelsFirst)
        return lowerUnmasked(.adaptivePool(op), try singleInput(call).value, call, into: &graph)
    }
}
