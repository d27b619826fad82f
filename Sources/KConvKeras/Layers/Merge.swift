import KConvGraph
import KConvIO
/// Merge layers: elementwise Add/Subtract/Multiply/Average/Maximum/Minimum, Concatenate and Dot.

/// Keys of Keras 1's `Merge` layer that its Keras 2 successors carry in their class.
private let keras1MergeKeys = ["mode", "concat_axis", "dot_axes", "mode_type", "output_shape", "output_shape_type", "output_mask",
                               "output_mask_type", "arguments", "node_indices", "tensor_indices"].map {
    VersionOnlyKey($0, onlyIn: .keras1, why: "carried by the merge class")
}

/// Add, Subtract, Multiply, Average, Maximum, Minimum over two or more inputs, with Keras's broadcasting.
package final class ElementwiseMerge: Layer {
    package override class var kerasClassNames: [String] { ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"] }
    package override class var examples: [LayerExample] { kerasClassNames.map { LayerExample($0, inputs: [[3], [3]]) } }
    package typealias Operation = MergeOperation

    package let operation: Operation

    package required init(_ context: LayerContext) throws {
        guard let operation = Operation(rawValue: context.className.lowercased()) else {
            throw ModelError(layer: "layer '\(context.name)' (\(context.className))", "is not an elementwise merge")
        }
        self.operation = operation
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let expected = operation == .subtract ? 2...2 : 1...Int.max
        guard expected.contains(inputShapes.count), let first = inputShapes.first else {
            throw ModelError(layer: label, "expected \(operation == .subtract ? "exactly 2" : "at least 1") inputs, found \(inputShapes.count)")
        }
        var features = first.withoutBatch
        for shape in inputShapes.dropFirst() {
            features = try broadcast(features, shape.withoutBatch)
        }
        let batch = inputShapes.lazy.compactMap { $0.first ?? nil }.first
        return [[batch] + features]
    }

    /// Keras's `_compute_elemwise_op_output_shape`: trailing axes broadcast where one side is 1.
    private func broadcast(_ a: TensorShape, _ b: TensorShape) throws -> TensorShape {
        let (long, short) = a.count >= b.count ? (a, b) : (b, a)
        var result = Array(long.prefix(long.count - short.count))
        for (x, y) in zip(long.suffix(short.count), short) {
            switch (x, y) {
            case (nil, _), (_, nil): result.append(nil)
            case (1, _): result.append(y)
            case (_, 1): result.append(x)
            case let (x?, y?) where x == y: result.append(x)
            default:
                throw ModelError(layer: label, "inputs cannot be broadcast together: \(a.kerasDescription) and \(b.kerasDescription)")
            }
        }
        return result
    }

    package override var callSignature: CallSignature { .list }

    /// Keras 1's `Merge(mode=...)` became the merge class it names (`keras1MergeClass`).
    package override var versionOnlyKeys: [VersionOnlyKey] { keras1MergeKeys }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        lowerCall(.merge(MergeOp(operation: operation, keras3Masks: dialect >= .keras3)), call, into: &graph)
    }

}



