import KConvGraph
import KConvIO

/// `Rescaling(scale, offset)`: `y = x · scale + offset`, at inference as in training; no weights.
///
/// Keras keeps `scale` and `offset` as whatever Python value it was given and broadcasts them against the
/// input as NumPy does: a number, or a list (nested lists for several axes) lining up with the input's last
/// axes, such as one value per channel. tf-keras writes them into configs as they are (a list, or a NumPy
/// array as `{"class_name": "__numpy__", ...}`, which tf-keras itself cannot read back); Keras 3 serialises
/// them, so an array becomes that object too (a tensor, `__tensor__`). kconv writes plain numbers and lists,
/// which both read. Keras 3 reshapes a list scale to `(C, 1, 1)` when the global `image_data_format` is
/// `channels_first`; a file does not record that setting, so kconv applies the config as channels_last.
///
/// Keras 3 passes the input's mask on; tf-keras's Rescaling does not support masking and drops it.
package final class Rescaling: Layer {
    package override class var kerasClassNames: [String] { ["Rescaling"] }
    package override class var examples: [LayerExample] { [LayerExample("Rescaling", ["scale": [0.5, 2], "offset": 1], inputs: [[3, 2]])] }
    package let scale: Broadcastable
    package let offset: Broadcastable

    /// A number or an array of numbers, broadcast against the input's last axes.
    package struct Broadcastable: Equatable, Sendable {
        /// `[]` for a single number.
        package var shape: [Int]
        /// Row-major.
        package var values: [Double]

        /// The value as a config holds it: a number, or (nested) lists.
        package var json: JSONValue {
            func nested(_ axis: Int, _ start: Int) -> JSONValue {
                guard axis < shape.count else { return .double(values[start]) }
                let stride = shape[(axis + 1)...].reduce(1, *)
                return .array((0 ..< shape[axis]).map { nested(axis + 1, start + $0 * stride) })
            }
            return nested(0, 0)
        }

        /// The shape without the leading 1s, which broadcasting adds anyway.
        package var significantShape: [Int] { Array(shape.drop { $0 == 1 }) }
    }

    package required init(_ context: LayerContext) throws {
        scale = try Self.broadcastable(context.config, "scale", default: nil)
        offset = try Self.broadcastable(context.config, "offset", default: 0)
        try super.init(context)
    }

    /// Reads `key`: a number, (nested) lists of numbers, or Keras 3's serialised array (`__numpy__`,
    /// `__tensor__`: the list under `config.value`).
    static func broadcastable(_ config: ConfigReader, _ key: String, default fallback: Double?) throws -> Broadcastable {
        guard let value = config.object[key], !value.isNull else {
            guard let fallback else { throw config.error(key, expected: "a number or a list of numbers", found: nil) }
            return Broadcastable(shape: [], values: [fallback])
        }
        let wrapped = ["__numpy__", "__tensor__"].contains(value["class_name"]?.stringValue ?? "") ? value["config"]?["value"] : value
        var values: [Double] = []
        func read(_ value: JSONValue, depth: Int) -> [Int]? {
            if let number = value.doubleValue {
                values.append(number)
                return []
            }
            guard depth < 32, let items = value.arrayValue, !items.isEmpty else { return nil }
            var inner: [Int]?
            for item in items {
                guard let shape = read(item, depth: depth + 1), inner == nil || inner == shape else { return nil }
                inner = shape
            }
            return inner.map { [items.count] + $0 }
        }
        guard let wrapped, let shape = read(wrapped, depth: 0) else {
            throw config.error(key, expected: "a number or a (nested, rectangular) list of numbers", found: value)
        }
        return Broadcastable(shape: shape, values: values)
    }

    /// The input's shape: `scale` and `offset` must broadcast against its last axes (not the batch axis)
    /// without enlarging any of them.
    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        for (key, value) in [("scale", scale), ("offset", offset)] {
            let shape = value.significantShape
            let fits = shape.count < input.count && zip(shape, input.suffix(shape.count)).allSatisfy { dim, size in
                dim == 1 || size == nil || size == dim
            }
            guard fits else {
                throw ModelError(layer: label, field: "config.\(key)", "a \(key) of shape \(value.shape) does not broadcast against the input's last axes, found input \(input.kerasDescription)")
            }
        }
        return [input]
    }

    /// Plain numbers and lists, which tf-keras and Keras 3 both read (tf-keras cannot read `__numpy__`).
    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        config["scale"] = scale.json
        config["offset"] = offset.json
    }

    /// One `scaleShift` with the scale and offset laid out over the input's last axes; the mask flows on
    /// in Keras 3 and is dropped in tf-keras.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let input = try singleInput(call)
        let shape = call.outputShapes?.first ?? builtInputShapes?.first
        let op = Op.scaleShift(scale: try block(scale, "scale", over: shape), offset: try block(offset, "offset", over: shape))
        let output = graph.add(op, inputs: [input.value], outputs: [ValueType(dtype: .float32, shape: shape?.dims)], origin: label)
        return [LoweredTensor(value: output[0], mask: dialect >= .keras3 ? input.mask : nil)]
    }

    /// `value` broadcast to the whole of the input's last axes it spans: its values, row-major, as they
    /// repeat along the axes before. A size-1 axis inside the value is repeated to the input's size there,
    /// which must then be known.
    private func block(_ value: Broadcastable, _ key: String, over input: TensorShape?) throws -> [Float] {
        let shape = value.significantShape
        guard shape.contains(1) else { return value.values.map(Float.init) }
        let sizes = try shape.indices.map { axis -> Int in
            let size = input.flatMap { $0.count > shape.count ? $0[$0.count - shape.count + axis] : nil } ?? nil
            guard shape[axis] == 1 else { return shape[axis] }
            guard let size else {
                throw ModelError(layer: label, field: "config.\(key)", "the input's last \(shape.count) axes must be known to broadcast a \(key) of shape \(value.shape), found \(input?.kerasDescription ?? "an unknown shape")")
            }
            return size
        }
        let values = value.values
        var strides = Array(repeating: 0, count: shape.count)
        var stride = 1
        for axis in shape.indices.reversed() {
            strides[axis] = shape[axis] == 1 ? 0 : stride
            stride *= shape[axis]
        }
        var result: [Float] = []
        result.reserveCapacity(sizes.reduce(1, *))
        var index = Array(repeating: 0, count: sizes.count)
        for _ in 0 ..< sizes.reduce(1, *) {
            result.append(Float(values[zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 }]))
            var axis = sizes.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < sizes[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }
}
