import KConvGraph
import KConvIO

/// Keras's preprocessing `Normalization`: `(x − mean) / max(sqrt(variance), 1e-7)` per position along the
/// kept `axis` (an int, a list, or `[]` for one mean over everything), or with `invert`
/// `mean + x · max(sqrt(variance), 1e-7)`. Both versions compute exactly this (`backend.epsilon()` is 1e-7
/// in both), read in keras 3.15 and tf-keras 2.21 `layers/preprocessing/normalization.py`.
///
/// The statistics come from the config (`mean`, `variance`: numbers or lists, broadcast as NumPy does
/// against the kept axes' shape) or, when the config has none, from the weights `mean`, `variance` and
/// `count` (non-trainable, the kept axes' shape; `count` only matters to `adapt`). Keras 3's layer supports
/// masking and passes the mask on; tf-keras's drops it.
package final class Normalization: Layer {
    package override class var kerasClassNames: [String] { ["Normalization"] }
    package override class var examples: [LayerExample] {
        [LayerExample("Normalization", ["mean": [0.5, -1, 0], "variance": [1, 4, 0.25]], inputs: [[3]])]
    }
    package let invert: Bool
    /// The configured statistics, or nil when they are weights.
    package let configured: (mean: Rescaling.Broadcastable, variance: Rescaling.Broadcastable)?
    package private(set) var keptAxes: [Int] = []
    package private(set) var keptShape: [Int] = []

    package required init(_ context: LayerContext) throws {
        invert = try context.config.bool("invert", default: false)
        switch (context.config.has("mean"), context.config.has("variance")) {
        case (true, true):
            configured = (try Rescaling.broadcastable(context.config, "mean", default: nil),
                          try Rescaling.broadcastable(context.config, "variance", default: nil))
        case (false, false):
            configured = nil
        default:
            throw ModelError(field: "config.mean", "expected both mean and variance or neither, found only one")
        }
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let input = try singleInput(inputShapes)
        keptAxes = try normalizedAxes(ConfigReader(config), rank: input.count, of: self).sorted()
        keptShape = try axisSizes(input, keptAxes, of: self)
        if let configured {
            for (key, value) in [("mean", configured.mean), ("variance", configured.variance)] {
                _ = try broadcast(value, key)
            }
            return []
        }
        return [weight("mean", keptShape, index: 0, trainable: false), weight("variance", keptShape, index: 1, trainable: false),
                weight("count", [], index: 2, trainable: false)]
    }

    /// `value` broadcast to the kept axes' shape as NumPy does (trailing axes aligned; size-1 axes repeat).
    private func broadcast(_ value: Rescaling.Broadcastable, _ key: String) throws -> [Float] {
        let shape = value.shape
        guard shape.count <= keptShape.count, zip(shape.reversed(), keptShape.reversed()).allSatisfy({ $0 == 1 || $0 == $1 }) else {
            throw ModelError(layer: label, field: "config.\(key)", "a \(key) of shape \(shape) does not broadcast to the kept axes' shape \(keptShape)")
        }
        let strides = Broadcasting.strides(of: shape, in: keptShape)
        let count = keptShape.reduce(1, *)
        return (0..<count).map { position in
            var remainder = position, source = 0
            for axis in keptShape.indices.reversed() {
                source += (remainder % keptShape[axis]) * strides[axis]
                remainder /= keptShape[axis]
            }
            return Float(value.values[source])
        }
    }

    /// Plain numbers and lists, which both versions read.
    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        guard let configured else { return }
        config["mean"] = configured.mean.json
        config["variance"] = configured.variance.json
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let statistics: [ValueID?]
        if let configured {
            let (shape, mean, variance) = (keptShape, try broadcast(configured.mean, "mean"), try broadcast(configured.variance, "variance"))
            statistics = [graph.constant(Constant(origin: label, name: "mean", shape: shape, read: { mean })),
                          graph.constant(Constant(origin: label, name: "variance", shape: shape, read: { variance }))]
        } else {
            statistics = try weightValues(&graph).prefix(2).map(Optional.some)
        }
        let op = StandardizeOp(keptAxes: keptAxes, rank: builtInputShapes?.first?.count ?? 0, invert: invert, floor: 1e-7)
        let output = try lowerElementwise(.standardize(op), call, weights: statistics, into: &graph)
        return dialect >= .keras3 ? output : output.map { LoweredTensor(value: $0.value, mask: nil) }
    }
}
