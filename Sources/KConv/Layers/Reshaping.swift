import KConvIO
/// Reshaping layers: Flatten, Reshape, Permute, RepeatVector, ZeroPadding, Cropping, UpSampling.

/// Flattens every axis after the batch axis (channels_first inputs are moved to channels_last first).
public final class Flatten: Layer {
    override class var kerasClassNames: [String] { ["Flatten"] }
    public let channelsFirst: Bool

    public required init(_ context: LayerContext) throws {
        channelsFirst = try context.config.channelsFirst()
        try super.init(context)
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        return [[input.first ?? nil, input.featureCount]]
    }

    /// As Keras's Flatten: a channels_first input of rank > 2 is moved to channels_last before flattening.
    override func forward(_ call: LayerCall) throws -> LayerOutput {
        guard call.input.rank >= 1 else { throw EngineError("expected an input with a batch axis, found a scalar") }
        let input = channelsFirst && call.input.rank > 2 ? toChannelsLast(call.input) : call.input
        let batch = input.shape[0]
        return LayerOutput([input.reshaped([batch, input.shape.dropFirst().reduce(1, *)])])
    }
}

/// Reshapes to `target_shape` (batch axis excluded); one entry may be -1.
public final class Reshape: Layer {
    override class var kerasClassNames: [String] { ["Reshape"] }
    public let targetShape: [Int]

