import KConvGraph
import KConvIO
/// Pooling: windowed Max/AveragePooling 1D/2D/3D and their global forms.

/// MaxPooling1D/2D/3D and AveragePooling1D/2D/3D. `strides` defaults to `pool_size`.
package final class Pooling: Layer {
    package override class var kerasClassNames: [String] { ["MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D"] }
    package override class var examples: [LayerExample] { kerasClassNames.map { ConvolutionBase.spatialExample($0) } }
    package typealias Reduction = PoolReduction

    package let reduction: Reduction
    package let rank: Int
    package let poolSize: [Int]
    package let strides: [Int]
    package let padding: String
    package let channelsFirst: Bool

    package required init(_ context: LayerContext) throws {
        let config = context.config
        reduction = context.className.hasPrefix("Max") ? .max : .average
        rank = ConvolutionBase.spatialRank(context.className)
        poolSize = try config.positiveInts("pool_size", count: rank, default: Array(repeating: 2, count: rank))
        strides = try config.positiveInts("strides", count: rank, default: poolSize)
        padding = try config.choice("padding", ["valid", "same"], default: "valid")
        channelsFirst = try config.channelsFirst()
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        var shape = try SpatialShape(singleInput(inputShapes), rank: rank, channelsFirst: channelsFirst, of: self)
        shape.spatial = shape.spatial.indices.map { axis in
            convOutputLength(shape.spatial[axis], kernel: poolSize[axis], padding: padding, stride: strides[axis])
        }
        return [shape.shape]
    }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let op = PoolOp(reduction: reduction, poolSize: poolSize, strides: strides, padding: padding, channelsFirst: channelsFirst)
        return lowerUnmasked(.pool(op), try singleInput(call).value, call, into: &graph)
    }
}

/// GlobalMax/AveragePooling1D/2D/3D: reduce every spatial axis; `keepdims` keeps them as size 1.
package final class GlobalPooling: Layer {
    package override class var kerasClassNames: [String] { ["GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D"] }
    package override class var examples: [LayerExample] { kerasClassNames.map { ConvolutionBase.spatialExample($0) } }
    package let reduction: Pooling.Reduction
    package let rank: Int
    package let channelsFirst: Bool
    package let keepDims: Bool

    package required init(_ context: LayerContext) throws {
        reduction = context.className.hasPrefix("GlobalMax") ? .max : .average
        rank = ConvolutionBase.spatialRank(context.className)
        channelsFirst = try context.config.channelsFirst()
        keepDims = try context.config.bool("keepdims", default: false)
        try super.init(context)
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        var shape = try SpatialShape(singleInput(inputShapes), rank: rank, channelsFirst: channelsFirst, of: self)
        guard keepDims else { return [[shape.batch, shape.channels]] }
        shape.spatial = Array(repeating: 1, count: rank)
        return [shape.shape]
    }

    /// GlobalAveragePooling1D is the one Keras pooling layer that reads a mask: it averages the unmasked steps
    /// only; no mask flows on (the step axis is gone).
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let input = try singleInput(call)
        let op = GlobalPoolOp(reduction: reduction, rank: rank, channelsFirst: channelsFirst, keepDims: keepDims)
        let output = graph.add(.globalPool(op), inputs: [input.value, reduction == .average && rank == 1 ? input.mask : nil],
                               outputs: [ValueType(dtype: .float32, shape: call.outputShapes?.first?.dims)], origin: label)
        return [LoweredTensor(value: output[0], mask: nil)]
    }
}
