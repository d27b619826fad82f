import KConvGraph

/// An elementwise function run on a kernel's results as they are produced: a layer's own activation, or the
/// activation layer after it that the plan fused into it (`FusedProgram`).
package enum Epilogue {
    case activation(Activation)
    /// Keras's ReLU layer (`Op.rectifier`).
    case rectifier(Rectifier)

    /// The graph's activation operation `op` as an epilogue, if it is elementwise.
    init?(_ op: Op) {
        switch op {
        case .activation(let activation) where !activation.isRowWise && activation != .glu:
            if case .unknown = activation { return nil }
            self = .activation(activation)
        case .rectifier(let negativeSlope, let maxValue, let threshold):
            self = .rectifier(Rectifier(negativeSlope: negativeSlope, maxValue: maxValue, threshold: threshold))
        default:
            return nil
        }
    }

    /// The function as a clamp to a range, when it is one (ReLU, ReLU6, a capped ReLU): the register-tiled
    /// convolutions apply it while a tile is still in registers.
    package var clamp: ClosedRange<Float>? {
        switch self {
        case .activation(.relu): 0 ... .infinity
        case .activation(.relu6): 0 ... 6
        case .rectifier(let rectifier) where rectifier.negativeSlope == 0 && rectifier.threshold == 0:
            rectifier.maxValue.map { $0 >= 0 ? 0 ... $0 : nil } ?? 0 ... .infinity
        default: nil
        }
    }

    /// Whether the function leaves every value as it is (a linear activation).
    package var isIdentity: Bool {
        if case .activation(.linear) = self { true } else { false }
    }

    /// Applies the function to every value of `tensor` in place (a row-wise activation over its last axis).
    package func apply(to tensor: inout Tensor) throws {
        switch self {
        case .activation(let activation): try activation.apply(to: &tensor)
        case .rectifier(let rectifier): rectifier.apply(to: &tensor.values)
        }
    }
}
