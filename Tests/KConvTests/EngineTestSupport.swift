@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
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
    return layer
}

extension Layer {
    /// One call of this layer alone: its lowered operations run on a plan of their own.
    func forward(_ call: LayerCall) throws -> LayerOutput {
        if let reason = unsupportedReason { throw EngineError(reason) }
        var graph = Graph()
        func input() -> LoweredTensor {
            LoweredTensor(value: graph.newValue(ValueType(dtype: .float32, shape: nil)), mask: graph.newValue(ValueType(dtype: .bool, shape: nil)))
        }
        let keywordNames = call.keywordInputs.keys.sorted()
        let inputs = call.inputs.map { _ in input() }
        let keywords = keywordNames.map { name in (name: name, tensors: (call.keywordInputs[name] ?? []).map { _ in input() }) }
        let all = inputs + keywords.flatMap(\.tensors)
        graph.inputs = all.map(\.value) + all.compactMap(\.mask)
        let outputs = try lower(LoweringCall(inputs: inputs, keywordInputs: keywords, recordedCall: .null, outputShapes: nil), into: &graph)
        graph.outputs = outputs.map(\.value)
        let tensors = call.inputs + keywordNames.flatMap { call.keywordInputs[$0] ?? [] }
        let masks = call.masks.map { $0.map(Plan.Slot.mask) } + Array(repeating: nil, count: tensors.count - call.inputs.count)
        let result = try Plan(graph).run(tensors.map(Plan.Slot.tensor) + masks, retain: Set(outputs.compactMap(\.mask)), locating: false)
        return LayerOutput(try result.outputs.map { slot in
            guard let tensor = slot?.asTensor else { throw EngineError("\(label) produced no output") }
            return tensor
        }, masks: outputs.map { $0.mask.flatMap { result.retained[$0]?.mask } })
    }

    /// The bound weights' values, in declaration order (the test layers' weights are in memory).
    var parameters: [Tensor] {
        weights.map { array in Tensor(shape: array.shape, values: (try? array.values()) ?? Array(repeating: .nan, count: array.shape.reduce(1, *))) }
    }
}

extension RecurrentPass {
    /// One pass of this layer's cell over `x` with its bound weights, as Bidirectional runs each direction.
    func run(_ x: Tensor, initialStates: [Tensor], mask: Mask?, zeroOutputForMask: Bool) throws -> RecurrentKernel.Result {
        let op = recurrentOp(zeroOutputForMask: zeroOutputForMask)
        let tensors = try weights.map { Tensor(shape: $0.shape, values: try $0.values()) }
        return try op.kernel(tensors).run(x, initialStates: initialStates, mask: mask, options: op.options)
    }
}