    public required init(_ context: LayerContext) throws {
        targetShape = try context.config.intList("target_shape")
        try super.init(context)
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        let unknown = targetShape.indices.filter { targetShape[$0] == -1 }
        guard unknown.count <= 1, targetShape.allSatisfy({ $0 == -1 || $0 > 0 }) else {
            throw ModelError(layer: label, field: "config.target_shape", "expected positive sizes and at most one -1, found \(targetShape)")
        }
        var output: TensorShape = targetShape.map { $0 == -1 ? nil : $0 }
        guard let known = elementCount(targetShape.filter { $0 > 0 }) else {
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

    /// The same values under `(batch,) + target_shape`, the -1 entry sized from the input.
    override func forward(_ call: LayerCall) throws -> LayerOutput {
        let input = call.input
        guard input.rank >= 1 else { throw EngineError("expected an input with a batch axis, found a scalar") }
        let features = input.shape.dropFirst().reduce(1, *)
        let known = targetShape.filter { $0 != -1 }.reduce(1, *)
        var target = targetShape
        if let slot = target.firstIndex(of: -1), known > 0, features % known == 0 { target[slot] = features / known }
        guard target.reduce(1, *) == features else {
            throw EngineError("cannot reshape input \(input.shape) (\(features) values per sample) to \(targetShape)")
        }
        return LayerOutput([input.reshaped([input.shape[0]] + target)])
    }
}

/// Permutes the non-batch axes; `dims` are 1-based as in Keras.
public final class Permute: Layer {
    override class var kerasClassNames: [String] { ["Permute"] }
    public let dims: [Int]

    public required init(_ context: LayerContext) throws {
        dims = try context.config.intList("dims")
        try super.init(context)
        guard dims.sorted() == Array(1...max(dims.count, 1)) else {
            throw ModelError(layer: label, field: "config.dims", "expected a permutation of 1...\(dims.count), found \(dims)")
        }
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        guard input.count == dims.count + 1 else {
            throw ModelError(layer: label, "dims \(dims) do not fit input \(input.kerasDescription)")
        }
        return [[input[0]] + dims.map { input[$0] }]
    }

    override func forward(_ call: LayerCall) throws -> LayerOutput {
        guard call.input.rank == dims.count + 1 else {
            throw EngineError("dims \(dims) do not fit input shape \(call.input.shape)")
        }
        return LayerOutput([call.input.permuted([0] + dims)])
    }
}

/// Repeats a `(batch, features)` input `n` times: `(batch, n, features)`.
public final class RepeatVector: Layer {
    override class var kerasClassNames: [String] { ["RepeatVector"] }
    public let count: Int

    public required init(_ context: LayerContext) throws {
        count = try context.config.int("n")
        try super.init(context)
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let input = try singleInput(inputShapes)
        try requireRank(input, 2...2, "a 2-D")
        return [[input[0], count, input[1]]]
    }

    override func forward(_ call: LayerCall) throws -> LayerOutput {
        let input = call.input
        guard input.rank == 2 else { throw EngineError("expected a 2-D input (batch, features), found shape \(input.shape)") }
        return LayerOutput([input.reshaped([input.shape[0], 1, input.shape[1]]).repeatingElements(along: 1, times: count)])
    }
}

/// ZeroPadding1D/2D/3D and Cropping1D/2D/3D: add or remove `(before, after)` rows per spatial axis.
public final class SpatialPadding: Layer {
    override class var kerasClassNames: [String] { ["ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D"] }
    public let rank: Int
    /// `[before, after]` per spatial axis; negative for cropping.
    public let amounts: [[Int]]
    public let channelsFirst: Bool

    public required init(_ context: LayerContext) throws {
        rank = ConvolutionBase.spatialRank(context.className)
        let cropping = context.className.hasPrefix("Cropping")
        let pairs = try paddingPairs(context.config, cropping ? "cropping" : "padding", rank: rank)
        amounts = cropping ? pairs.map { $0.map { -$0 } } : pairs
        // Keras's 1-D padding and cropping layers have no data_format: always (batch, steps, features).
        channelsFirst = rank == 1 ? false : try context.config.channelsFirst()
        try super.init(context)
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
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
    override var versionOnlyKeys: [VersionOnlyKey] {
        rank == 1 ? [VersionOnlyKey("data_format", onlyIn: .keras3, value: "channels_last", why: "Keras 2's 1-D padding, cropping and upsampling are channels_last only")] : []
    }

    override func forward(_ call: LayerCall) throws -> LayerOutput {
        let input = call.input
        guard input.rank == rank + 2 else {
            throw EngineError("expected a \(rank + 2)-D input (batch, \(rank) spatial axes and channels), found shape \(input.shape)")
        }
        let firstSpatial = channelsFirst ? 2 : 1
        var before = Array(repeating: 0, count: input.rank), after = before
        for axis in 0..<rank {
            before[firstSpatial + axis] = amounts[axis][0]
            after[firstSpatial + axis] = amounts[axis][1]
            guard input.shape[firstSpatial + axis] + amounts[axis][0] + amounts[axis][1] >= 0 else {
                throw EngineError("cropping \(amounts[axis].map { -$0 }) removes more than the \(input.shape[firstSpatial + axis]) rows of spatial axis \(axis + 1)")
            }
        }
        return LayerOutput([input.padded(before: before, after: after)])
    }
}

/// UpSampling1D/2D/3D: repeats rows `size` times per axis (2-D also bilinear).
public final class UpSampling: Layer {
    override class var kerasClassNames: [String] { ["UpSampling1D", "UpSampling2D", "UpSampling3D"] }
    public let rank: Int
    public let size: [Int]
    public let channelsFirst: Bool
    public let interpolation: String

    public required init(_ context: LayerContext) throws {
        rank = ConvolutionBase.spatialRank(context.className)
        size = try context.config.positiveInts("size", count: rank, default: Array(repeating: 2, count: rank))
        channelsFirst = rank == 1 ? false : try context.config.channelsFirst()
        interpolation = try context.config.string("interpolation", default: "nearest")
        try super.init(context)
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        var shape = try SpatialShape(singleInput(inputShapes), rank: rank, channelsFirst: channelsFirst, of: self)
        shape.spatial = zip(shape.spatial, size).map { length, factor in length.map { $0 * factor } }
        return [shape.shape]
    }

    /// Nearest: every row repeated `size` times per axis (Keras's `repeat`). Bilinear (2-D only): the
    /// channels_last image resized to `size`× its height and width as `tf.image.resize` does.
    /// Keras 2's 1-D padding, cropping and upsampling are channels_last only.
    override var versionOnlyKeys: [VersionOnlyKey] {
        rank == 1 ? [VersionOnlyKey("data_format", onlyIn: .keras3, value: "channels_last", why: "Keras 2's 1-D padding, cropping and upsampling are channels_last only")] : []
    }

    override func forward(_ call: LayerCall) throws -> LayerOutput {
        switch interpolation {
        case "nearest":
            var output = call.input
            guard output.rank == rank + 2 else {
                throw EngineError("expected a \(rank + 2)-D input (batch, \(rank) spatial axes and channels), found shape \(output.shape)")
            }
            let firstSpatial = channelsFirst ? 2 : 1
            for axis in 0..<rank { output = output.repeatingElements(along: firstSpatial + axis, times: size[axis]) }
            return LayerOutput([output])
        case "bilinear" where rank == 2:
            let input = try channelsLastInput(call.input, rank: rank, channelsFirst: channelsFirst)
            let output = input.resizedBilinear(height: input.shape[1] * size[0], width: input.shape[2] * size[1])
            return LayerOutput([channelsFirst ? toChannelsFirst(output) : output])
        default:
            throw EngineError("kconv cannot compute interpolation '\(interpolation)' for \(className)")
        }
    }

    override public var unsupportedReason: String? {
        ["nearest", "bilinear"].contains(interpolation) ? nil : "interpolation '\(interpolation)'"
    }
}
