import KConvGraph
import KConvIO

/// Keras 3's activation operations recorded in a graph: `keras.ops.sigmoid(x)` and its kin
/// (`keras.src.ops.nn`, `exp` and `tanh` from `keras.src.ops.numpy`), and the `ReLU` operation
/// `keras.activations.relu` records (`keras.src.activations`). Each lowers to the graph operation the layer
/// computing the same function uses (an Activation, ReLU, ELU or Softmax layer), with the arguments its
/// config records; an argument kconv does not know is refused. Defaults are the operation classes' own,
/// which differ from the functions' in one place: `Gelu` is the tanh approximation unless
/// `approximate=False`.
package final class ActivationOperation: KerasOperation {
    package override class var operationNames: [String] { arguments.keys.sorted() }
    package override class var arguments: [String: [String]] {
        ["Celu": ["alpha"], "Elu": ["alpha"], "Exp": [], "Gelu": ["approximate"], "Glu": ["axis"], "HardShrink": ["threshold"],
         "HardSigmoid": [], "HardSilu": [], "HardTanh": [], "LeakyRelu": ["negative_slope"], "LogSigmoid": [],
         "LogSoftmax": ["axis"], "ReLU": ["negative_slope", "max_value", "threshold"], "Relu": [], "Relu6": [], "Selu": [],
         "Sigmoid": [], "Silu": [], "SoftShrink": ["threshold"], "Softmax": ["axis"], "Softplus": [], "Softsign": [],
         "SparsePlus": [], "SparseSigmoid": [], "Sparsemax": ["axis"], "Squareplus": ["b"], "Tanh": [], "TanhShrink": [],
         "Threshold": ["threshold", "default_value"]]
    }

    /// What the operation computes.
    package enum Function: Sendable {
        /// An elementwise function, or a row-wise one over `axes` (nil: every axis, the batch too).
        case activation(Activation, axes: [Int]?)
        /// Keras's `relu(x, negative_slope, max_value, threshold)`, as the ReLU and LeakyReLU layers.
        case rectifier(negativeSlope: Double, maxValue: Double?, threshold: Double)
        /// `x` for x > 0, `alpha·(exp(x) − 1)` below, as the ELU layer.
        case elu(alpha: Double)
        /// Softmax over one axis (nil: every axis, the batch too), as the Softmax layer.
        case softmax(axis: Int?)
    }

    package let function: Function

    package required init(_ context: LayerContext) throws {
        let config = context.config
        func number(_ key: String, default fallback: Double?) throws -> Float {
            guard let fallback else {
                guard let value = try config.optionalDouble(key) else { throw config.error(key, expected: "a number", found: nil) }
                return Float(value)
            }
            return Float(try config.double(key, default: fallback))
        }
        func axes(allowsNone: Bool) throws -> [Int]? {
            try Self.axisArgument(config, default: -1, allowsNone: allowsNone).map { [$0] }
        }
        function = switch context.className {
        case "Celu": .activation(.celu(alpha: try number("alpha", default: 1)), axes: [])
        case "Elu": .elu(alpha: try config.double("alpha", default: 1))
        case "Exp": .activation(.exponential, axes: [])
        case "Gelu": .activation(try config.bool("approximate", default: true) ? .geluTanh : .gelu, axes: [])
        case "Glu": .activation(.glu, axes: try axes(allowsNone: false))
        case "HardShrink": .activation(.hardShrink(threshold: try number("threshold", default: 0.5)), axes: [])
        case "HardSigmoid": .activation(.hardSigmoidRelu6, axes: [])
        case "HardSilu": .activation(.hardSwish, axes: [])
        case "HardTanh": .activation(.hardTanh, axes: [])
        case "LeakyRelu": .rectifier(negativeSlope: try config.double("negative_slope", default: 0.2), maxValue: nil, threshold: 0)
        case "LogSigmoid": .activation(.logSigmoid, axes: [])
        case "LogSoftmax": .activation(.logSoftmax, axes: try axes(allowsNone: true))
        case "ReLU": .rectifier(negativeSlope: try config.double("negative_slope", default: 0), maxValue: try config.optionalDouble("max_value"),
                                threshold: try config.double("threshold", default: 0))
        case "Relu": .activation(.relu, axes: [])
        case "Relu6": .activation(.relu6, axes: [])
        case "Selu": .activation(.selu, axes: [])
        case "Sigmoid": .activation(.sigmoid, axes: [])
        case "Silu": .activation(.swish, axes: [])
        case "SoftShrink": .activation(.softShrink(threshold: try number("threshold", default: 0.5)), axes: [])
        case "Softmax": .softmax(axis: try Self.axisArgument(config, default: -1, allowsNone: true))
        case "Softplus": .activation(.softplus, axes: [])
        case "Softsign": .activation(.softsign, axes: [])
        case "SparsePlus": .activation(.sparsePlus, axes: [])
        case "SparseSigmoid": .activation(.sparseSigmoid, axes: [])
        case "Sparsemax": .activation(.sparsemax, axes: try axes(allowsNone: false))
        case "Squareplus": .activation(.squareplus(b: try number("b", default: 4)), axes: [])
        case "Tanh": .activation(.tanh, axes: [])
        case "TanhShrink": .activation(.tanhShrink, axes: [])
        case "Threshold":
            .activation(.threshold(threshold: try number("threshold", default: nil), defaultValue: try number("default_value", default: nil)), axes: [])
        default: throw ModelError("kconv has no activation operation \(context.className)")
        }
        try super.init(context)
    }

    override package var unsupportedReason: String? { nil }

    package override var kerasModule: String {
        switch className {
        case "Exp", "Tanh": "keras.src.ops.numpy"
        case "ReLU": "keras.src.activations.activations"
        default: "keras.src.ops.nn"
        }
    }

    /// The input's shape; glu halves the axis it splits, which must have an even size when known.
    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        var shape = try singleInput(inputShapes)
        for axis in try checkedAxes(rank: shape.count) {
            if case .activation(.glu, _) = function, let size = shape[axis] {
                guard size % 2 == 0 else {
                    throw ModelError(layer: label, field: "config.axis", "glu splits axis \(axis) in halves, so it must have an even size, found \(size)")
                }
                shape[axis] = size / 2
            }
        }
        return [shape]
    }

    /// The axes the function reads, resolved against the input's rank.
    private func checkedAxes(rank: Int) throws -> [Int] {
        switch function {
        case .activation(_, let axes?): try axes.map { try resolve($0, rank: rank) }
        case .activation(_, nil), .softmax(nil): Array(0 ..< rank)
        case .softmax(let axis?): [try resolve(axis, rank: rank)]
        case .rectifier, .elu: []
        }
    }

    /// The graph operation of the layer computing the same function; no mask flows out of an operation.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let input = call.inputs.first else { throw EngineError("expected an input, found none") }
        _ = try constantOperands(call, count: 0 ... 0)
        let rank = call.outputShapes?.first?.count ?? graph.type(of: input.value).shape?.count
        func allAxes() throws -> [Int] {
            guard let rank else { throw ModelError(layer: label, field: "config.axis", "axis null spans every axis, so the input's rank must be known") }
            return Array(0 ..< rank)
        }
        let op: Op = switch function {
        case .activation(let activation, let axes?) where axes.isEmpty || axes == [-1]: .activation(activation)
        case .activation(let activation, let axes?): .activationAlongAxes(activation, axes: axes)
        case .activation(let activation, nil): .activationAlongAxes(activation, axes: try allAxes())
        case .rectifier(let slope, let maxValue, let threshold): .rectifier(negativeSlope: Float(slope), maxValue: maxValue.map(Float.init), threshold: Float(threshold))
        case .elu(let alpha): .elu(alpha: Float(alpha))
        case .softmax(let axis): .softmax(SoftmaxOp(axes: try axis.map { [$0] } ?? allAxes(), masking: .replaceAndZero))
        }
        let type = ValueType(dtype: .float32, shape: call.outputShapes?.first?.dims)
        let inputs: [ValueID?] = if case .softmax = op { [input.value, nil, nil] } else { [input.value] }
        return [LoweredTensor(value: graph.add(op, inputs: inputs, outputs: [type], origin: label)[0], mask: nil)]
    }
}
