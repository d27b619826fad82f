/// Convolutions: Conv1D/2D/3D, their transposes, separable and depthwise variants.
///
/// Kernels are `kernel_size + (in / groups, filters)` (transposed: `kernel_size + (filters, in)`), as Keras stores them.

/// What every convolution reads: window, strides, padding, dilation, data format, bias, activation.
public class ConvolutionBase: Layer {
    public let rank: Int
    public let kernelSize: [Int]
    public let strides: [Int]
    public let padding: String
    public let dilation: [Int]
    public let channelsFirst: Bool
    public let useBias: Bool
    public let activation: Activation

    public required init(_ context: LayerContext) throws {
        rank = Self.spatialRank(context.className)
        let config = context.config
        kernelSize = try config.ints("kernel_size", count: rank)
        strides = try config.ints("strides", count: rank, default: Array(repeating: 1, count: rank))
        padding = try config.choice("padding", ["valid", "same", "causal", "full"], default: "valid")
        dilation = try config.ints("dilation_rate", count: rank, default: Array(repeating: 1, count: rank))
        channelsFirst = try config.channelsFirst()
        useBias = try config.bool("use_bias", default: true)
        activation = config.activation("activation", default: "linear", dialect: context.dialect)
        try super.init(context)
    }

    /// 1, 2 or 3 from a class name such as `Conv2DTranspose` or `SeparableConv1D`.
    static func spatialRank(_ className: String) -> Int {
        className.contains("3D") ? 3 : className.contains("1D") ? 1 : 2
    }

    func inputChannels(_ inputShapes: [TensorShape]) throws -> Int {
        let input = try SpatialShape(singleInput(inputShapes), rank: rank, channelsFirst: channelsFirst, of: self)
        guard let channels = input.channels else {
            throw ModelError(layer: label, "the input's channel dimension must be known to build weights")
        }
        return channels
    }

    /// The output shape with `channels` output channels and Keras's window arithmetic per axis.
    func windowedOutput(_ inputShapes: [TensorShape], channels: Int?) throws -> [TensorShape] {
        var shape = try SpatialShape(singleInput(inputShapes), rank: rank, channelsFirst: channelsFirst, of: self)
        shape.spatial = shape.spatial.indices.map { axis in
            convOutputLength(shape.spatial[axis], kernel: kernelSize[axis], padding: padding, stride: strides[axis], dilation: dilation[axis])
        }
        shape.channels = channels
        return [shape.shape]
    }

    override public var unsupportedReason: String? { activation.unsupportedReason }
}

/// Conv1D, Conv2D, Conv3D: cross-correlation with `filters` kernels, optionally grouped.
public final class Convolution: ConvolutionBase {
    public let filters: Int
    public let groups: Int

    public required init(_ context: LayerContext) throws {
        filters = try context.config.int("filters")
        groups = try context.config.int("groups", default: 1)
        try super.init(context)
    }

    override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let channels = try inputChannels(inputShapes)
        guard groups > 0, channels % groups == 0 else {
            throw ModelError(layer: label, field: "config.groups", "expected a divisor of the \(channels) input channels, found \(groups)")
        }
        var specs = [weight("kernel", kernelSize + [channels / groups, filters], index: 0)]
        if useBias { specs.append(weight("bias", [filters], index: 1)) }
        return specs
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        try windowedOutput(inputShapes, channels: filters)
    }
}

/// Conv1DTranspose, Conv2DTranspose, Conv3DTranspose.
public final class ConvolutionTranspose: ConvolutionBase {
    public let filters: Int
    public let outputPadding: [Int]?

    public required init(_ context: LayerContext) throws {
        filters = try context.config.int("filters")
        let rank = Self.spatialRank(context.className)
        outputPadding = context.config.has("output_padding") ? try context.config.ints("output_padding", count: rank) : nil
        try super.init(context)
    }

    override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let channels = try inputChannels(inputShapes)
        var specs = [weight("kernel", kernelSize + [filters, channels], index: 0)]
        if useBias { specs.append(weight("bias", [filters], index: 1)) }
        return specs
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        var shape = try SpatialShape(singleInput(inputShapes), rank: rank, channelsFirst: channelsFirst, of: self)
        shape.spatial = shape.spatial.indices.map { axis in
            deconvOutputLength(shape.spatial[axis], kernel: kernelSize[axis], padding: padding,
                               outputPadding: outputPadding?[axis], stride: strides[axis], dilation: dilation[axis])
        }
        shape.channels = filters
        return [shape.shape]
    }
}

/// DepthwiseConv1D/2D: each input channel convolved with `depth_multiplier` kernels of its own.
public final class DepthwiseConvolution: ConvolutionBase {
    public let depthMultiplier: Int

    public required init(_ context: LayerContext) throws {
        depthMultiplier = try context.config.int("depth_multiplier", default: 1)
        try super.init(context)
    }

    override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let channels = try inputChannels(inputShapes)
        // Keras 2 calls it depthwise_kernel, Keras 3 kernel; the layout is the same.
        let kernelName = dialect >= .keras3 ? "kernel" : "depthwise_kernel"
        var specs = [weight(kernelName, kernelSize + [channels, depthMultiplier], index: 0)]
        if useBias { specs.append(weight("bias", [channels * depthMultiplier], index: 1)) }
        return specs
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let channels = try SpatialShape(singleInput(inputShapes), rank: rank, channelsFirst: channelsFirst, of: self).channels
        return try windowedOutput(inputShapes, channels: channels.map { $0 * depthMultiplier })
    }
}

/// SeparableConv1D/2D: a depthwise convolution followed by a 1×1 pointwise one.
public final class SeparableConvolution: ConvolutionBase {
    public let filters: Int
    public let depthMultiplier: Int

    public required init(_ context: LayerContext) throws {
        filters = try context.config.int("filters")
        depthMultiplier = try context.config.int("depth_multiplier", default: 1)
        try super.init(context)
    }

    override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let channels = try inputChannels(inputShapes)
        var specs = [
            weight("depthwise_kernel", kernelSize + [channels, depthMultiplier], index: 0),
            weight("pointwise_kernel", Array(repeating: 1, count: rank) + [channels * depthMultiplier, filters], index: 1),
        ]
        if useBias { specs.append(weight("bias", [filters], index: 2)) }
        return specs
    }

    override public func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        try windowedOutput(inputShapes, channels: filters)
    }
}
