import KConvGraph
import KConvIO

/// Keras 3's NumPy-like operations recorded in a functional graph (`keras.ops.add(x, y)`, `x * 2`,
/// `ops.reshape`, `x[:, -1]`, `ops.mean`, `ops.where`, ...), each lowered to the graph operation computing
/// it. Their operands are the call's `args` in order: tensors (`__keras_tensor__` entries) and numbers.
package class TensorOperation: KerasOperation {
    package override class var operationNames: [String] { arguments.keys.sorted() }
    package override class var arguments: [String: [String]] {
        var known: [String: [String]] = Dictionary(uniqueKeysWithValues: binaryOperations.keys.map { ($0, []) })
        for name in ["Mean", "Sum", "Max", "Min"] { known[name] = ["axis", "keepdims", "initial"] }
        known["Reshape"] = ["newshape"]
        known["Transpose"] = ["axes"]
        known["ExpandDims"] = ["axis"]
        known["Squeeze"] = ["axis"]
        known["Concatenate"] = ["axis"]
        known["Stack"] = ["axis"]
        known["GetItem"] = []
        known["Matmul"] = []
        known["Cast"] = ["dtype"]
        known["Where"] = []
        known["Negative"] = []
        known["Square"] = []
        return known
    }

    /// Keras 3's elementwise operation classes on two operands → the graph's operation.
    package static let binaryOperations: [String: BinaryOperation] = [
        "Add": .add, "Subtract": .subtract, "Multiply": .multiply, "Divide": .divide, "TrueDivide": .divide,
        "Power": .power, "Maximum": .maximum, "Minimum": .minimum, "LogicalAnd": .and, "Equal": .equal,
        "NotEqual": .notEqual, "Greater": .greater, "GreaterEqual": .greaterEqual, "Less": .less, "LessEqual": .lessEqual,
    ]

    /// The operation's constructor arguments.
    private let reader: ConfigReader

    /// tf-keras's merge layers computing Keras 3's operations of that name on tensors alone.
    private static let keras2Layers: Set<String> = ["Add", "Subtract", "Multiply", "Maximum", "Minimum", "Concatenate"]

    /// Keras 2 records `x + y` (and `-`, `*`, maximum, minimum of two float32 tensors of one shape, and the
    /// concatenation of float32 tensors along a feature axis) as its merge layer of the same name; with
    /// constants, other dtypes or broadcasting the operation stays a TFOpLambda (`substitute`).
    package override func expansion(for target: KerasDialect, call: JSONValue, names: inout LayerNames) throws -> [ExpansionStep]? {
        guard target == .keras2, Self.keras2Layers.contains(className),
              call["kwargs"]?.objectValue?.allSatisfy({ $0.value.isNull }) ?? true,
              let args = call["args"]?.arrayValue else { return nil }
        let concatenate = className == "Concatenate"
        let tensors = concatenate ? (args.count == 1 ? args[0].arrayValue ?? [] : []) : args
        let recorded = tensors.map { $0["class_name"] == "__keras_tensor__" ? $0["config"] : nil }
        guard tensors.count >= 2, concatenate || tensors.count == 2,
              recorded.allSatisfy({ $0?["dtype"] == "float32" }),
              concatenate || Set(recorded.compactMap { $0?["shape"].map(ConfigReader.describe) }).count == 1 else { return nil }
        var config: JSONObject = ["name": .string(name), "trainable": true, "dtype": "float32"]
        if concatenate {
            // Along the batch axis (Keras 3's default) it is no layer's work.
            guard let axis = try Self.axisArgument(reader, default: 0, allowsNone: false), axis != 0 else { return nil }
            config["axis"] = .int(Int64(axis))
        }
        let layer = try LayerRegistry.build(["class_name": .string(className), "config": .object(config)], dialect: target)
        return [ExpansionStep(layer, reading: tensors.indices.map { .input($0) })]
    }

    package required init(_ context: LayerContext) throws {
        reader = context.config
        try super.init(context)
    }

    override package var unsupportedReason: String? { nil }

    /// `not_equal(x, c)` on a tensor is the mask an `Embedding(mask_zero=True)` computes (with c = 0).
    package override func recordedMask(of operand: ComputedMask?, call: JSONValue) -> ComputedMask? {
        guard className == "NotEqual", operand == nil, let args = call["args"]?.arrayValue, args.count == 2,
              let constant = args[1].doubleValue else { return nil }
        return .notEqual(constant)
    }

    package override var outputDType: String {
        if let operation = Self.binaryOperations[className], operation.givesMask { return "bool" }
        if className == "Cast" { return reader.object["dtype"]?.stringValue ?? "float32" }
        return "float32"
    }

    package override var kerasModule: String { className == "Cast" ? "keras.src.ops.core" : "keras.src.ops.numpy" }

    /// An operand of the call: one of its tensors, or a number.
    enum Operand {
        case tensor(Int)
        case number(Double)
    }

    /// The call's positional arguments as operands, a list argument (concatenate's) flattened.
    func operands(_ call: JSONValue) throws -> [Operand] {
        var next = 0
        func operand(_ value: JSONValue) throws -> [Operand] {
            if value["class_name"]?.stringValue == "__keras_tensor__" {
                next += 1
                return [.tensor(next - 1)]
            }
            if let number = value.doubleValue { return [.number(number)] }
            if let flag = value.boolValue { return [.number(flag ? 1 : 0)] }
            if let items = value.arrayValue { return try items.flatMap(operand) }
            throw ModelError(layer: label, field: "inbound_nodes", "expected tensors and numbers as \(className)'s arguments, found \(ConfigReader.describe(value))")
        }
        let args = call["args"]?.arrayValue ?? []
        return try (className == "GetItem" ? Array(args.prefix(1)) : args).flatMap(operand)
    }

    // MARK: Shapes

    override package func outputShapes(_ inputShapes: [TensorShape], call: JSONValue) throws -> [TensorShape] {
        if Self.binaryOperations[className] != nil || className == "Where" {
            return [try operands(call).reduce(into: TensorShape()) { shape, operand in
                guard case .tensor(let index) = operand else { return }
                guard index < inputShapes.count else { throw ModelError.unknownShape(label) }
                shape = try broadcast(shape, inputShapes[index])
            }]
        }
        if ["Concatenate", "Stack"].contains(className) {
            guard let first = inputShapes.first, inputShapes.allSatisfy({ $0.count == first.count }) else { throw ModelError.unknownShape(label) }
            let stacking = className == "Stack"
            let axis = try resolve(try Self.axisArgument(reader, default: 0, allowsNone: false) ?? 0, rank: first.count + (stacking ? 1 : 0))
            if stacking {
                var shape = first
                shape.insert(inputShapes.count, at: axis)
                return [shape]
            }
            var shape = first
            shape[axis] = inputShapes.map { $0[axis] }.reduce(Optional(0)) { total, size in total.flatMap { a in size.map { a + $0 } } }
            return [shape]
        }
        if className == "Matmul" {
            guard inputShapes.count == 2, inputShapes[0].count >= 2, inputShapes[1].count >= 2 else { throw ModelError.unknownShape(label) }
            return [Array(inputShapes[0].dropLast()) + [inputShapes[1].last ?? nil]]
        }
        let input = try singleInput(inputShapes)
        switch className {
        case "Negative", "Square": return [input]
        case "Cast": return [input]
        case "Mean", "Sum", "Max", "Min":
            let op = try reduction(rank: input.count)
            let axes = op.axes ?? Array(input.indices)
            return [op.keepDims ? input.indices.map { axes.contains($0) ? 1 : input[$0] } : input.indices.filter { !axes.contains($0) }.map { input[$0] }]
        case "Reshape":
            let target = try newShape()
            let known = target.filter { $0 != -1 }.reduce(1, *)
            let total = input.reduce(Optional(1)) { total, size in total.flatMap { a in size.map { a * $0 } } }
            return [target.map { $0 != -1 ? $0 : total.flatMap { known > 0 ? $0 / known : nil } }]
        case "Transpose":
            return [try permutation(rank: input.count).map { input[$0] }]
        case "ExpandDims":
            var shape = input
            shape.insert(1, at: try resolve(try Self.axisArgument(reader, default: nil, allowsNone: false) ?? 0, rank: input.count + 1))
            return [shape]
        case "Squeeze":
            let axes = try squeezedAxes(input)
            return [input.indices.filter { !axes.contains($0) }.map { input[$0] }]
        case "GetItem":
            let indices = try sliceIndices(call, rank: input.count)
            return [input.indices.compactMap { axis -> Int?? in
                guard axis < indices.count else { return .some(input[axis]) }
                switch indices[axis] {
                case .index: return nil
                case .range: return .some(input[axis].map { indices[axis].positions(size: $0).count })
                }
            }]
        default:
            throw ModelError.unknownShape(label)
        }
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        throw ModelError.unknownShape(label)
    }

    private func broadcast(_ a: TensorShape, _ b: TensorShape) throws -> TensorShape {
        let rank = max(a.count, b.count)
        let a = Array(repeating: 1, count: rank - a.count) + a, b = Array(repeating: 1, count: rank - b.count) + b
        return try zip(a, b).map { x, y in
            if x == 1 { return y }
            if y == 1 || x == y { return x }
            guard let x, let y else { return x ?? y }
            throw ModelError(layer: label, field: "inbound_nodes", "operands of sizes \(x) and \(y) cannot be broadcast together")
        }
    }

    private func reduction(rank: Int) throws -> ReduceOp {
        let kinds: [String: ReduceOp.Kind] = ["Mean": .mean, "Sum": .sum, "Max": .max, "Min": .min]
        guard let kind = kinds[className] else { throw ModelError(layer: label, "\(className) is not a reduction") }
        if let initial = reader.object["initial"], !initial.isNull {
            throw reader.error("initial", expected: "null (kconv does not fold an initial value into a reduction)", found: initial)
        }
        let value = reader.object["axis"] ?? .null
        let axes: [Int]? = try value.isNull ? nil : (value.intValue.map { [$0] } ?? value.arrayValue?.compactMap(\.intValue)).map { list in
            try list.map { try resolve($0, rank: rank) }
        } ?? { throw reader.error("axis", expected: "an integer, a list of integers or null", found: value) }()
        return ReduceOp(kind: kind, axes: axes, keepDims: try reader.bool("keepdims", default: false))
    }

    private func newShape() throws -> [Int] {
        guard let shape = reader.object["newshape"]?.arrayValue?.compactMap(\.intValue), shape.count == reader.object["newshape"]?.arrayValue?.count,
              shape.allSatisfy({ $0 >= -1 }), shape.filter({ $0 == -1 }).count <= 1
        else { throw reader.error("newshape", expected: "a list of sizes with at most one -1", found: reader.object["newshape"]) }
        return shape
    }

    private func permutation(rank: Int) throws -> [Int] {
        guard let value = reader.object["axes"], !value.isNull else { return Array((0 ..< rank).reversed()) }
        guard let axes = value.arrayValue?.compactMap(\.intValue), axes.count == rank else {
            throw reader.error("axes", expected: "a permutation of \(rank) axes", found: value)
        }
        let resolved = try axes.map { try resolve($0, rank: rank) }
        guard resolved.sorted() == Array(0 ..< rank) else { throw reader.error("axes", expected: "a permutation of \(rank) axes", found: value) }
        return resolved
    }

    private func squeezedAxes(_ input: TensorShape) throws -> [Int] {
        let value = reader.object["axis"] ?? .null
        if value.isNull { return input.indices.filter { input[$0] == 1 } }
        guard let axes = value.intValue.map({ [$0] }) ?? value.arrayValue?.compactMap(\.intValue) else {
            throw reader.error("axis", expected: "an integer, a list of integers or null", found: value)
        }
        return try axes.map { axis in
            let resolved = try resolve(axis, rank: input.count)
            guard input[resolved] == 1 || input[resolved] == nil else {
                throw ModelError(layer: label, field: "config.axis", "squeeze removes axis \(axis), which has size \(input[resolved].map(String.init) ?? "?"), not 1")
            }
            return resolved
        }
    }

    /// `x[key]`: the key as Keras 3 records it (one index or `__slice__`, or a list of them).
    private func sliceIndices(_ call: JSONValue, rank: Int) throws -> [SliceIndex] {
        guard let args = call["args"]?.arrayValue, args.count == 2 else {
            throw ModelError(layer: label, field: "inbound_nodes", "expected x[key], found arguments \(ConfigReader.describe(call["args"] ?? .null))")
        }
        let key = args[1].arrayValue ?? [args[1]]
        let indices = try key.map { entry -> SliceIndex in
            if let index = entry.intValue { return .index(index) }
            guard entry["class_name"]?.stringValue == "__slice__", let bounds = entry["config"] else {
                throw ModelError(layer: label, field: "inbound_nodes", "kconv reads integer and start:stop:step indices, found \(ConfigReader.describe(entry))")
            }
            func bound(_ name: String) throws -> Int? {
                guard let value = bounds[name], !value.isNull else { return nil }
                guard let number = value.intValue else { throw ModelError(layer: label, field: "inbound_nodes", "expected an integer slice \(name), found \(ConfigReader.describe(value))") }
                return number
            }
            let step = try bound("step") ?? 1
            guard step != 0 else { throw ModelError(layer: label, field: "inbound_nodes", "a slice step cannot be 0") }
            return .range(start: try bound("start"), stop: try bound("stop"), step: step)
        }
        guard indices.count <= rank else { throw ModelError(layer: label, field: "inbound_nodes", "\(indices.count) indices do not fit a tensor of rank \(rank)") }
        return indices
    }

    // MARK: Lowering

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let shape = call.outputShapes?.first
        let values = try operands(call.recordedCall).map { operand -> ValueID in
            switch operand {
            case .tensor(let index):
                guard index < call.inputs.count else { throw EngineError("expected tensor \(index), found \(call.inputs.count)") }
                return call.inputs[index].value
            case .number(let number):
                return graph.constant(Constant(origin: label, name: "operand", shape: [], read: { [Float(number)] }))
            }
        }
        guard let first = values.first else { throw EngineError("expected an input, found none") }
        func add(_ op: Op, _ inputs: [ValueID?], dtype: DType = .float32) -> [LoweredTensor] {
            let output = graph.add(op, inputs: inputs, outputs: [ValueType(dtype: dtype, shape: shape?.dims)], origin: label)
            return [LoweredTensor(value: output[0], mask: nil)]
        }
        let rank = call.inputs.first.flatMap { graph.type(of: $0.value).shape?.count }
        func knownRank() throws -> Int {
            guard let rank else { throw ModelError(layer: label, "kconv needs the rank of \(className)'s input") }
            return rank
        }
        if let operation = Self.binaryOperations[className] {
            if operation == .notEqual, case let found = try operands(call.recordedCall), found.count == 2, case .number(let constant) = found[1] {
                // Exact on whole-number inputs (an Embedding's tokens), as the mask Keras computes.
                return add(.notEqual(Float(constant)), [first], dtype: .bool)
            }
            guard values.count == 2 else { throw ModelError(layer: label, field: "inbound_nodes", "\(className) takes 2 operands, found \(values.count)") }
            return add(.binary(operation), values, dtype: operation.givesMask ? .bool : .float32)
        }
        switch className {
        case "Where":
            guard values.count == 3 else { throw ModelError(layer: label, field: "inbound_nodes", "where(condition, x, y) takes 3 operands, found \(values.count)") }
            return add(.select, values)
        case "Negative": return add(.scaleShift(scale: [-1], offset: [0]), [first])
        case "Square": return add(.binary(.multiply), [first, first])
        case "Cast":
            let name = reader.object["dtype"]?.stringValue ?? ""
            guard let dtype = DType(kerasName: name), dtype != .string else {
                throw reader.error("dtype", expected: "a numeric or bool dtype", found: reader.object["dtype"])
            }
            return add(.cast(dtype), [first], dtype: dtype == .bool ? .bool : .float32)
        case "Mean", "Sum", "Max", "Min": return add(.reduce(try reduction(rank: try knownRank())), [first])
        case "Reshape": return add(.reshape(keepingAxes: 0, to: try newShape()), [first])
        case "Transpose": return add(.transpose(try permutation(rank: try knownRank())), [first])
        case "ExpandDims":
            return add(.expandDims(axis: try Self.axisArgument(reader, default: nil, allowsNone: false) ?? 0), [first])
        case "Squeeze":
            guard let input = call.inputs.first, let inputShape = graph.type(of: input.value).shape else { throw ModelError(layer: label, "kconv needs the rank of squeeze's input") }
            let axes = try squeezedAxes(inputShape.map(\.size))
            let all = SliceIndex.range(start: nil, stop: nil, step: 1)
            return add(.slice((0 ... (axes.max() ?? -1)).map { axes.contains($0) ? .index(0) : all }), [first])
        case "GetItem": return add(.slice(try sliceIndices(call.recordedCall, rank: try knownRank())), [first])
        case "Concatenate", "Stack":
            let stacking = className == "Stack"
            let axis = try resolve(try Self.axisArgument(reader, default: 0, allowsNone: false) ?? 0, rank: try knownRank() + (stacking ? 1 : 0))
            let parts = stacking ? values.map { graph.add(.expandDims(axis: axis), inputs: [$0], outputs: [ValueType(dtype: .float32, shape: nil)], origin: label)[0] } : values
            let inputs: [ValueID?] = parts + parts.map { _ in nil }
            let outputs = graph.add(.concatenate(ConcatenateOp(axis: axis, keras3Masks: true)), inputs: inputs,
                                    outputs: [ValueType(dtype: .float32, shape: shape?.dims), ValueType(dtype: .bool, shape: nil)], origin: label)
            return [LoweredTensor(value: outputs[0], mask: nil)]
        case "Matmul":
            guard values.count == 2, let a = graph.type(of: values[0]).shape?.count, let b = graph.type(of: values[1]).shape?.count,
                  a >= 2, b >= 2, a == b || b == 2 else {
                throw ModelError(layer: label, "kconv computes matmul of two operands of equal rank ≥ 2, or of any rank ≥ 2 with a matrix")
            }
            let batch = String("abcdefgh".prefix(a - 2))
            let equation = "\(batch)ij,\(b == 2 ? "" : batch)jk->\(batch)ik"
            return add(.einsum(EinsumOp(equation: equation)), [values[0], values[1], nil])
        default:
            throw ModelError(layer: label, "kconv has no tensor operation \(className)")
        }
    }
}

extension Dim {
    /// The size, nil for a symbol.
    var size: Int? { if case .size(let size) = self { size } else { nil } }
}
