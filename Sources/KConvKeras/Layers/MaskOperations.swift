import KConvGraph
import KConvIO

/// The Keras 3 operations that compute masks in a graph: an `Embedding(mask_zero=True)`'s
/// `not_equal(tokens, 0)` (a `TensorOperation`), and a `Masking` layer's `any(not_equal(x, mask_value),
/// axis=-1)`, which Keras 3 records when it computes the mask it passes to the next layer as `mask=`.

/// `any(x, axis, keepdims)`: whether any element along `axis` (an integer, a list of them, or null for every
/// axis) is true.
package final class AnyOperation: KerasOperation {
    package override class var operationNames: [String] { ["Any"] }
    package override class var arguments: [String: [String]] { ["Any": ["axis", "keepdims"]] }
    /// nil: every axis.
    package let axes: [Int]?
    package let keepDims: Bool

    package required init(_ context: LayerContext) throws {
        if let list = context.config.object["axis"]?.arrayValue {
            axes = try list.map { value in
                guard let axis = value.intValue else { throw context.config.error("axis", expected: "integers", found: .array(list)) }
                return axis
            }
        } else {
            axes = try Self.axisArgument(context.config, default: nil, allowsNone: true).map { [$0] }
        }
        keepDims = try context.config.bool("keepdims", default: false)
        try super.init(context)
    }

    package override var outputDType: String { "bool" }

    override package var unsupportedReason: String? { nil }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        let reduced = try axes?.map { try resolve($0, rank: input.count) } ?? Array(input.indices)
        return [keepDims ? input.indices.map { reduced.contains($0) ? 1 : input[$0] } : input.indices.filter { !reduced.contains($0) }.map { input[$0] }]
    }

    /// `any(x != c, axis=-1)` is the mask a `Masking(mask_value=c)` computes.
    package override func recordedMask(of operand: ComputedMask?, call: JSONValue) -> ComputedMask? {
        guard case .notEqual(let value)? = operand, axes == [-1], !keepDims else { return nil }
        return .anyNotEqual(value)
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let input = call.inputs.first else { throw EngineError("expected an input, found none") }
        _ = try constantOperands(call, count: 0 ... 0)
        let output = graph.add(.any(axes: axes, keepDims: keepDims), inputs: [input.value],
                               outputs: [ValueType(dtype: .bool, shape: call.outputShapes?.first?.dims)], origin: label)
        return [LoweredTensor(value: output[0], mask: nil)]
    }
}
