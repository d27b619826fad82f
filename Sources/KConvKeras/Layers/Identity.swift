import KConvGraph
import KConvIO

/// `Identity`: its input unchanged, a placeholder where no operation is wanted.
///
/// Keras 3's passes the input's mask on (`supports_masking = True`); tf-keras's does not support masking,
/// so its `tf.identity` outputs carry none and the mask stops there.
package final class Identity: Layer {
    package override class var kerasClassNames: [String] { ["Identity"] }
    package override class var examples: [LayerExample] { [LayerExample("Identity", inputs: [[3]])] }

    /// Every input flows on as an output (Keras applies it to a nested structure of tensors).
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        call.inputs.map { LoweredTensor(value: $0.value, mask: dialect >= .keras3 ? $0.mask : nil) }
    }
}
