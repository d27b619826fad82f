import KConvGraph
import KConvIO
/// Convolutions: Conv1D/2D/3D, their transposes, separable and depthwise variants.
///
/// Kernels are `kernel_size + (in / groups, filters)` (transposed: `kernel_size + (filters, in)`), as Keras stores them.

/// What every convolution reads: window, strides, padding, dilation, data format, bias, activation.
package class ConvolutionBase: Layer {
    package let rank: Int
    package let kernelSize: [Int]
    package let strides: [Int]
    package let padding: String
    package let dilation: [Int]
    package let channelsFirst: Bool
    package let useBias: Bool
    package let activation: Activation

    package required init(_ context: LayerContext) throws {
        rank = Self.spatialRank(context.className)
        let config = context.config
        kernelSize = try config.positiveInts("kernel_size", count: rank)
        strides = try config.positiveInts("strides", count: rank, default: Array(repeating: 1, count: rank))
        padding = try config.choice("padding", ["valid", "same", "causal", "full"], default: "valid")
        dilation = try config.positiveInts("dilation_rate", count: rank, default: Array(repeating: 1, count: rank))
        channelsFirst = try config.channelsFirst()
        useBias = try config.bool("use_bias", default: true)
        activation = config.activation("activation", default: "linear", dialect: context.dialect)
        try super.init(context)
    }

    /// An example of `className` on a `LayerExample.spatialInput` of the rank its name says.
    package static func spatialExample(_ className: String, _ config: JSONObject = [:]) -> LayerExample {
        LayerExample(className, config, inputs: [LayerExample.spatialInput(rank: spatialRank(className))])
    }

    /// 1, 2 or 3 from a class name such as `Conv2DTranspose` or `SeparableConv1D`.
    package static func spatialRank(_ className: String) -> Int {
        className.contains("3D") ? 3 : className.contains("1D") ? 1 : 2
    }

    package func inputChannels(_ inputShapes: [TensorShape]) throws -> Int {
        let input = try SpatialShape(singleInput(inputShapes), rank: rank, channelsFirst: channelsFirst, of: self)
        guard let channels = input.channels else {
            throw ModelError(layer: label, "the input's channel dimension must be known to build weights")
        }
        return channels
    }

    /// The output shape with `channels` output channels and Keras's window arithmetic per axis.
    package func windowedOutput(_ inputShapes: [TensorShape], channels: Int?) throws -> [TensorShape] {
        var shape = try SpatialShape(singleInput(inputShapes), rank: rank, channelsFirst: channelsFirst, of: self)
        shape.spatial = shape.spatial.indices.map { axis in
            convOutputLength(shape.spatial[axis], kernel: kernelSize[axis], padding: padding, stride: strides[axis], dilation: dilation[axis])
        }
        shape.channels = channels
        return [shape.shape]
    }

    override package var unsupportedReason: String? { activation.inPlaceUnsupportedReason }

    /// The activation's argument is the last affine step's: all weights, or a separable convolution's
    /// pointwise kernel and bias (scaling its depthwise kernel too would scale twice).
    package override func affineArguments(of key: String) -> [WeightScaling]? {
        guard key == "activation" else { return nil }
        let separable = weightSpecs.contains { $0.name == "pointwise_kernel" }
        return allWeightsScaled.filter { !separable || weightSpecs[$0.index].name != "depthwise_kernel" }
    }

    /// Adds the convolution node: the input, then the layer's weights in declaration order; no mask flows on.
    package func lowerConvolution(_ kind: ConvolutionOp.Kind, _ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let op = ConvolutionOp(kind: kind, kernelSize: kernelSize, strides: strides, padding: padding, dilation: dilation,
                               channelsFirst: channelsFirst, useBias: useBias, activation: activation)
        return lowerUnmasked(.convolution(op), try singleInput(call).value, call, weights: try weightValues(&graph), into: &graph)
    }
}

