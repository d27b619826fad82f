import KConvEngine
import KConvKeras
import KConvGraph
import KConvIO
import KConvONNX

/// What kconv does with each Keras class it implements (`kconv layers`), found out from the code rather than
/// listed: every class of the registry is built from its example (`Layer.examples`), run in the engine, and
/// its config written for each Keras generation kconv writes, through the same code a conversion uses.
package struct LayerSupport: Sendable {
    /// A Keras generation kconv does not write the class for, and why.
    package struct Refusal: Sendable, Equatable {
        package var target: KerasDialect
        package var reason: String
    }

    package var className: String
    /// Older and alternative names read as this class (`Convolution2D`, `AtrousConvolution2D`).
    package var legacyNames: [String]
    /// Why the example did not build, lower to the engine's operations and run; nil when it did.
    package var runFailure: String?
    /// The generations kconv writes that cannot hold the class, in `writtenGenerations` order.
    package var refusals: [Refusal]
    /// Why the example's graph does not translate to ONNX; nil when it does.
    package var onnxFailure: String?

    package var runs: Bool { runFailure == nil }

    /// The Keras generations kconv writes configs in, in the order of the formats that hold them.
    package static var writtenGenerations: [KerasDialect] {
        ConversionFormat.allCases.flatMap(\.targets).reduce(into: []) { list, target in
            if !list.contains(target) { list.append(target) }
        }
    }

    /// The generations the class is written for.
    package var targets: [KerasDialect] {
        Self.writtenGenerations.filter { target in !refusals.contains { $0.target == target } }
    }

    /// The formats that can hold the class: the Keras formats written in a generation it is written for,
    /// and ONNX when its graph translates.
    package var formats: [ConversionFormat] {
        ConversionFormat.allCases.filter { $0 == .onnx ? onnxFailure == nil : !Set($0.targets).isDisjoint(with: targets) }
    }

    /// One entry per Keras class of the registry, in registry order.
    package static func all() -> [LayerSupport] {
        LayerRegistry.layerTypes.flatMap { type in type.kerasClassNames.map { probe(type, $0) } }
    }

    /// Builds, runs and writes `className`'s example.
    package static func probe(_ type: Layer.Type, _ className: String) -> LayerSupport {
        let legacyNames = type.legacyClassNames.filter { $0.value == className }.map(\.key).sorted()
        let generations = writtenGenerations
        guard let example = type.examples.first(where: { $0.className == className }) else {
            let reason = "kconv has no example of it to check"
            return LayerSupport(className: className, legacyNames: legacyNames, runFailure: reason,
                                refusals: generations.map { Refusal(target: $0, reason: type.absentIn[$0] ?? reason) }, onnxFailure: reason)
        }
        let layer: Layer
        do {
            layer = try build(example, as: type, dialect: generations.first { type.absentIn[$0] == nil } ?? .keras2)
        } catch {
            let reason = "its example does not build: " + Self.reason(error)
            return LayerSupport(className: className, legacyNames: legacyNames, runFailure: reason,
                                refusals: generations.map { Refusal(target: $0, reason: reason) }, onnxFailure: reason)
        }
        let runFailure: String?, onnxFailure: String?
        do {
            runFailure = try run(layer, example)
        } catch {
            runFailure = Self.reason(error)
        }
        do {
            onnxFailure = try runFailure ?? exportToONNX(layer, example)
        } catch {
            onnxFailure = Self.reason(error)
        }
        let refusals = generations.compactMap { target -> Refusal? in
            do {
                _ = try ConfigExport(target: target, options: ExportOptions()).layerEntry(layer)
                return nil
            } catch {
                return Refusal(target: target, reason: Self.reason(error))
            }
        }
        return LayerSupport(className: className, legacyNames: legacyNames, runFailure: runFailure, refusals: refusals, onnxFailure: onnxFailure)
    }

    /// The example's layer, built (weights declared) for its inputs and bound to seeded weights.
    package static func build(_ example: LayerExample, as type: Layer.Type, dialect: KerasDialect) throws -> Layer {
        var config = example.config
        config["name"] = .string(snakeCase(example.className))
        var entry: JSONObject = ["class_name": .string(example.className), "config": .object(config)]
        // Keras 3 names each layer's module; an entry without one and without `trainable` reads as an operation.
        if dialect == .keras3 { entry["module"] = "keras.layers" }
        let layer = try LayerRegistry.build(entry, dialect: dialect)
        guard ObjectIdentifier(Swift.type(of: layer)) == ObjectIdentifier(type) else {
            throw ModelError("the registry builds \(example.className) as \(Swift.type(of: layer)), not \(type)")
        }
        let shapes = inputShapes(example)
        try layer.build(shapes)
        _ = try layer.outputShapes(shapes)
        var random = SplitMix64(seed: 7)
        let arrays = layer.weightSpecs.map { spec in
            // Positive, so that variances are.
            let values = (0 ..< spec.count).map { _ in 0.5 + random.nextUnit() }
            return WeightArray(name: spec.name, shape: spec.shape) { values }
        }
        try WeightBinding.bind(arrays, to: layer, dialect: dialect)
        return layer
    }

    /// The example's input shapes, batch axis first.
    package static func inputShapes(_ example: LayerExample) -> [TensorShape] {
        example.inputs.map { [nil] + $0.map(Optional.some) }
    }

    /// One call of `layer` (built by `build`) lowered to a graph, with the output shapes shape inference
    /// gives; nil for a layer with no inputs (a model input is fed, not computed).
    package static func lowered(_ layer: Layer, _ example: LayerExample) throws -> (graph: Graph, outputShapes: [TensorShape])? {
        let shapes = inputShapes(example)
        guard !shapes.isEmpty else { return nil }
        let outputShapes = try layer.outputShapes(shapes)
        var graph = Graph()
        let inputs = shapes.map { LoweredTensor(value: graph.newValue(ValueType(dtype: example.dtype, shape: $0.dims)), mask: nil) }
        graph.inputs = inputs.map(\.value)
        let call = LoweringCall(inputs: inputs, keywordInputs: [], recordedCall: .null, outputShapes: outputShapes)
        let outputs = try layer.lower(call, into: &graph)
        graph.outputs = outputs.map(\.value)
        return (graph, outputShapes)
    }

    /// Translates the lowered example to ONNX: nil when it translates, else why not.
    package static func exportToONNX(_ layer: Layer, _ example: LayerExample) throws -> String? {
        guard let (graph, _) = try lowered(layer, example) else { return nil }
        let description = ONNXModelDescription(name: layer.name, inputs: graph.inputs.enumerated().map { ("input_\($0)", graph.type(of: $1).dtype) },
                                               outputNames: graph.outputs.indices.map { "output_\($0)" }, producerVersion: KConvVersion.current, metadata: [])
        _ = try ONNXExporter.export(graph, description)
        return nil
    }

    /// Lowers one call of `layer` (built by `build`) and runs it on seeded inputs of batch 2: nil when it
    /// computes outputs of the shapes shape inference gives, else why not. A model input is fed, not computed.
    package static func run(_ layer: Layer, _ example: LayerExample) throws -> String? {
        if let reason = layer.unsupportedReason { return reason }
        guard let (graph, outputShapes) = try lowered(layer, example) else { return nil }
        for node in graph.nodes {
            if case .unsupported(let reason) = node.op { return reason }
        }
        let shapes = inputShapes(example)
        let batch = 2
        var random = SplitMix64(seed: 11)
        let slots = shapes.map { shape -> Plan.Slot in
            let dims = [batch] + shape.dropFirst().map { $0 ?? 1 }
            let count = dims.reduce(1, *)
            if example.dtype == .string {
                let words = ["a", "b", "c", "a b", "unseen"]
                return .strings(StringTensor(shape: dims, values: (0 ..< count).map { _ in words[Int(random.next() % UInt64(words.count))] }))
            }
            let values = (0 ..< count).map { _ in
                layer.inputVocabulary.map { Float(random.next() % UInt64($0)) } ?? random.nextUnit() * 2 - 1
            }
            return .tensor(Tensor(shape: dims, values: values))
        }
        let results = try Plan(graph).run(slots).outputs
        guard results.count == outputShapes.count else {
            return "computed \(results.count) outputs where shape inference gives \(outputShapes.count)"
        }
        for (index, (result, expected)) in zip(results, outputShapes).enumerated() {
            guard let tensor = result else { return "computed no output \(index)" }
            let wanted = [batch] + expected.dropFirst()
            guard tensor.shape.count == wanted.count, zip(tensor.shape, wanted).allSatisfy({ $1 == nil || $0 == $1 }) else {
                return "computed shape \(tensor.shape) for output \(index) where shape inference gives \(expected.kerasDescription)"
            }
        }
        return nil
    }

    /// An error's message without the example layer's name.
    package static func reason(_ error: Error) -> String {
        guard let error = error as? ModelError else { return String(describing: error) }
        return ModelError(field: error.field, error.message).description
    }
}

