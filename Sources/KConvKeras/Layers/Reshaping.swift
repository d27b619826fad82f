import KConvGraph
import KConvIO
/// Reshaping layers: Flatten, Reshape, Permute, RepeatVector, ZeroPadding, Cropping, UpSampling.

/// Flattens every axis after the batch axis (channels_first inputs are moved to channels_last first).
package final class Flatten: Layer {
    package override class var kerasClassNames: [String] { ["Flatten"] }
    package override class var examples: [LayerExample] { [LayerExample("Flatten", inputs: [[2, 3]])] }
    package let channelsFirst: Bool

    package required init(_ context: LayerContext) throws {
        channelsFirst = try context.config.channelsFirst()
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        return [[input.first ?? nil, input.featureCount]]
    }

    /// As Keras's Flatten: a channels_first input of rank > 2 is moved to channels_last before flattening.
    /// The mask does not flow on.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        var input = try singleInput(call).value
        if channelsFirst {
            input = graph.add(.channelsLast, inputs: [input], outputs: [ValueType(dtype: .float32, shape: nil)], origin: label)[0]
        }
        return lowerUnmasked(.reshape(keepingAxes: 1, to: [-1]), input, call, into: &graph)
    }
}

/// Reshapes to `target_shape` (batch axis excluded); one entry may be -1.
package final class Reshape: Layer {
    package override class var kerasClassNames: [String] { ["Reshape"] }
    package override class var examples: [LayerExample] { [LayerExample("Reshape", ["target_shape": [3, 2]], inputs: [[6]])] }
    package let targetShape: [Int]

    package required init(_ context: LayerContext) throws {
        targetShape = try context.config.intList("target_shape")
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        let unknown = targetShape.indices.filter { targetShape[$0] == -1 }
        guard unknown.count <= 1, targetShape.allSatisfy({ $0 == -1 || $0 > 0 }) else {
            throw ModelError(layer: label, field: "config.target_shape", "expected positive sizes and at most one -1, found \(targetShape)")
        }
        var output: TensorShape = targetShape.map { $0 == -1 ? nil : $0 }
        guard let known = checkedElementCount(targetShape.filter { $0 > 0 }) else {
            throw ModelError(layer: label, field: "config.target_shape", "sizes \(targetShape) multiply past any tensor's size")
        }
        if let total = input.featureCount {
            if let slot = unknown.first {
                guard total % known == 0 else {
                    throw ModelError(layer: label, "cannot reshape \(input.kerasDescription) to \(targetShape)")
                }
                output[slot] = total / known
            } else if total != known {
                throw ModelError(layer: label, "cannot reshape \(input.kerasDescription) (\(total) values) to \(targetShape) (\(known) values)")
            }
        }
        return [[input.first ?? nil] + output]
    }

    package override var inputIndependentOutputShapes: [TensorShape]? {
        targetShape.allSatisfy { $0 > 0 } ? [[nil] + targetShape.map { $0 }] : nil
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        lowerUnmasked(.reshape(keepingAxes: 1, to: targetShape), try singleInput(call).value, call, into: &graph)
    }
}

/// Permutes the non-batch axes; `dims` are 1-based as in Keras.
package final class Permute: Layer {
    package override class var kerasClassNames: [String] { ["Permute"] }
    package override class var examples: [LayerExample] { [LayerExample("Permute", ["dims": [2, 1]], inputs: [[2, 3]])] }
    package let dims: [Int]

    package required init(_ context: LayerContext) throws {
        dims = try context.config.intList("dims")
        try super.init(context)
        guard dims.sorted() == Array(1...max(dims.count, 1)) else {
            throw ModelError(layer: label, field: "config.dims", "expected a permutation of 1...\(dims.count), found \(dims)")
        }
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        guard input.count == dims.count + 1 else {
            throw ModelError(layer: label, "dims \(dims) do not fit input \(input.kerasDescription)")
        }
        return [[input[0]] + dims.map { input[$0] }]
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        lowerUnmasked(.transpose([0] + dims), try singleInput(call).value, call, into: &graph)
    }
}

/// Repeats a `(batch, features)` input `n` times: `(batch, n, features)`.
package final class RepeatVector: Layer {
    package override class var kerasClassNames: [String] { ["RepeatVector"] }
    package override class var examples: [LayerExample] { [LayerExample("RepeatVector", ["n": 2], inputs: [[3]])] }
    package let count: Int

    package required init(_ context: LayerContext) throws {
        count = try context.config.int("n")
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        try requireRank(input, 2...2, "a 2-D")
        return [[input[0], count, input[1]]]
    }

    /// `(batch, features)` → `(batch, 1, features)`, repeated `n` times along the new axis.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let input = try singleInput(call).value
        let shape = graph.type(of: input).shape.map { [$0[0], .size(1)] + $0.dropFirst() }
        let expanded = graph.add(.reshape(keepingAxes: 1, to: [1, -1]), inputs: [input],
                                 outputs: [ValueType(dtype: .float32, shape: shape)], origin: label)[0]
        return lowerUnmasked(.repeatElements(axis: 1, times: count), expanded, call, into: &graph)
    }
}

