import KConvEngine
import KConvKeras
import KConvGraph
import Foundation
import KConvIO

/// Checks a model against reference outputs (from real Keras) or against another model, and says where
/// they part: per output, and — when the reference holds per-layer outputs — the first layer in graph
/// order that leaves tolerance.
public struct VerificationReport {
    public var outputs: [Comparison]
    /// Per-layer comparisons in graph order, for references written with `keras_reference.py --layers`.
    public var layers: [Comparison]

    public var passed: Bool { outputs.allSatisfy(\.passed) }
    /// The first layer whose output is out of tolerance: the place to look.
    public var firstDivergingLayer: Comparison? { layers.first { !$0.passed } }

    /// A table a user reads: one row per output, then the first diverging layer if any.
    public func table(atol: Float, rtol: Float) -> String {
        var rows = [["output", "shape", "max abs err", "max rel err", "worst index", "result"]]
        for comparison in outputs {
            rows.append([
                comparison.name,
                comparison.shapesMatch ? "\(comparison.shape)" : "\(comparison.shape) vs reference \(comparison.referenceShape)",
                Self.format(comparison.maxAbsoluteError), Self.format(comparison.maxRelativeError),
                "\(comparison.worstIndex)", comparison.passed ? "pass" : "FAIL (\(comparison.failingElements) elements)",
            ])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { row in zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ").trimmingTrailingSpaces() }
        lines.insert(String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1)), at: 1)
        lines.append("tolerance: |got - want| <= \(atol) + \(rtol)·|want|")
        if let layer = firstDivergingLayer {
            lines.append("first layer out of tolerance (graph order): \(layer.name), max abs err \(Self.format(layer.maxAbsoluteError)) at \(layer.worstIndex)")
        } else if !layers.isEmpty {
            lines.append("all \(layers.count) per-layer outputs within tolerance")
        }
        lines.append(passed ? "PASS" : "FAIL")
        return lines.joined(separator: "\n") + "\n"
    }

    package static func format(_ value: Float) -> String {
        value == 0 ? "0" : value.isFinite ? String(format: "%.3g", Double(value)) : "\(value)"
    }
}

package enum Verifier {
    /// Runs `model` on the reference's `in_*` and compares with its `out_*` (and `layer/<name>` entries).
    package static func verify(_ model: Model, reference: [(name: String, array: NumPyArray)], atol: Float, rtol: Float) throws -> VerificationReport {
        let arrays = Dictionary(reference.map { ($0.name, $0.array) }, uniquingKeysWith: { first, _ in first })
        let named = arrays.mapValues(\.tensor)
        let inputs = try model.inputSlots(ModelInputs.arrays(for: model, from: reference))
        let wantsLayers = named.keys.contains { $0.hasPrefix("layer/") }
        let (outputs, layerOutputs) = try model.run(inputs, keepingLayerOutputs: wantsLayers)
        var outputComparisons: [Comparison] = []
        for index in outputs.indices {
            guard let want = arrays["out_\(index)"] else {
                throw EngineError("the reference has no out_\(index) for model output \(index) (it holds \(named.keys.sorted().joined(separator: ", ")))")
            }
            outputComparisons.append(Comparison(name: "out_\(index)", got: outputs[index].array(as: .float32), want: want, atol: atol, rtol: rtol))
        }
        var layerComparisons: [Comparison] = []
        var seen = Set<String>()
        for (name, tensors) in layerOutputs where seen.insert(name).inserted {
            for (index, tensor) in tensors.enumerated() {
                let key = tensors.count == 1 ? "layer/\(name)" : "layer/\(name):\(index)"
                if let want = named[key] {
                    layerComparisons.append(Comparison(name: key, got: tensor, want: want, atol: atol, rtol: rtol))
                }
            }
        }
        return VerificationReport(outputs: outputComparisons, layers: layerComparisons)
    }

    /// Runs two models on the same seeded inputs drawn from `model`'s input spec and compares outputs.
    package static func compare(_ model: Model, against other: Model, inputs generator: InputGenerator, atol: Float, rtol: Float) throws -> VerificationReport {
        let inputs = generator.arrays(for: model)
        let got = try model.run(model.inputSlots(inputs), keepingLayerOutputs: false).outputs
        let want = try other.run(other.inputSlots(inputs), keepingLayerOutputs: false).outputs
        guard got.count == want.count else {
            throw EngineError("the models have different numbers of outputs: \(got.count) and \(want.count)")
        }
        return VerificationReport(outputs: zip(got, want).enumerated().map { index, pair in
            Comparison(name: "out_\(index)", got: pair.0.array(as: .float32), want: pair.1.array(as: .float32), atol: atol, rtol: rtol)
        }, layers: [])
    }
}

/// Matches NumPy arrays to a model's inputs: `in_0`, `in_1`, ... in input order, or the input layers' names.
package enum ModelInputs {
    package static func tensors(for model: Model, from arrays: [(name: String, array: NumPyArray)]) throws -> [Tensor] {
        try self.arrays(for: model, from: arrays).map(\.tensor)
    }

    /// The arrays for each model input, in input order.
    package static func arrays(for model: Model, from arrays: [(name: String, array: NumPyArray)]) throws -> [NumPyArray] {
        let named = Dictionary(arrays.map { ($0.name, $0.array) }, uniquingKeysWith: { first, _ in first })
        return try model.inputLayers.enumerated().map { index, layer in
            guard let array = named["in_\(index)"] ?? named[layer.name] else {
                throw EngineError("no array for model input \(index) '\(layer.name)': expected key in_\(index) or \(layer.name), found \(named.keys.sorted().joined(separator: ", "))")
            }
            return array
        }
    }
}

extension NumPyArray {
    /// The array as an engine tensor (values are already Float32).
    package var tensor: Tensor { Tensor(shape: shape, values: values) }
}