/// Conv1D, Conv2D, Conv3D: cross-correlation with `filters` kernels, optionally grouped.
package final class Convolution: ConvolutionBase {
    package override class var kerasClassNames: [String] { ["Conv1D", "Conv2D", "Conv3D"] }
    package override class var legacyClassNames: [String: String] { ["Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "Convolution3D": "Conv3D", "AtrousConvolution1D": "Conv1D", "AtrousConvolution2D": "Conv2D"] }
    package override class var examples: [LayerExample] { kerasClassNames.map { spatialExample($0, ["filters": 2, "kernel_size": 2]) } }
    package let filters: Int
    package let groups: Int

    package required init(_ context: LayerContext) throws {
        filters = try context.config.int("filters")
        groups = try context.config.int("groups", default: 1)
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let channels = try inputChannels(inputShapes)
        guard groups > 0, channels % groups == 0 else {
            throw ModelError(layer: label, field: "config.groups", "expected a divisor of the \(channels) input channels, found \(groups)")
        }
        var specs = [weight("kernel", kernelSize + [channels / groups, filters], index: 0)]
        if useBias { specs.append(weight("bias", [filters], index: 1)) }
        return specs
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        try windowedOutput(inputShapes, channels: filters)
    }

    /// Keras 1 Conv1D kernels are `(length, 1, in, filters)`: the unit axis goes. Keras 1 channels_first
    /// Conv2D/3D kernels are `(filters, in, spatial...)`: they move to `(spatial..., in, filters)`.
    package override func keras1Weights(_ arrays: [WeightArray]) throws -> [WeightArray] {
        guard let kernel = arrays.first else { return arrays }
        let shape = kernel.shape
        if rank == 1, shape.count == 4, shape[1] == 1 {
            return [WeightArray(name: kernel.name, shape: [shape[0], shape[2], shape[3]]) { try kernel.values() }] + arrays.dropFirst()
        }
        if channelsFirst, shape.count == rank + 2 {
            return [try kernel.transposed(Array(2..<(rank + 2)) + [1, 0])] + arrays.dropFirst()
        }
        return arrays
    }

    package override func theanoWeights(_ arrays: [WeightArray]) -> [WeightArray] { flippingKernel(arrays) }


    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerConvolution(.regular(filters: filters, groups: groups), call, into: &graph)
    }
}

/// Keras 3 has no grouped transposed, depthwise or separable convolutions; tf-keras writes `groups: 1` on them.
private let groupsKey = VersionOnlyKey("groups", onlyIn: .keras2, value: 1,
                                       why: "Keras 3 has no grouped transposed, depthwise or separable convolutions")

/// Theano convolves (flipped kernel) where TensorFlow correlates: Keras 2.3's loader flips the spatial axes
/// of convolution kernels written under Theano (`_need_convert_kernel`).
private func flippingKernel(_ arrays: [WeightArray]) -> [WeightArray] {
    guard let kernel = arrays.first else { return arrays }
    return [kernel.flippedSpatialAxes()] + arrays.dropFirst()
}

/// Conv1DTranspose, Conv2DTranspose, Conv3DTranspose.
package final class ConvolutionTranspose: ConvolutionBase {
    package override class var kerasClassNames: [String] { ["Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"] }
    package override class var legacyClassNames: [String: String] { ["Deconvolution2D": "Conv2DTranspose", "Deconvolution3D": "Conv3DTranspose"] }
    package override class var examples: [LayerExample] { kerasClassNames.map { spatialExample($0, ["filters": 2, "kernel_size": 2]) } }
    package let filters: Int
    package let outputPadding: [Int]?

    package required init(_ context: LayerContext) throws {
        filters = try context.config.int("filters")
        let rank = Self.spatialRank(context.className)
        outputPadding = context.config.has("output_padding") ? try context.config.ints("output_padding", count: rank) : nil
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let channels = try inputChannels(inputShapes)
        var specs = [weight("kernel", kernelSize + [filters, channels], index: 0)]
        if useBias { specs.append(weight("bias", [filters], index: 1)) }
        return specs
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        var shape = try SpatialShape(singleInput(inputShapes), rank: rank, channelsFirst: channelsFirst, of: self)
        shape.spatial = shape.spatial.indices.map { axis in
            deconvOutputLength(shape.spatial[axis], kernel: kernelSize[axis], padding: padding,
                               outputPadding: outputPadding?[axis], stride: strides[axis], dilation: dilation[axis])
        }
        shape.channels = filters
        return [shape.shape]
    }

    package override func theanoWeights(_ arrays: [WeightArray]) -> [WeightArray] { flippingKernel(arrays) }

    package override var versionOnlyKeys: [VersionOnlyKey] { [groupsKey] }

    /// Keras's `conv_transpose`: the output's spatial sizes are `deconv_output_length` (as in `outputShapes`).
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerConvolution(.transposed(filters: filters, outputPadding: outputPadding), call, into: &graph)
    }
}

