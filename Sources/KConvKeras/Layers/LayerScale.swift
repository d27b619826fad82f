import KConvGraph
import KConvIO

/// keras.applications' ConvNeXt `LayerScale(init_values, projection_dim)`: `x · gamma`, a learned scale per
/// channel (`gamma`, shape `(projection_dim,)`, broadcast against the input's last axis). `init_values` only
/// initialises gamma.
///
/// Both Keras generations define the class in their `applications/convnext.py` and neither registers it:
/// Keras 3 imports it by the module its config names (`keras.src.applications.convnext`), so kconv writes
/// that; tf-keras finds it only in the `custom_objects` its reader passes, so writing it for tf-keras says so.
/// Neither supports masking: Keras 3 drops the input's mask (tf-keras refuses a masked input).
package final class LayerScale: Layer {
    package override class var kerasClassNames: [String] { ["LayerScale"] }
    package override class var examples: [LayerExample] {
        [LayerExample("LayerScale", ["init_values": 1e-6, "projection_dim": 3], inputs: [[2, 3]])]
    }
    package override class var keras3Registration: (module: String, registeredName: String)? {
        ("keras.src.applications.convnext", "LayerScale")
    }
    package override class var keras2CustomObject: String? { "tf_keras.src.applications.convnext.LayerScale" }
    package let projectionDim: Int

    package required init(_ context: LayerContext) throws {
        projectionDim = try context.config.int("projection_dim")
        guard projectionDim > 0 else {
            throw context.config.error("projection_dim", expected: "a positive number", found: .int(Int64(projectionDim)))
        }
        try super.init(context)
    }

    /// Keras 3 names the weight `variable`, tf-keras `gamma`; both keep it as the layer's only variable.
    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        _ = try outputShapes(inputShapes)
        return [weight("gamma", [projectionDim], index: 0)]
    }

    /// The input's shape: its last axis must be `projection_dim` (Keras would broadcast a last axis of 1 to
    /// gamma's size; no ConvNeXt does, and kconv refuses it rather than guess).
    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        let channels = input.last ?? nil
        guard input.count >= 2, channels == nil || channels == projectionDim else {
            throw ModelError(layer: label, field: "config.projection_dim", "the input's last axis must be projection_dim \(projectionDim), found input \(input.kerasDescription)")
        }
        return [input]
    }

    /// One multiplication by gamma (NumPy broadcasting over the last axis); no mask flows on.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let input = try singleInput(call)
        let gamma = try weightValues(&graph)[0]
        let output = addNode(.binary(.multiply), [input.value, gamma], shape: call.outputShapes?.first?.dims, into: &graph)
        return [LoweredTensor(value: output, mask: nil)]
    }
}
