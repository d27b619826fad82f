import KConvGraph
import KConvIO
/// Attaches weight arrays read from a file to the layers that declared them, checking count and shape,
/// and converting Keras 1 and Theano layouts to the current ones on the way (each layer knows its own).
package enum WeightBinding {
    /// Binds `arrays` (in the file's order) to `layer`, or adopts them if the layer's shapes are unknown.
    /// `backend` is the one the file was written with (the `backend` attribute of legacy HDF5 files).
    package static func bind(_ arrays: [WeightArray], to layer: Layer, dialect: KerasDialect, backend: String? = nil) throws {
        guard layer.builtInputShapes != nil else {
            layer.adoptFileWeights(arrays)
            return
        }
        var arrays = dialect == .keras1 ? try layer.keras1Weights(arrays) : arrays
        if backend == "theano" { arrays = layer.theanoWeights(arrays) }
        arrays = try layer.storedWeights(arrays)
        let specs = layer.weightSpecs
        guard arrays.count == specs.count else {
            let expected = specs.map { "\($0.name) \($0.shape)" }.joined(separator: ", ")
            let found = arrays.map { "\($0.name) \($0.shape)" }.joined(separator: ", ")
            throw ModelError(layer: layer.label, "expected \(specs.count) weights [\(expected)], found \(arrays.count) [\(found)]")
        }
        for (spec, array) in zip(specs, arrays) where spec.shape != array.shape {
            throw ModelError(layer: layer.label, field: "weight '\(array.name)'",
                             "expected shape \(spec.shape) for \(spec.name), found \(array.shape)")
        }
        try layer.bind(arrays)
    }

    /// Binds the weights of the layers whose shapes only the file's weights tell (a Keras 2 file's layers
    /// past a Lambda: `Model.inferShapesFromFileWeights`), which took them as the file holds them. Keras 1
    /// and Theano files keep other layouts, which that inference does not compare with.
    package static func bindInferred(_ model: Model, dialect: KerasDialect, backend: String? = nil) throws {
        guard dialect != .keras1, backend != "theano" else { return }
        for layer in try model.inferShapesFromFileWeights() {
            try locating(layer: layer.label) { try bind(layer.weights, to: layer, dialect: dialect, backend: backend) }
        }
    }
}

extension WeightArray {
    /// The array with its axes permuted (`numpy.transpose(array, permutation)`), computed when read.
    package func transposed(_ permutation: [Int]) throws -> WeightArray {
        let array = self
        let source = array.shape
        guard permutation.sorted() == Array(source.indices) else {
            throw ModelError(field: "weight '\(array.name)'", "cannot permute shape \(source) by \(permutation)")
        }
        let shape = permutation.map { source[$0] }
        return WeightArray(name: array.name, shape: shape) {
            let values = try array.values()
            var sourceStrides = Array(repeating: 1, count: source.count)
            for axis in source.indices.dropLast().reversed() { sourceStrides[axis] = sourceStrides[axis + 1] * source[axis + 1] }
            let strides = permutation.map { sourceStrides[$0] }
            var result = [Float](repeating: 0, count: values.count)
            var index = Array(repeating: 0, count: shape.count)
            for position in result.indices {
                result[position] = values[zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 }]
                var axis = shape.count - 1
                while axis >= 0 {
                    index[axis] += 1
                    if index[axis] < shape[axis] { break }
                    index[axis] = 0
                    axis -= 1
                }
            }
            return result
        }
    }

    /// A convolution kernel with every axis but the last two (in, out channels) reversed:
    /// `conv_utils.convert_kernel`.
    package func flippedSpatialAxes() -> WeightArray {
        let kernel = self
        let shape = kernel.shape
        let spatial = Array(shape.dropLast(2))
        let channels = shape.suffix(2).reduce(1, *)
        return WeightArray(name: kernel.name, shape: shape) {
            let values = try kernel.values()
            var flipped = values
            let positions = spatial.reduce(1, *)
            for position in 0..<positions {
                // The mirrored spatial position: each coordinate c becomes size - 1 - c.
                var remainder = position, mirrored = 0, stride = 1
                for axis in spatial.indices.reversed() {
                    let coordinate = remainder % spatial[axis]
                    remainder /= spatial[axis]
                    mirrored += (spatial[axis] - 1 - coordinate) * stride
                    stride *= spatial[axis]
                }
                flipped.replaceSubrange(mirrored * channels ..< (mirrored + 1) * channels,
                                        with: values[position * channels ..< (position + 1) * channels])
            }
            return flipped
        }
    }

    /// Concatenates arrays along their last axis.
    package static func concatenatingLastAxis(_ parts: [WeightArray], name: String) throws -> WeightArray {
        guard let first = parts.first, parts.allSatisfy({ $0.shape.dropLast() == first.shape.dropLast() && !$0.shape.isEmpty }) else {
            throw ModelError(field: "weight '\(name)'", "Keras 1 gate weights have mismatched shapes: \(parts.map(\.shape))")
        }
        let widths = parts.map { $0.shape.last ?? 0 }
        let shape = first.shape.dropLast() + [widths.reduce(0, +)]
        return WeightArray(name: parts.map(\.name).joined(separator: "+"), shape: Array(shape)) {
            let values = try parts.map { try $0.values() }
            let rows = values[0].count / max(widths[0], 1)
            var joined: [Float] = []
            joined.reserveCapacity(rows * widths.reduce(0, +))
            for row in 0..<rows {
                for (part, width) in zip(values, widths) { joined += part[row * width ..< (row + 1) * width] }
            }
            return joined
        }
    }
}
