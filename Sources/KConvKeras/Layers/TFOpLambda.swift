import KConvGraph
import KConvIO

/// tf-keras's record of a `tf.*` function called on symbolic tensors (`TFOpLambda`, `function: "math.add"`)
/// or of `x[...]` (`SlicingOpLambda`, `__operators__.getitem`). The call holds the function's first argument
/// positionally and the others as keyword arguments (`{"y": ["dense", 0, 0]}`, `{"axis": -1}`). kconv reads
/// the functions that have a Keras 3 operation computing the same thing (`tf.math.add` is `keras.ops.add`)
/// as that operation, which computes it.
package final class TFOpLambda: Layer {
    package override class var kerasClassNames: [String] { ["TFOpLambda", "SlicingOpLambda"] }
    package override class var examples: [LayerExample] {
        [LayerExample("TFOpLambda", ["function": "math.negative"], inputs: [[3]]),
         LayerExample("SlicingOpLambda", ["function": "__operators__.getitem"], inputs: [[3]])]
    }

    /// A tf function's Keras 3 counterpart: the operation class, the function's tensor parameters in order
    /// (the first passed positionally), and its other parameters → the operation's config keys.
    struct Counterpart {
        var operation: String
        var operands: [String]
        var arguments: [String: String] = [:]
    }

    /// The tf functions kconv reads, by the name a TFOpLambda records.
    static let counterparts: [String: Counterpart] = {
        var table: [String: Counterpart] = [:]
        let binary = ["math.add": "Add", "__operators__.add": "Add", "math.subtract": "Subtract", "math.multiply": "Multiply",
                      "math.truediv": "Divide", "math.divide": "Divide", "math.pow": "Power", "math.maximum": "Maximum",
                      "math.minimum": "Minimum", "math.equal": "Equal", "math.not_equal": "NotEqual", "math.greater": "Greater",
                      "math.greater_equal": "GreaterEqual", "math.less": "Less", "math.less_equal": "LessEqual",
                      "math.logical_and": "LogicalAnd"]
        for (function, operation) in binary { table[function] = Counterpart(operation: operation, operands: ["x", "y"]) }
        for (function, operation) in ["math.negative": "Negative", "math.square": "Square", "math.sigmoid": "Sigmoid",
                                      "nn.sigmoid": "Sigmoid", "math.tanh": "Tanh", "nn.tanh": "Tanh", "math.exp": "Exp"] {
            table[function] = Counterpart(operation: operation, operands: ["x"])
        }
        table["nn.relu"] = Counterpart(operation: "Relu", operands: ["features"])
        for function in ["nn.softmax", "math.softmax"] {
            table[function] = Counterpart(operation: "Softmax", operands: ["logits"], arguments: ["axis": "axis"])
        }
        for (function, operation) in ["math.reduce_mean": "Mean", "math.reduce_sum": "Sum", "math.reduce_max": "Max", "math.reduce_min": "Min"] {
            table[function] = Counterpart(operation: operation, operands: ["input_tensor"], arguments: ["axis": "axis", "keepdims": "keepdims"])
        }
        table["where"] = Counterpart(operation: "Where", operands: ["condition", "x", "y"])
        table["cast"] = Counterpart(operation: "Cast", operands: ["x"], arguments: ["dtype": "dtype"])
        table["reshape"] = Counterpart(operation: "Reshape", operands: ["tensor"], arguments: ["shape": "newshape"])
        for function in ["transpose", "compat.v1.transpose"] {
            table[function] = Counterpart(operation: "Transpose", operands: ["a"], arguments: ["perm": "axes"])
        }
        for function in ["expand_dims", "compat.v1.expand_dims"] {
            table[function] = Counterpart(operation: "ExpandDims", operands: ["input"], arguments: ["axis": "axis"])
        }
        for function in ["squeeze", "compat.v1.squeeze"] {
            table[function] = Counterpart(operation: "Squeeze", operands: ["input"], arguments: ["axis": "axis", "squeeze_dims": "axis"])
        }
        table["concat"] = Counterpart(operation: "Concatenate", operands: ["values"], arguments: ["axis": "axis"])
        table["stack"] = Counterpart(operation: "Stack", operands: ["values"], arguments: ["axis": "axis"])
        table["linalg.matmul"] = Counterpart(operation: "Matmul", operands: ["a", "b"])
        table["__operators__.getitem"] = Counterpart(operation: "GetItem", operands: ["tensor"])
        return table
    }()

    /// Keyword arguments that change nothing when they hold these values (tf's defaults); `name` never does.
    private static let neutralArguments: [String: JSONValue] = [
        "conjugate": false, "transpose_a": false, "transpose_b": false, "adjoint_a": false, "adjoint_b": false,
        "a_is_sparse": false, "b_is_sparse": false,
    ]

    package let function: String

    package override var recordsCallOnly: Bool { true }

    package required init(_ context: LayerContext) throws {
        function = try context.config.string("function", default: "")
        try super.init(context)
    }

    override package var unsupportedReason: String? {
        Self.counterparts[function] == nil ? "kconv does not implement \(className) operation tf.\(function)" : nil
    }

    /// The tensor parameters after the first, which tf-keras passes by keyword: read as the layer's inputs.
    override package var callSignature: CallSignature {
        guard let counterpart = Self.counterparts[function], counterpart.operands.count > 1 else { return .tensors }
        return .named(parameters: counterpart.operands, required: 1)
    }

    /// The call as its Keras 3 operation: the operation, and the call that operation records, whose tensors
    /// are the layer's inputs in order.
    package func keras3Operation(call: JSONValue, inputCount: Int) throws -> (operation: KerasOperation, call: JSONValue) {
        guard let counterpart = Self.counterparts[function] else { throw ModelError(layer: label, unsupportedReason ?? "") }
        let entries = call.arrayValue.map { GraphBuilder.configTensor(call) != nil || $0.first?.stringValue != nil ? [call] : $0 } ?? []
        let kwargs = entries.first?.arrayValue.flatMap { $0.count > 3 ? $0[3].objectValue : nil } ?? JSONObject()
        let placeholder: JSONValue = ["class_name": "__keras_tensor__", "config": .object(JSONObject())]
        // The first argument: the positional tensors (a list for concat and stack), or the constant recorded instead.
        let positional = entries.filter { $0.arrayValue?.first?.stringValue != "_CONSTANT_VALUE" }.count
        var args: [JSONValue]
        if counterpart.operands[0] == "values" {
            args = [.array(Array(repeating: placeholder, count: max(positional, inputCount)))]
        } else if let constant = entries.first?.arrayValue, constant.first?.stringValue == "_CONSTANT_VALUE", constant.count > 2 {
            args = [constant[2]]
        } else {
            args = [placeholder]
        }
        if counterpart.operation == "GetItem" {
            // `x[()]` (the whole tensor) unless the call records a slice spec.
            args.append(kwargs["slice_spec"].map(Self.keras3Key) ?? .array([]))
        }
        var config: JSONObject = ["name": .string(name)]
        for (key, value) in kwargs {
            if let index = counterpart.operands.firstIndex(of: key), index > 0 {
                while args.count < index { args.append(.null) }
                args.insert(GraphBuilder.configTensor(value) != nil ? placeholder : value, at: index)
            } else if counterpart.operation == "GetItem", key == "slice_spec" {
                continue
            } else if let target = counterpart.arguments[key] {
                config[target] = value
            } else if key != "name", Self.neutralArguments[key] != value {
                throw ModelError(layer: label, field: "inbound_nodes", "kconv does not read argument \(key)=\(ConfigReader.describe(value)) of tf.\(function)")
            }
        }
        let entry: JSONObject = ["class_name": .string(counterpart.operation), "module": "keras.src.ops", "config": .object(config)]
        guard let operation = try LayerRegistry.build(entry, dialect: .keras3) as? KerasOperation else {
            throw ModelError(layer: label, "Keras 3 operation \(counterpart.operation) is not one kconv computes")
        }
        return (operation, ["args": .array(args), "kwargs": .object(JSONObject())])
    }

    /// Keras 3 records the call as the operation computing it.
    package override func substitute(for target: KerasDialect, call: JSONValue) throws -> (layer: Layer, call: JSONValue)? {
        guard target == .keras3 else { return nil }
        if let reason = unsupportedReason { throw ModelError(layer: label, reason + ", so it cannot be written as a Keras 3 operation") }
        let (operation, keras3Call) = try keras3Operation(call: call, inputCount: 0)
        return (operation, keras3Call)
    }

    /// The tf function tf-keras records for each Keras 3 operation kconv writes as a TFOpLambda.
    private static let writtenFunctions: [String: String] = counterparts.reduce(into: [:]) { table, entry in
        table[entry.value.operation] = min(table[entry.value.operation] ?? entry.key, entry.key)
    }

    /// A Keras 3 operation's call `call` as the TFOpLambda tf-keras records for it, its tensors as
    /// `["__input__", 0, 0, kwargs?]` placeholders; nil when no tf function kconv knows computes it.
    package static func recording(_ operation: KerasOperation, call: JSONValue) throws -> (layer: Layer, call: JSONValue)? {
        guard let function = writtenFunctions[operation.className], let counterpart = counterparts[function] else { return nil }
        func refusal(_ what: String) -> ModelError {
            ModelError(layer: operation.label, "tf.\(function) cannot record \(what)")
        }
        if let kwargs = call["kwargs"]?.objectValue, kwargs.contains(where: { !$0.value.isNull }) {
            throw refusal("keyword arguments \(ConfigReader.describe(.object(kwargs)))")
        }
        func isTensor(_ value: JSONValue) -> Bool { value["class_name"]?.stringValue == "__keras_tensor__" }
        let placeholder: JSONValue = ["__input__", 0, 0]
        var kwargs = JSONObject()
        for (key, value) in operation.config where key != "name" {
            if key == "initial" || (key == "axes" && value.isNull) { guard value.isNull else { throw refusal("\(key)=\(ConfigReader.describe(value))") }; continue }
            guard let tfKey = counterpart.arguments.filter({ $0.value == key }).map(\.key).min(), !(operation.className == "Softmax" && value.isNull) else {
                throw refusal("argument \(key)=\(ConfigReader.describe(value))")
            }
            kwargs[tfKey] = value
        }
        let args = call["args"]?.arrayValue ?? []
        for (index, value) in args.enumerated().dropFirst() {
            if operation.className == "GetItem" {
                func bounds(_ item: JSONValue) -> JSONValue { item["class_name"]?.stringValue == "__slice__" ? item["config"] ?? .null : item }
                kwargs["slice_spec"] = value.arrayValue.map { .array($0.map(bounds)) } ?? bounds(value)
            } else if index < counterpart.operands.count {
                kwargs[counterpart.operands[index]] = isTensor(value) ? placeholder : value
            } else {
                throw refusal("\(args.count) arguments")
            }
        }
        guard let first = args.first else { throw refusal("a call without arguments") }
        let recorded: JSONValue
        if counterpart.operands[0] == "values", let tensors = first.arrayValue, tensors.allSatisfy(isTensor), tensors.count > 1 {
            recorded = .array(tensors.map { _ in ["__input__", 0, 0, .object(kwargs)] })
        } else if isTensor(first) {
            recorded = ["__input__", 0, 0, .object(kwargs)]
        } else if first.doubleValue != nil {
            recorded = ["_CONSTANT_VALUE", -1, first, .object(kwargs)]
        } else {
            throw refusal("its first argument \(ConfigReader.describe(first))")
        }
        let config: JSONObject = ["name": .string(operation.name), "trainable": true, "dtype": "float32", "function": .string(function)]
        let className = function == "__operators__.getitem" ? "SlicingOpLambda" : "TFOpLambda"
        let layer = try LayerRegistry.build(["class_name": .string(className), "config": .object(config)], dialect: .keras2)
        return (layer, recorded)
    }

    /// tf-keras's slice spec (`[{"start": 1, "stop": 3, "step": null}, -1]`) as Keras 3 writes the key.
    private static func keras3Key(_ spec: JSONValue) -> JSONValue {
        func entry(_ item: JSONValue) -> JSONValue {
            guard let bounds = item.objectValue else { return item }
            return ["class_name": "__slice__", "config": .object(bounds)]
        }
        return spec.arrayValue.map { .array($0.map(entry)) } ?? entry(spec)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        try outputShapes(inputShapes, call: .null)
    }

    override package func outputShapes(_ inputShapes: [TensorShape], call: JSONValue) throws -> [TensorShape] {
        guard unsupportedReason == nil else { throw ModelError.unknownShape(label) }
        let (operation, keras3Call) = try keras3Operation(call: call, inputCount: inputShapes.count)
        return try operation.outputShapes(inputShapes, call: keras3Call)
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard unsupportedReason == nil else { return lowerUnsupported(call, into: &graph) }
        let (operation, keras3Call) = try keras3Operation(call: call.recordedCall, inputCount: call.inputs.count)
        // Keyword tensors left after a gap in the parameters (a constant first argument) follow the others.
        var inner = call
        inner.inputs = call.inputs + call.keywordInputs.flatMap(\.tensors)
        inner.recordedCall = keras3Call
        inner.keywordInputs = []
        return try operation.lower(inner, into: &graph)
    }
}
