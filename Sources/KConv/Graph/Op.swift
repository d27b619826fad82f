import KConvIO

/// What a graph node computes.
public enum Op {
    /// A Keras layer call run by the layer's own forward pass: the bridge for layers not yet lowered to
    /// graph operations. Inputs: the positional tensors, one optional mask per positional tensor, then the
    /// keyword tensors in `keywords` order; outputs: the call's tensors, then one mask per tensor.
    case layerCall(LayerCallOp)
}

/// A layer call the engine runs through the layer itself (see `Op.layerCall`).
public struct LayerCallOp {
    let layer: Layer
    let positionalCount: Int
    let keywords: [(name: String, count: Int)]
    /// The call as the config recorded it (a Keras 3 operation's constant operands).
    let recordedCall: JSONValue
    let outputCount: Int
}