/// Joins its inputs along `axis`; all other axes must agree.
package final class Concatenate: Layer {
    package override class var kerasClassNames: [String] { ["Concatenate"] }
    package override class var examples: [LayerExample] { [LayerExample("Concatenate", inputs: [[3], [2]])] }
    package let axis: Int

    package required init(_ context: LayerContext) throws {
        axis = try context.config.int("axis", default: -1)
        try super.init(context)
    }

    /// `axis` as a non-negative index for inputs of `rank` dimensions.
    package func resolvedAxis(rank: Int) -> Int { axis < 0 ? axis + rank : axis }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        guard let first = inputShapes.first, inputShapes.count >= 1 else {
            throw ModelError(layer: label, "expected at least one input, found none")
        }
        let axis = resolvedAxis(rank: first.count)
        guard (1..<first.count).contains(axis), inputShapes.allSatisfy({ $0.count == first.count }) else {
            throw ModelError(layer: label, "cannot concatenate \(inputShapes.map(\.kerasDescription).joined(separator: ", ")) along axis \(self.axis)")
        }
        var result = first
        for shape in inputShapes.dropFirst() {
            for index in result.indices where index != axis {
                if let a = result[index], let b = shape[index], a != b {
                    throw ModelError(layer: label, "cannot concatenate \(inputShapes.map(\.kerasDescription).joined(separator: ", ")) along axis \(self.axis)")
                }
                result[index] = result[index] ?? shape[index]
            }
            result[axis] = result[axis].flatMap { a in shape[axis].map { a + $0 } }
        }
        return [result]
    }

    package override var callSignature: CallSignature { .list }

    /// Keras 1's `Merge(mode=...)` became the merge class it names (`keras1MergeClass`).
    package override var versionOnlyKeys: [VersionOnlyKey] { keras1MergeKeys }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        lowerCall(.concatenate(ConcatenateOp(axis: axis, keras3Masks: dialect >= .keras3)), call, into: &graph)
    }

}


/// Dot product of two batched tensors along `axes` (one per input); `normalize` makes it a cosine similarity.
package final class Dot: Layer {
    package override class var kerasClassNames: [String] { ["Dot"] }
    package override class var examples: [LayerExample] { [LayerExample("Dot", ["axes": [1, 1]], inputs: [[3], [3]])] }
    package let axes: [Int]
    package let normalize: Bool

    package required init(_ context: LayerContext) throws {
        axes = try context.config.ints("axes", count: 2)
        normalize = try context.config.bool("normalize", default: false)
        try super.init(context)
    }

    /// The contracted axis of each input, resolved against their ranks as Keras does.
    package func resolvedAxes(_ ranks: [Int]) -> [Int] {
        zip(axes, ranks).map { axis, rank in axis < 0 ? axis + rank : axis }
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        guard inputShapes.count == 2 else {
            throw ModelError(layer: label, "expected 2 inputs, found \(inputShapes.count)")
        }
        var (a, b) = (inputShapes[0], inputShapes[1])
        let axes = resolvedAxes([a.count, b.count])
        guard axes.allSatisfy({ $0 >= 1 }), axes[0] < a.count, axes[1] < b.count else {
            throw ModelError(layer: label, field: "config.axes", "axes \(self.axes) do not fit inputs \(a.kerasDescription) and \(b.kerasDescription)")
        }
        if let x = a[axes[0]], let y = b[axes[1]], x != y {
            throw ModelError(layer: label, "cannot take the dot product of \(a.kerasDescription) and \(b.kerasDescription) along axes \(self.axes): sizes \(x) and \(y) differ")
        }
        a.remove(at: axes[0])
        b.remove(at: axes[1])
        b.removeFirst()
        let result = a + b
        return [result.count == 1 ? result + [1] : result]
    }

    package override var callSignature: CallSignature { .list }

    /// Keras 1's `Merge(mode=...)` became the merge class it names (`keras1MergeClass`).
    package override var versionOnlyKeys: [VersionOnlyKey] { keras1MergeKeys }

    /// No mask comes out.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let op = Op.dot(DotOp(axes: axes, normalize: normalize, normFloor: dialect >= .keras3 ? 1e-7 : 1e-6))
        return lowerCall(op, call, into: &graph).map { LoweredTensor(value: $0.value, mask: nil) }
    }
}


/// Keras 1's `Merge(mode=...)` as the Keras 2 merge class it stands for (its config adjusted to that class).
package func keras1MergeClass(_ config: inout JSONObject) -> String {
    let mode = config["mode"]?.stringValue ?? "sum"
    switch mode {
    case "sum": return "Add"
    case "mul": return "Multiply"
    case "ave": return "Average"
    case "max": return "Maximum"
    case "concat":
        config["axis"] = config["concat_axis"] ?? .int(-1)
        return "Concatenate"
    case "dot", "cos":
        config["axes"] = config["dot_axes"] ?? .int(-1)
        config["normalize"] = .bool(mode == "cos")
        return "Dot"
    default: return "Merge"
    }
}
