@testable import KConv
import KConvIO

// Shared by the engine tests: seeded draws and layers built from config JSON with random weights.

/// Test draws from the library's seeded generator, so every run sees the same shapes and values.
extension SplitMix64 {
    /// An integer in `0..<bound`.
    mutating func int(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + int(range.count) }

    /// `count` floats uniform in [-scale, scale).
    mutating func values(_ count: Int, scale: Float = 1) -> [Float] {
        (0 ..< count).map { _ in (nextUnit() * 2 - 1) * scale }
    }

    mutating func tensor(_ shape: [Int], scale: Float = 1) -> Tensor {
        Tensor(shape: shape, values: values(shape.reduce(1, *), scale: scale))
    }
}

/// A layer from its config entry, built for `input`, bound to random weights (variances positive) and prepared.
func makeLayer(_ json: String, input: TensorShape, dialect: KerasDialect = .keras3, _ random: inout SplitMix64) throws -> Layer {
    guard let entry = try JSONValue.parse(json).objectValue else { throw EngineError("not an object: \(json)") }
    return try buildWithRandomWeights(LayerRegistry.build(entry, dialect: dialect), input: input, &random)
}

/// `layer` built for `input`, bound to random weights (moving variances positive) and prepared to run.
func buildWithRandomWeights(_ layer: Layer, input: TensorShape, _ random: inout SplitMix64) throws -> Layer {
    try layer.build([input])
    let arrays = layer.weightSpecs.map { spec in
        let values = random.values(spec.count).map { spec.name == "moving_variance" ? abs($0) + 0.1 : $0 }
        return WeightArray(name: spec.name, shape: spec.shape) { values }
    }
    try layer.bind(arrays)
    try layer.prepare()
    return layer
}

extension Recurrent {
    /// One pass of this layer's cell over `x` with its bound weights, as Bidirectional runs each direction.
    func run(_ x: Tensor, initialStates: [Tensor], mask: Mask?, zeroOutputForMask: Bool) throws -> RecurrentKernel.Result {
        let op = recurrentOp(zeroOutputForMask: zeroOutputForMask)
        let tensors = try weights.map { Tensor(shape: $0.shape, values: try $0.values()) }
        return try op.kernel(tensors).run(x, initialStates: initialStates, mask: mask, options: op.options)
    }
}
