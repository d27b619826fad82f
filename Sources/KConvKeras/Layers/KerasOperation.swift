import KConvGraph
import KConvIO

/// A Keras 3 backend operation recorded in a functional graph (`keras.ops.not_equal` computing a mask,
/// `keras.ops.sigmoid` called on a layer's output). Not a layer to Keras: it has no weights, `model.layers`
/// leaves it out, and its outputs carry no mask (only layers pass masks on). Its config holds its name and
/// its constructor's arguments; the call's tensors (and constant operands) are in its inbound nodes.
///
/// Subclasses implement families of operations; an operation kconv does not know is this class, which
/// inspects but does not run.
package class KerasOperation: Layer {
    /// The operation classes a subclass implements (`Sigmoid`, `NotEqual`), as configs name them.
    package class var operationNames: [String] { [] }
    /// The constructor arguments each operation takes, besides `name`: any other config key is refused.
    package class var arguments: [String: [String]] { [:] }

    package required init(_ context: LayerContext) throws {
        try super.init(context)
        guard let known = Self.arguments[context.className] else { return }
        for key in context.config.object.keys where key != "name" && !known.contains(key) {
            let takes = known.isEmpty ? "takes no arguments" : "takes " + known.joined(separator: ", ")
            throw ModelError(layer: label, field: "config.\(key)", "Keras's \(className) operation \(takes); kconv does not know argument '\(key)'")
        }
    }

    /// The dtype of the operation's outputs, as a Keras 3 config writes it on the tensors it passes on.
    package var outputDType: String { "float32" }

    /// The module Keras 3 finds the operation's class in, which its config entry names (a legacy `.h5`
    /// file drops it, so writing a `.keras` file needs it from here).
    package var kerasModule: String { "keras.src.ops.numpy" }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        throw ModelError.unknownShape(label)
    }

    /// tf-keras records the operation as the TFOpLambda calling the same tf function, where one exists.
    package override func substitute(for target: KerasDialect, call: JSONValue) throws -> (layer: Layer, call: JSONValue)? {
        target == .keras2 ? try TFOpLambda.recording(self, call: call) : nil
    }

    override package var unsupportedReason: String? { "kconv does not implement operation \(className)" }

    /// The mask this operation computes, as a layer would compute it from the tensor the chain of
    /// operations starts at: `operand` is what the operation before it computed (nil: it reads that tensor
    /// itself), `call` the call as recorded. nil when the result is not such a mask.
    package func recordedMask(of operand: ComputedMask?, call: JSONValue) -> ComputedMask? { nil }

    /// The call's positional arguments after the first tensor (an operation's constant operands), each a
    /// number; a call passing anything else (further tensors, keyword arguments) is refused.
    package func constantOperands(_ call: LoweringCall, count: ClosedRange<Int>) throws -> [Double] {
        guard call.inputs.count == 1, call.keywordInputs.isEmpty else {
            throw ModelError(layer: label, field: "inbound_nodes", "expected a call on one tensor, found \(call.inputs.count) tensors and keyword tensors \(call.keywordInputs.map(\.name))")
        }
        let args = call.recordedCall["args"]?.arrayValue ?? []
        let constants = Array(args.dropFirst())
        let numbers = constants.compactMap(\.doubleValue)
        let kwargs = call.recordedCall["kwargs"]?.objectValue ?? [:]
        guard numbers.count == constants.count, count.contains(numbers.count), kwargs.count == 0 else {
            throw ModelError(layer: label, field: "inbound_nodes", "expected \(className)(x\(count.upperBound > 0 ? ", a number" : "")), found arguments \(ConfigReader.describe(.array(constants))) and keyword arguments \(ConfigReader.describe(.object(kwargs)))")
        }
        return numbers
    }

    /// An `axis` argument: an integer, or (where `allowsNone`) null for every axis.
    package static func axisArgument(_ config: ConfigReader, default fallback: Int?, allowsNone: Bool) throws -> Int? {
        guard let value = config.object["axis"] else { return fallback }
        if value.isNull, allowsNone { return nil }
        guard let axis = value.intValue else {
            throw config.error("axis", expected: allowsNone ? "an integer or null" : "an integer", found: value)
        }
        return axis
    }

    /// A non-negative axis of an input of `rank` axes.
    package func resolve(_ axis: Int, rank: Int) throws -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        guard (0 ..< rank).contains(resolved) else {
            throw ModelError(layer: label, field: "config.axis", "axis \(axis) does not exist in an input of rank \(rank)")
        }
        return resolved
    }
}
