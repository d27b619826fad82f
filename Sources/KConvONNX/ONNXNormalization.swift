import KConvGraph

/// ONNX translations of the per-sample normalisations and fixed standardisation, spelled out in
/// elementwise operators and reductions in Keras's layout (ONNX's GroupNormalization changed its scale's
/// meaning between opsets 18 and 21, so the maths is written out instead).
extension ONNXTranslator {
    /// GroupNormalization: the channel axis split into (groups, channels per group), moments over every
    /// axis but the batch and the group, then `gamma` and `beta` per channel.
    mutating func translateGroupNorm(_ input: ValueID, _ op: GroupNormOp, gamma: ValueID?, beta: ValueID?, output: ValueID) throws {
        let shape = staticShape(of: input) ?? []
        let sizes = shape.dropFirst().compactMap { $0 }
        guard shape.count == op.rank, sizes.count == op.rank - 1 else {
            throw ModelError("ONNX export needs every non-batch size of GroupNormalization's input, found \(shape)")
        }
        let channels = sizes[op.axis - 1]
        let grouped = sizes[..<(op.axis - 1)] + [op.groups, channels / op.groups] + sizes[op.axis...]
        let x = reshape(try name(input), [0] + grouped)
        let axes = (1 ... op.rank).filter { $0 != op.axis }
        let centred = builder.add1("Sub", [x, reduce("ReduceMean", x, axes: axes, keepDims: true)])
        let variance = reduce("ReduceMean", builder.add1("Mul", [centred, centred]), axes: axes, keepDims: true)
        let deviation = builder.add1("Sqrt", [builder.add1("Add", [variance, builder.scalar(Float(op.epsilon))])])
        var y = reshape(builder.add1("Div", [centred, deviation]), [0] + sizes)
        let perChannel = [channels] + Array(repeating: 1, count: op.rank - 1 - op.axis)
        if let gamma { y = builder.add1("Mul", [y, reshape(try name(gamma), perChannel)]) }
        if let beta { y = builder.add1("Add", [y, reshape(try name(beta), perChannel)]) }
        produce(output, y)
    }

    /// `x / max(‖x‖₂, normFloor)` over `axes`.
    mutating func translateL2Normalize(_ input: ValueID, axes: [Int], normFloor: Double, output: ValueID) throws {
        let x = try name(input)
        let norm = builder.add1("Sqrt", [reduce("ReduceSum", builder.add1("Mul", [x, x]), axes: axes, keepDims: true)])
        produce(output, builder.add1("Div", [x, builder.add1("Max", [norm, builder.scalar(Float(normFloor))])]))
    }

    /// The preprocessing Normalization's `(x − mean) / max(sqrt(variance), floor)` (or its inverse), the
    /// divisors computed here from the stored variance and laid over the kept axes.
    mutating func translateStandardize(_ input: ValueID, _ op: StandardizeOp, mean: ValueID, variance: ValueID, output: ValueID) throws {
        let means = try constantValues(mean)
        let divisors = try constantValues(variance).map { max($0.squareRoot(), op.floor) }
        let shape = staticShape(of: input) ?? []
        let kept = (0 ..< op.rank).map { op.keptAxes.contains($0) && $0 < shape.count ? shape[$0] : 1 }
        guard !kept.contains(where: { $0 == nil }), kept.reduce(1, { $0 * ($1 ?? 1) }) == means.count, divisors.count == means.count else {
            throw ModelError("expected \(means.count) statistics over the kept axes \(op.keptAxes) of shape \(shape)")
        }
        let statisticsShape = kept.map { $0 ?? 1 }
        let x = try name(input)
        let m = builder.floats(means, shape: statisticsShape, name: "\(builder.scope)/mean", source: .derived)
        let d = builder.floats(divisors, shape: statisticsShape, name: "\(builder.scope)/divisor", source: .derived)
        produce(output, op.invert ? builder.add1("Add", [builder.add1("Mul", [x, d]), m]) : builder.add1("Div", [builder.add1("Sub", [x, m]), d]))
    }
}