/// DepthwiseConv1D/2D: each input channel convolved with `depth_multiplier` kernels of its own.
package final class DepthwiseConvolution: ConvolutionBase {
    package override class var kerasClassNames: [String] { ["DepthwiseConv1D", "DepthwiseConv2D"] }
    package override class var examples: [LayerExample] { kerasClassNames.map { spatialExample($0, ["kernel_size": 2]) } }
    package let depthMultiplier: Int

    package required init(_ context: LayerContext) throws {
        depthMultiplier = try context.config.positiveInt("depth_multiplier", default: 1)
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let channels = try inputChannels(inputShapes)
        // Keras 2 calls it depthwise_kernel, Keras 3 kernel; the layout is the same.
        let kernelName = dialect >= .keras3 ? "kernel" : "depthwise_kernel"
        var specs = [weight(kernelName, kernelSize + [channels, depthMultiplier], index: 0, legacyName: "depthwise_kernel")]
        if useBias { specs.append(weight("bias", [channels * depthMultiplier], index: 1)) }
        return specs
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        let channels = try SpatialShape(singleInput(inputShapes), rank: rank, channelsFirst: channelsFirst, of: self).channels
        return try windowedOutput(inputShapes, channels: channels.map { $0 * depthMultiplier })
    }

    package override var versionOnlyKeys: [VersionOnlyKey] { [groupsKey] }

    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerConvolution(.depthwise, call, into: &graph)
    }
}

/// SeparableConv1D/2D: a depthwise convolution followed by a 1×1 pointwise one.
package final class SeparableConvolution: ConvolutionBase {
    package override class var kerasClassNames: [String] { ["SeparableConv1D", "SeparableConv2D"] }
    package override class var legacyClassNames: [String: String] { ["SeparableConvolution2D": "SeparableConv2D"] }
    package override class var examples: [LayerExample] { kerasClassNames.map { spatialExample($0, ["filters": 2, "kernel_size": 2]) } }
    package let filters: Int
    package let depthMultiplier: Int

    package required init(_ context: LayerContext) throws {
        filters = try context.config.int("filters")
        depthMultiplier = try context.config.positiveInt("depth_multiplier", default: 1)
        try super.init(context)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let channels = try inputChannels(inputShapes)
        var specs = [
            weight("depthwise_kernel", kernelSize + [channels, depthMultiplier], index: 0),
            weight("pointwise_kernel", Array(repeating: 1, count: rank) + [channels * depthMultiplier, filters], index: 1),
        ]
        if useBias { specs.append(weight("bias", [filters], index: 2)) }
        return specs
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        try windowedOutput(inputShapes, channels: filters)
    }

    /// tf-keras writes the plain-convolution keys on separable convolutions without using them.
    package override var versionOnlyKeys: [VersionOnlyKey] {
        [groupsKey] + ["kernel_initializer", "kernel_regularizer", "kernel_constraint"].map {
            VersionOnlyKey($0, onlyIn: .keras2, why: "unused by tf-keras")
        }
    }

    /// A depthwise convolution, then a 1×1 convolution over its channels.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        try lowerConvolution(.separable, call, into: &graph)
    }
}