/// `kconv layers`: the support table as text, Markdown (README.md's "Supported layers") or JSON.
package struct LayerSupportTable: Sendable {
    package let rows: [LayerSupport]

    package init(_ rows: [LayerSupport] = LayerSupport.all()) {
        self.rows = rows
    }

    package static let headers = ["Keras class", "Also read as", "Runs", "Writes"]

    /// The cells of one row: class, older names, whether it runs (and why not), the formats that can hold
    /// it (a JSON config only in the generations that can) and why the others cannot.
    package static func cells(_ row: LayerSupport, code: (String) -> String) -> [String] {
        let formats = row.formats.map { format -> String in
            guard format != .onnx else { return format.rawValue }
            let partial = format.targets.filter(row.targets.contains)
            return format.rawValue + (partial.count < format.targets.count ? " (\(partial.map(\.description).joined(separator: ", ")))" : "")
        }
        let refusals = row.refusals.map { "not \($0.target): \($0.reason)" } + (row.runs ? row.onnxFailure.map { ["not onnx: \($0)"] } ?? [] : [])
        return [code(row.className),
                row.legacyNames.map(code).joined(separator: ", "),
                row.runFailure.map { "no: \($0)" } ?? "yes",
                ([formats.isEmpty ? "none" : formats.joined(separator: ", ")] + refusals).joined(separator: "; ")]
    }

    /// An aligned table, one line per class.
    package var text: String {
        let table = [Self.headers] + rows.map { Self.cells($0, code: { $0 }) }
        let widths = Self.headers.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        return table.map { cells in
            zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ").trimmingTrailingSpaces()
        }.joined(separator: "\n") + "\n"
    }

    /// A Markdown table, as README.md's "Supported layers" holds it.
    package var markdown: String {
        let escape = { (text: String) in text.replacingOccurrences(of: "|", with: "\\|") }
        let lines = [Self.headers, Self.headers.map { _ in "---" }] + rows.map { Self.cells($0, code: { "`\($0)`" }).map(escape) }
        return lines.map { "| " + $0.joined(separator: " | ") + " |" }.joined(separator: "\n") + "\n"
    }

    /// One JSON array: per class `class_name`, `legacy_names`, `runs`, `run_failure`, `formats`, `targets`
    /// (Keras generations), `refusals` (`target`, `reason`) and `onnx_failure`.
    package var json: JSONValue {
        .array(rows.map { row in
            var object = JSONObject()
            object["class_name"] = .string(row.className)
            object["legacy_names"] = .array(row.legacyNames.map(JSONValue.string))
            object["runs"] = .bool(row.runs)
            object["run_failure"] = row.runFailure.map(JSONValue.string) ?? .null
            object["formats"] = .array(row.formats.map { .string($0.rawValue) })
            object["targets"] = .array(row.targets.map { .string($0.rawValue) })
            object["refusals"] = .array(row.refusals.map { ["target": .string($0.target.rawValue), "reason": .string($0.reason)] })
            object["onnx_failure"] = row.onnxFailure.map(JSONValue.string) ?? .null
            return .object(object)
        })
    }
}
