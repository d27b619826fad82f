import Foundation
import KConvGraph
import KConvIO
import KConvKeras

/// What differs between two model files, in any formats and Keras versions: layers added, removed or
/// renamed, config fields (both written in Keras 3's vocabulary first, so a Keras 2 file and its Keras 3
/// conversion agree), weights (shape changes, largest differences), then outputs on seeded inputs.
package struct ModelDiff {
    /// A layer of one model paired with a layer of the other.
    package struct RenamedLayer: Sendable {
        package var from: String
        package var to: String
    }

    /// A config field that differs in a layer both models hold; `nil` where a side lacks the field.
    package struct ConfigDifference: Sendable {
        package var layer: String
        package var field: String
        package var a: String?
        package var b: String?
    }

    /// A weight that differs: in shape, or in values by more than the tolerance.
    package struct WeightDifference: Sendable {
        package var layer: String
        package var weight: String
        package var shapeA: [Int]?
        package var shapeB: [Int]?
        package var maxAbsolute: Float?
        package var maxRelative: Float?
    }

    package var added: [String] = []
    package var removed: [String] = []
    package var renamed: [RenamedLayer] = []
    package var configs: [ConfigDifference] = []
    package var weights: [WeightDifference] = []
    /// Weight arrays compared value by value (same shape in both).
    package var weightsCompared = 0
    /// Layers whose weights were not compared: a config read without its weights file.
    package var weightsNotLoaded: [String] = []
    /// The outputs on seeded inputs, when kconv could run both models on the same inputs.
    package var outputs: VerificationReport?
    /// Why the outputs were not compared.
    package var outputsNotCompared: String?
    package let weightsTolerance: Float

    /// Nothing differs (outputs, when compared, within tolerance).
    package var isEquivalent: Bool {
        added.isEmpty && removed.isEmpty && renamed.isEmpty && configs.isEmpty && weights.isEmpty && outputs?.passed != false
    }

    /// Compares `a` with `b`; weights differ when some element differs by more than `weightsTolerance`,
    /// outputs when one leaves `|b − a| ≤ atol + rtol·|a|`.
    package static func compare(_ a: KerasModel, _ b: KerasModel, weightsTolerance: Float = 0,
                               atol: Float = 1e-5, rtol: Float = 1e-4) throws -> ModelDiff {
        // A subclassed model has no layers to pair, and diff runs both models.
        for model in [a, b] { try locating(file: model.path) { try model.model.requireGraph() } }
        var diff = ModelDiff(weightsTolerance: weightsTolerance)
        let layersA = a.model.layers, layersB = b.model.layers
        var pairs: [(Layer, Layer)] = []
        let namesB = Set(layersB.map(\.name)), namesA = Set(layersA.map(\.name))
        for layer in layersA {
            if let match = layersB.first(where: { $0.name == layer.name }) { pairs.append((layer, match)) }
        }
        // Unmatched layers of the same class and weight shapes, in order, are one layer renamed.
        var onlyB = layersB.filter { !namesA.contains($0.name) }
        for layer in layersA where !namesB.contains(layer.name) {
            if let index = onlyB.firstIndex(where: { $0.className == layer.className && $0.weightSpecs.map(\.shape) == layer.weightSpecs.map(\.shape) }) {
                diff.renamed.append(RenamedLayer(from: layer.label, to: onlyB[index].label))
                pairs.append((layer, onlyB.remove(at: index)))
            } else {
                diff.removed.append(layer.label)
            }
        }
        diff.added = onlyB.map(\.label)
        for (x, y) in pairs {
            diff.configs += configDifferences(x, y)
            try diff.compareWeights(x, y, files: (a.path, b.path))
        }
        diff.compareOutputs(a.model, b.model, atol: atol, rtol: rtol)
        return diff
    }

    /// The layers' Keras 3 entries (class name and config without the name), field by field.
    private static func configDifferences(_ x: Layer, _ y: Layer) -> [ConfigDifference] {
        var differences: [ConfigDifference] = []
        func walk(_ path: String, _ p: JSONValue?, _ q: JSONValue?) {
            // A key one side leaves out and the other writes as null says the same (Keras 3 writes more defaults).
            if numericallyEqual(p ?? .null, q ?? .null) { return }
            if case .object(let p)? = p, case .object(let q)? = q {
                for key in p.keys + q.keys.filter({ p[$0] == nil }) { walk(path.isEmpty ? key : "\(path).\(key)", p[key], q[key]) }
            } else {
                differences.append(ConfigDifference(layer: y.label, field: path, a: p?.serialized(), b: q?.serialized()))
            }
        }
        walk("", .object(normalized(x)), .object(normalized(y)))
        return differences
    }

    /// A layer's class and config as kconv writes them in Keras 3 form, or as the file gave them when they
    /// cannot be written so; without the layer's name (a rename is reported once, as a rename).
    private static func normalized(_ layer: Layer) -> JSONObject {
        var entry: JSONObject
        if let exported = try? ConfigExport(target: .keras3, options: ExportOptions(approximateHardSigmoid: true)).layerEntry(layer) {
            entry = JSONObject([("class_name", exported["class_name"] ?? .null), ("config", exported["config"] ?? .null)])
        } else {
            entry = JSONObject([("class_name", .string(layer.className)), ("config", .object(layer.config))])
        }
        if var config = entry["config"]?.objectValue {
            config["name"] = nil
            entry["config"] = .object(config)
        }
        return entry
    }

    /// JSON equality where `1` and `1.0` are the same number (the Kerases write some values either way).
    private static func numericallyEqual(_ p: JSONValue, _ q: JSONValue) -> Bool {
        switch (p, q) {
        case (.int, .double), (.double, .int): p.doubleValue == q.doubleValue
        case (.array(let p), .array(let q)): p.count == q.count && zip(p, q).allSatisfy(numericallyEqual)
        default: p == q
        }
    }

    private mutating func compareWeights(_ x: Layer, _ y: Layer, files: (String, String)) throws {
        if let unloaded = [x, y].first(where: { $0.weights.count != $0.weightSpecs.count }) {
            weightsNotLoaded.append(unloaded.label)
            return
        }
        let arraysX = x.weights, arraysY = y.weights
        for index in 0..<max(arraysX.count, arraysY.count) {
            let p = arraysX.indices.contains(index) ? arraysX[index] : nil
            let q = arraysY.indices.contains(index) ? arraysY[index] : nil
            let owner = x.weightSpecs.indices.contains(index) ? x : y
            let name = owner.weightSpecs[index].legacyName(in: owner)
            guard let p, let q, p.shape == q.shape else {
                weights.append(WeightDifference(layer: y.label, weight: name, shapeA: p?.shape, shapeB: q?.shape))
                continue
            }
            let valuesX = try locating(file: files.0, layer: x.label) { try p.values() }
            let valuesY = try locating(file: files.1, layer: y.label) { try q.values() }
            var maxAbsolute: Float = 0, maxRelative: Float = 0
            for (u, v) in zip(valuesX, valuesY) where !(u.isNaN && v.isNaN) && u != v {
                let error = abs(u - v)
                maxAbsolute = max(maxAbsolute, error.isNaN ? .infinity : error)
                if u != 0 { maxRelative = max(maxRelative, error / abs(u)) }
            }
            weightsCompared += 1
            if maxAbsolute > weightsTolerance {
                weights.append(WeightDifference(layer: y.label, weight: name, shapeA: p.shape, shapeB: q.shape,
                                                maxAbsolute: maxAbsolute, maxRelative: maxRelative))
            }
        }
    }

    private mutating func compareOutputs(_ a: Model, _ b: Model, atol: Float, rtol: Float) {
        if let reason = a.unsupportedReason ?? b.unsupportedReason {
            outputsNotCompared = "kconv cannot compute the model: \(reason)"
            return
        }
        do {
            try a.prepareForInference()
            try b.prepareForInference()
            outputs = try Verifier.compare(b, against: a, inputs: InputGenerator(), atol: atol, rtol: rtol)
        } catch {
            outputsNotCompared = String(describing: error)
        }
    }
}