/// ZeroPadding1D/2D/3D and Cropping1D/2D/3D: add or remove `(before, after)` rows per spatial axis.
package final class SpatialPadding: Layer {
    package override class var kerasClassNames: [String] { ["ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D"] }
    package override class var examples: [LayerExample] {
        kerasClassNames.map { ConvolutionBase.spatialExample($0, [($0.hasPrefix("Cropping") ? "cropping" : "padding"): 1]) }
    }
    package let rank: Int
    /// `[before, after]` per spatial axis; negative for cropping.
    package let amounts: [[Int]]
    package let channelsFirst: Bool

    package required init(_ context: LayerContext) throws {
        rank = ConvolutionBase.spatialRank(context.className)
        let cropping = context.className.hasPrefix("Cropping")
        let pairs = try paddingPairs(context.config, cropping ? "cropping" : "padding", rank: rank)
        amounts = cropping ? pairs.map { $0.map { -$0 } } : pairs
        // Keras's 1-D padding and cropping layers have no data_format: always (batch, steps, features).
        channelsFirst = rank == 1 ? false : try context.config.channelsFirst()
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        var shape = try SpatialShape(singleInput(inputShapes), rank: rank, channelsFirst: channelsFirst, of: self)
        for axis in 0..<rank {
            guard let length = shape.spatial[axis] else { continue }
            let resized = length + amounts[axis][0] + amounts[axis][1]
            guard resized >= 0 else {
                throw ModelError(layer: label, "cropping \(amounts[axis].map { -$0 }) removes more than the \(length) rows of axis \(axis + 1)")
            }
            shape.spatial[axis] = resized
        }
        return [shape.shape]
    }

    /// Keras 2's 1-D padding, cropping and upsampling are channels_last only.
    package override var versionOnlyKeys: [VersionOnlyKey] {
        rank == 1 ? [VersionOnlyKey("data_format", onlyIn: .keras3, value: "channels_last", why: "Keras 2's 1-D padding, cropping and upsampling are channels_last only")] : []
    }

    /// Zeros added (or rows removed) before and after each spatial axis.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let firstSpatial = channelsFirst ? 2 : 1
        var before = Array(repeating: 0, count: rank + 2), after = before
        for axis in 0..<rank {
            before[firstSpatial + axis] = amounts[axis][0]
            after[firstSpatial + axis] = amounts[axis][1]
        }
        return lowerUnmasked(.pad(before: before, after: after), try singleInput(call).value, call, into: &graph)
    }
}

/// UpSampling1D/2D/3D: repeats rows `size` times per axis (2-D also bilinear).
package final class UpSampling: Layer {
    package override class var kerasClassNames: [String] { ["UpSampling1D", "UpSampling2D", "UpSampling3D"] }
    package override class var examples: [LayerExample] { kerasClassNames.map { ConvolutionBase.spatialExample($0) } }
    package let rank: Int
    package let size: [Int]
    package let channelsFirst: Bool
    package let interpolation: String

    package required init(_ context: LayerContext) throws {
        rank = ConvolutionBase.spatialRank(context.className)
        size = try context.config.positiveInts("size", count: rank, default: Array(repeating: 2, count: rank))
        channelsFirst = rank == 1 ? false : try context.config.channelsFirst()
        interpolation = try context.config.string("interpolation", default: "nearest")
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        var shape = try SpatialShape(singleInput(inputShapes), rank: rank, channelsFirst: channelsFirst, of: self)
        shape.spatial = zip(shape.spatial, size).map { length, factor in length.map { $0 * factor } }
        return [shape.shape]
    }

    /// Keras 2's 1-D padding, cropping and upsampling are channels_last only.
    package override var versionOnlyKeys: [VersionOnlyKey] {
        rank == 1 ? [VersionOnlyKey("data_format", onlyIn: .keras3, value: "channels_last", why: "Keras 2's 1-D padding, cropping and upsampling are channels_last only")] : []
    }

    /// Nearest: every row repeated `size` times per axis (Keras's `repeat`). Bilinear and bicubic (2-D only):
    /// the image resized to `size`× its height and width as `tf.image.resize` does.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let input = try singleInput(call).value
        switch interpolation {
        case "nearest":
            let firstSpatial = channelsFirst ? 2 : 1
            var value = input
            for axis in 0..<rank - 1 {
                let shape = graph.type(of: value).shape.map { dims in
                    dims.enumerated().map { index, dim in
                        guard index == firstSpatial + axis else { return dim }
                        if case .size(let length) = dim { return .size(length * size[axis]) }
                        return .symbol("dim\(index)")
                    }
                }
                value = graph.add(.repeatElements(axis: firstSpatial + axis, times: size[axis]), inputs: [value],
                                  outputs: [ValueType(dtype: .float32, shape: shape)], origin: label)[0]
            }
            return lowerUnmasked(.repeatElements(axis: firstSpatial + rank - 1, times: size[rank - 1]), value, call, into: &graph)
        case "bilinear" where rank == 2, "bicubic" where rank == 2:
            let method: ResizeOp.Interpolation = interpolation == "bicubic" ? .bicubic : .bilinear
            return lowerUnmasked(.resize(ResizeOp(target: .factors(height: size[0], width: size[1]), interpolation: method, channelsFirst: channelsFirst)), input, call, into: &graph)
        default:
            throw EngineError("kconv cannot compute interpolation '\(interpolation)' for \(className)")
        }
    }

    override package var unsupportedReason: String? {
        ["nearest", "bilinear", "bicubic"].contains(interpolation) ? nil : "interpolation '\(interpolation)'"
    }
}
