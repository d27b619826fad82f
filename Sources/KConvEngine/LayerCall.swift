import KConvGraph
/// What an operation over a whole layer call (a merge, a concatenation) receives: tensors with their masks.
package struct LayerCall {
    package var inputs: [Tensor]
    /// One per positional input: the Keras mask flowing with it, if any.
    package var masks: [Mask?]
    /// Tensors passed by keyword (`initial_state`, `mask`), as the node recorded them.
    package var keywordInputs: [String: [Tensor]] = [:]

    package init(inputs: [Tensor], masks: [Mask?]? = nil, keywordInputs: [String: [Tensor]] = [:]) {
        self.inputs = inputs
        self.masks = masks ?? Array(repeating: nil, count: inputs.count)
        self.keywordInputs = keywordInputs
    }


    /// The first input, which most layers take alone.
    package var input: Tensor { inputs[0] }
    package var mask: Mask? { masks.first ?? nil }
}

/// What one layer call produces: its output tensors and the mask that flows with each.
package struct LayerOutput {
    package var tensors: [Tensor]
    package var masks: [Mask?]

    package init(_ tensors: [Tensor], masks: [Mask?]? = nil) {
        self.tensors = tensors
        self.masks = masks ?? Array(repeating: nil, count: tensors.count)
    }
}