extension ModelDiff {
    /// The report a user reads: one line per difference, then the verdict.
    package var text: String {
        var lines: [String] = []
        lines += removed.map { "removed: \($0)" }
        lines += added.map { "added: \($0)" }
        lines += renamed.map { "renamed: \($0.from) -> \($0.to)" }
        lines += configs.map { "config: \($0.layer): \($0.field): \($0.a ?? "(absent)") -> \($0.b ?? "(absent)")" }
        for weight in weights {
            if let maxAbsolute = weight.maxAbsolute {
                lines.append("weight: \(weight.layer): \(weight.weight): max abs diff \(VerificationReport.format(maxAbsolute)), max rel diff \(VerificationReport.format(weight.maxRelative ?? 0))")
            } else {
                lines.append("weight: \(weight.layer): \(weight.weight): shape \(weight.shapeA.map { "\($0)" } ?? "(absent)") -> \(weight.shapeB.map { "\($0)" } ?? "(absent)")")
            }
        }
        lines.append("weights: \(weightsCompared) arrays compared, \(weights.count) differ (tolerance \(weightsTolerance))")
        if !weightsNotLoaded.isEmpty { lines.append("weights: not loaded (a config without its weights file) for \(weightsNotLoaded.joined(separator: ", "))") }
        if let outputs {
            lines += outputs.outputs.map { "output \($0.name): shape \($0.shape), max abs diff \(VerificationReport.format($0.maxAbsoluteError)): \($0.passed ? "same" : "DIFFERENT")" }
        } else {
            lines.append("outputs not compared: \(outputsNotCompared ?? "")")
        }
        lines.append(isEquivalent ? "EQUIVALENT" : "DIFFERENT")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The same as one JSON object.
    package var json: JSONValue {
        let shape = { (shape: [Int]?) -> JSONValue in shape.map { .array($0.map { .int(Int64($0)) }) } ?? .null }
        let number = { (value: Float?) -> JSONValue in value.map { .double(Double($0)) } ?? .null }
        var object: JSONObject = [
            "equivalent": .bool(isEquivalent),
            "removed": .array(removed.map(JSONValue.string)),
            "added": .array(added.map(JSONValue.string)),
            "renamed": .array(renamed.map { ["from": .string($0.from), "to": .string($0.to)] }),
            "configs": .array(configs.map { ["layer": .string($0.layer), "field": .string($0.field), "a": $0.a.map(JSONValue.string) ?? .null, "b": $0.b.map(JSONValue.string) ?? .null] }),
            "weights": .array(weights.map { ["layer": .string($0.layer), "weight": .string($0.weight), "shape_a": shape($0.shapeA), "shape_b": shape($0.shapeB),
                                             "max_abs": number($0.maxAbsolute), "max_rel": number($0.maxRelative)] }),
            "weights_compared": .int(Int64(weightsCompared)),
            "weights_not_loaded": .array(weightsNotLoaded.map(JSONValue.string)),
        ]
        object["outputs"] = outputs.map { report in .array(report.outputs.map { ["name": .string($0.name), "shape": shape($0.shape), "max_abs": number($0.maxAbsoluteError), "same": .bool($0.passed)] }) } ?? .null
        object["outputs_not_compared"] = outputsNotCompared.map(JSONValue.string) ?? .null
        return .object(object)
    }
}
