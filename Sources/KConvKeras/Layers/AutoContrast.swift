import KConvGraph
import KConvIO

/// Keras 3's `AutoContrast(value_range)`, which unlike the random augmentations computes at inference too
/// (keras 3.15 `image_preprocessing/auto_contrast.py`, `transform_images`): each image's channels
/// stretched to the whole value range by their minimum and maximum. Keras takes them over axes 1 and 2
/// whatever `data_format` says, and so does kconv. The mask stops, as the layer does not support masking.
package final class AutoContrast: Layer {
    package override class var kerasClassNames: [String] { ["AutoContrast"] }
    package override class var absentIn: [KerasDialect: String] { [.keras2: "tf-keras has no AutoContrast"] }
    package override class var examples: [LayerExample] { [LayerExample("AutoContrast", inputs: [[4, 4, 3]])] }
    package let low: Double
    package let high: Double

    package required init(_ context: LayerContext) throws {
        (low, high) = try context.config.valueRange()
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] { try imageBatchShape(inputShapes) }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        lowerUnmasked(.autoContrast(AutoContrastOp(low: Float(low), high: Float(high))), try singleInput(call).value, call, into: &graph)
    }
}
