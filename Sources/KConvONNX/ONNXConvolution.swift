import KConvGraph
import ONNXProto

/// Convolutions, pooling and normalisation. ONNX's Conv and pooling operators read channels-first data;
/// their outputs stay channels-first until a reader needs Keras's layout, so a stack of them costs one
/// Transpose in and one out.
extension ONNXTranslator {
    mutating func translateConvolution(_ input: ValueID, _ op: ConvolutionOp, weights: [ValueID?], output: ValueID) throws {
        let rank = op.rank
        // Keras's own channels_first data is already in ONNX's layout.
        let target: Layout = op.channelsFirst ? .keras : .channelsFirst
        let x = try name(input, layout: target)
        let kernel = try constantWeight(weights, 0)
        let spatial = Array(0 ..< rank)
        let fold = folds[output]
        var attributes = [Attr.attribute("strides", ints: op.strides), Attr.attribute("dilations", ints: op.dilation)]
        var y: String
        switch op.kind {
        case .regular(_, let groups):
            attributes += try padding(op, input: input)
            if groups > 1 { attributes.append(Attr.attribute("group", int: groups)) }
            let w = try weight(kernel, permutation: [rank + 1, rank] + spatial, name: "kernel", fold: fold.map { ($0, 1) })
            y = builder.add1("Conv", [x, w] + (try bias(weights, 1, op, fold: fold)), attributes)
        case .depthwise:
            attributes += try padding(op, input: input)
            let channels = kernel.shape[rank], multiplier = kernel.shape[rank + 1]
            let w = try weight(kernel, permutation: [rank, rank + 1] + spatial, reshapedTo: [channels * multiplier, 1] + op.kernelSize,
                           name: "depthwise_kernel", fold: fold.map { ($0, 1) })
            y = builder.add1("Conv", [x, w] + (try bias(weights, 1, op, fold: fold)), attributes + [Attr.attribute("group", int: channels)])
        case .separable:
            attributes += try padding(op, input: input)
            let channels = kernel.shape[rank], multiplier = kernel.shape[rank + 1]
            let depthwise = try weight(kernel, permutation: [rank, rank + 1] + spatial, reshapedTo: [channels * multiplier, 1] + op.kernelSize, name: "depthwise_kernel")
            let perChannel = builder.add1("Conv", [x, depthwise], attributes + [Attr.attribute("group", int: channels)])
            let pointwise = try constantWeight(weights, 1)
            let w = try weight(pointwise, permutation: [rank + 1, rank] + spatial, name: "pointwise_kernel", fold: fold.map { ($0, 1) })
            y = builder.add1("Conv", [perChannel, w] + (try bias(weights, 2, op, fold: fold)))
        case .transposed(_, let outputPadding):
            attributes += try transposedPadding(op, outputPadding: outputPadding, input: input)
            // The kernel is `kernel_size + (filters, in)`: output channels are its second-to-last axis.
            let w = try weight(kernel, permutation: [rank + 1, rank] + spatial, name: "kernel", fold: fold.map { ($0, kernel.shape[rank + 1]) })
            y = builder.add1("ConvTranspose", [x, w] + (try bias(weights, 1, op, fold: fold)), attributes)
        }
        if op.activation.actsOnLastAxis, target == .channelsFirst {
            y = transpose(y, ChannelPermutation.toLast(rank: rank + 2))
            produce(output, try apply(op.activation, y))
        } else {
            produce(output, try apply(op.activation, y), layout: target)
        }
    }

    /// Weight `index` of a layer, which must be a graph constant.
    func constantWeight(_ weights: [ValueID?], _ index: Int) throws -> Constant {
        guard index < weights.count, let value = weights[index], let constant = constant(value) else {
            throw ModelError("ONNX export needs weight \(index) as a constant")
        }
        return constant
    }

    /// `constant` with its axes permuted (and then reshaped), written as an initializer; with `fold`, each
    /// output channel first scaled by a folded BatchNormalization (`channelStride`: the elements per output
    /// channel step in Keras's layout).
    mutating func weight(_ constant: Constant, permutation: [Int], reshapedTo shape: [Int]? = nil, name: String,
                         fold: (BatchNormFold, channelStride: Int)? = nil) throws -> String {
        let permutedShape = permutation.map { constant.shape[$0] }
        var values = try constant.read()
        if let fold { values = fold.0.scaled(values, channelStride: fold.channelStride) }
        return builder.floats(permuted(values, shape: constant.shape, permutation), shape: shape ?? permutedShape,
                              name: "\(builder.scope)/\(name)", source: fold == nil ? .permuted(constant, permutation) : .derived)
    }

    /// The bias input, when the layer has one or a folded BatchNormalization gives it one.
    private mutating func bias(_ weights: [ValueID?], _ index: Int, _ op: ConvolutionOp, fold: BatchNormFold?) throws -> [String] {
        let value = op.useBias && index < weights.count ? weights[index] : nil
        if let fold {
            return [builder.floats(fold.bias(try value.map(constantValues)), shape: [fold.scale.count], name: "\(builder.scope)/bias", source: .derived)]
        }
        return try value.map { [try name($0)] } ?? []
    }

    /// Keras's `valid`, `same` (TensorFlow's SAME: the odd row at the end) and `causal` (all before), as
    /// explicit pads wherever they are known: onnxruntime fuses a `Pad` into the Conv after it only when
    /// the Conv has no `auto_pad` (MobileNetV2's ZeroPadding2D layers), and refuses SAME_UPPER with
    /// dilation. `same` pads depend on the input's size only when strided; an unknown size leaves
    /// SAME_UPPER (undilated) or an error.
    private func padding(_ op: ConvolutionOp, input: ValueID) throws -> [Onnx_AttributeProto] {
        try padding(op, spatial: spatialSizes(of: input, channelsFirst: op.channelsFirst))
    }

    /// The spatial sizes of a convolution or pool's input, in Keras's layout (nil where unknown).
    private func spatialSizes(of input: ValueID, channelsFirst: Bool) -> [Int?]? {
        staticShape(of: input).map { Array(channelsFirst ? $0.dropFirst(2) : $0.dropFirst().dropLast()) }
    }

    /// The padding attributes for inputs of spatial sizes `spatial` (nil or nil sizes: unknown).
    func padding(_ op: ConvolutionOp, spatial: [Int?]?) throws -> [Onnx_AttributeProto] {
        let dilated = zip(op.kernelSize, op.dilation).map { ($0 - 1) * $1 + 1 }
        if op.padding == "causal" { return [Attr.attribute("pads", ints: dilated.map { $0 - 1 } + dilated.map { _ in 0 })] }
        return try windowPadding(op.padding, window: dilated, strides: op.strides, spatial: spatial, dilated: op.dilation.contains { $0 != 1 })
    }

    /// `valid` or `same` pads for windows of `window` elements moved by `strides` over `spatial`.
    private func windowPadding(_ padding: String, window: [Int], strides: [Int], spatial: [Int?]?, dilated: Bool = false) throws -> [Onnx_AttributeProto] {
        switch padding {
        case "valid": return [Attr.attribute("pads", ints: Array(repeating: 0, count: 2 * window.count))]
        case "same":
            var totals: [Int] = []
            for axis in window.indices {
                if strides[axis] == 1 {
                    totals.append(window[axis] - 1)
                } else if let spatial, axis < spatial.count, let length = spatial[axis] {
                    totals.append(max(((length + strides[axis] - 1) / strides[axis] - 1) * strides[axis] + window[axis] - length, 0))
                } else if dilated {
                    throw ModelError("ONNX export needs the input's spatial size for a dilated, strided `same` convolution")
                } else {
                    return [Attr.attribute("auto_pad", string: "SAME_UPPER")]
                }
            }
            return [Attr.attribute("pads", ints: totals.map { $0 / 2 } + totals.map { $0 - $0 / 2 })]
        default: throw ModelError("ONNX export does not know padding '\(padding)'")
        }
    }

    /// Explicit pads for a transposed convolution: TensorFlow crops the windows of the forward convolution
    /// between the output and input sizes (for `same`, half the total before); what is left at the end is
    /// ONNX's end pad, or its `output_padding` when negative. These amounts do not depend on the input size.
    private func transposedPadding(_ op: ConvolutionOp, outputPadding: [Int]?, input: ValueID) throws -> [Onnx_AttributeProto] {
        var begin: [Int] = [], end: [Int] = [], extra: [Int] = []
        for axis in 0 ..< op.rank {
            let amounts = [8, 9].map { length -> (Int, Int)? in
                guard let output = deconvOutputLength(length, kernel: op.kernelSize[axis], padding: op.padding,
                                                      outputPadding: outputPadding?[axis], stride: op.strides[axis], dilation: op.dilation[axis])
                else { return nil }
                let dilated = (op.kernelSize[axis] - 1) * op.dilation[axis] + 1
                let total = max((length - 1) * op.strides[axis] + dilated - output, 0)
                let before = op.padding == "same" ? total / 2 : 0
                return (before, op.strides[axis] * (length - 1) + dilated - before - output)
            }
            guard let first = amounts[0], let second = amounts[1], first == second else {
                throw ModelError("ONNX export cannot express this transposed convolution's padding")
            }
            begin.append(first.0)
            end.append(max(first.1, 0))
            extra.append(max(-first.1, 0))
        }
        var attributes = [Attr.attribute("pads", ints: begin + end)]
        if extra.contains(where: { $0 > 0 }) { attributes.append(Attr.attribute("output_padding", ints: extra)) }
        return attributes
    }

    mutating func translatePool(_ input: ValueID, _ op: PoolOp, output: ValueID) throws {
        let target: Layout = op.channelsFirst ? .keras : .channelsFirst
        let x = try name(input, layout: target)
        var attributes = [Attr.attribute("kernel_shape", ints: op.poolSize), Attr.attribute("strides", ints: op.strides)]
        attributes += try windowPadding(op.padding, window: op.poolSize, strides: op.strides,
                                        spatial: spatialSizes(of: input, channelsFirst: op.channelsFirst))
        if op.reduction == .average { attributes.append(Attr.attribute("count_include_pad", int: 0)) }
        produce(output, builder.add1(op.reduction == .max ? "MaxPool" : "AveragePool", [x], attributes), layout: target)
    }

    /// Keras 3's adaptive pooling, one spatial axis after the other: each window a Slice reduced by
    /// ReduceMean or ReduceMax, the windows concatenated.
    mutating func translateAdaptivePool(_ input: ValueID, _ op: AdaptivePoolOp, output: ValueID) throws {
        let shape = staticShape(of: input) ?? []
        let first = op.channelsFirst ? 2 : 1
        var y = try name(input)
        for (index, count) in op.outputSize.enumerated() {
            let axis = first + index
            guard axis < shape.count, let length = shape[axis] else { throw ModelError("adaptive pooling needs the input's spatial sizes, found \(shape)") }
            let cells = AdaptivePoolOp.windows(length: length, count: count).map { window in
                reduce(op.reduction == .max ? "ReduceMax" : "ReduceMean", slice(y, starts: [window.lowerBound], ends: [window.upperBound], axes: [axis]),
                       axes: [axis], keepDims: true)
            }
            y = cells.count == 1 ? cells[0] : builder.add1("Concat", cells, [Attr.attribute("axis", int: axis)])
        }
        produce(output, y)
    }

    /// Mean or max over every spatial axis; GlobalAveragePooling1D's mask leaves padded steps out.
    mutating func translateGlobalPool(_ input: ValueID, _ op: GlobalPoolOp, mask: ValueID?, output: ValueID) throws {
        let rank = op.rank + 2
        let produced = try layout(of: input)
        let target: Layout = mask == nil && produced == .channelsFirst && !op.channelsFirst ? .channelsFirst : .keras
        let spatial = target == .channelsFirst || op.channelsFirst ? Array(2 ..< rank) : Array(1 ..< rank - 1)
        let x = try name(input, layout: target)
        var y: String
        if let mask {
            guard op.reduction == .average, !op.channelsFirst, op.rank == 1 else {
                throw ModelError("ONNX export takes a mask into GlobalAveragePooling1D (channels_last) only")
            }
            let keep = cast(try name(mask, dtype: .bool), to: .float32)
            let sum = reduce("ReduceSum", builder.add1("Mul", [x, unsqueeze(keep, axes: [-1])]), axes: [1], keepDims: op.keepDims)
            let count = reduce("ReduceSum", keep, axes: [1], keepDims: true)
            y = builder.add1("Div", [sum, op.keepDims ? unsqueeze(count, axes: [-1]) : count])
        } else {
            y = reduce(op.reduction == .max ? "ReduceMax" : "ReduceMean", x, axes: spatial, keepDims: op.keepDims)
        }
        produce(output, y, layout: op.keepDims ? target : .keras)
    }

    /// Inference batch normalisation (see `BatchNormFold`): folded into the layer before it where
    /// `batchNormFolds` found that possible; else, over ONNX's axis 1, a BatchNormalization holding the
    /// folded `scale` and `shift` (mean 0, variance 1, ε 0: `x · scale + shift` exactly), which onnxruntime
    /// runs in its channels-blocked layout; else a Mul and an Add by constants.
    mutating func translateBatchNorm(_ input: ValueID, _ op: BatchNormOp, gamma: ValueID?, beta: ValueID?, mean: ValueID, variance: ValueID, output: ValueID) throws {
        if folds[input] != nil { return try alias(output, to: input) }
        let fold = try BatchNormFold(op, gamma: try gamma.map(constantValues), beta: try beta.map(constantValues),
                                     mean: try constantValues(mean), variance: try constantValues(variance))
        let rank = op.rank
        let channelsFirst = try op.axes == [rank - 1] && rank > 2 && layout(of: input) == .channelsFirst
        let layout: Layout = channelsFirst ? .channelsFirst : .keras
        let x = try name(input, layout: layout)
        if channelsFirst || op.axes == [1] {
            let count = fold.scale.count
            let constants = [("scale", fold.scale), ("shift", fold.shift), ("mean", [Float](repeating: 0, count: count)),
                             ("variance", [Float](repeating: 1, count: count))].map { name, values in
                builder.floats(values, shape: [count], name: "\(builder.scope)/\(name)", source: .derived)
            }
            return produce(output, builder.add1("BatchNormalization", [x] + constants, [Attr.attribute("epsilon", float: 0)]), layout: layout)
        }
        guard let sizes = staticShape(of: input) else { throw ModelError("expected a known input shape") }
        let shape = (1 ..< rank).map { op.axes.contains($0) ? sizes[$0] ?? 1 : 1 }
        let scaled = builder.add1("Mul", [x, builder.floats(fold.scale, shape: shape, name: "\(builder.scope)/scale", source: .derived)])
        produce(output, builder.add1("Add", [scaled, builder.floats(fold.shift, shape: shape, name: "\(builder.scope)/shift", source: .derived)]))
    }

    /// Keras LayerNormalization: ONNX's operator where it applies (opset 17, trailing axes, mean subtracted),
    /// else its maths spelled out (Keras 3's `rms_scaling` divides by the standard deviation, mean kept;
    /// RMSNormalization by the root mean square).
    mutating func translateLayerNorm(_ input: ValueID, _ op: LayerNormOp, gamma: ValueID?, beta: ValueID?, output: ValueID) throws {
        let rank = op.rank
        let axes = op.axes.map { $0 < 0 ? $0 + rank : $0 }.sorted()
        let x = try name(input)
        let trailing = axes == Array((rank - axes.count) ..< rank)
        if opset >= 17, op.subtractsMean, trailing, let gamma {
            var inputs = [x, try name(gamma)]
            if let beta { inputs.append(try name(beta)) }
            produce(output, builder.add1("LayerNormalization", inputs, [Attr.attribute("axis", int: axes[0]),
                                                                          Attr.attribute("epsilon", float: Float(op.epsilon))]))
            return
        }
        // RMSNormalization divides by the root of the mean square, the others by the standard deviation.
        let centred = op.rootMeanSquare ? x : builder.add1("Sub", [x, reduce("ReduceMean", x, axes: axes, keepDims: true)])
        let variance = reduce("ReduceMean", builder.add1("Mul", [centred, centred]), axes: axes, keepDims: true)
        let deviation = builder.add1("Sqrt", [builder.add1("Add", [variance, builder.scalar(Float(op.epsilon))])])
        var y = builder.add1("Div", [op.subtractsMean ? centred : x, deviation])
        let paramShape = (0 ..< rank).map { axis -> Int in axes.contains(axis) ? (staticShape(of: input)?[axis] ?? 1) : 1 }.drop { _ in false }
        if let gamma { y = builder.add1("Mul", [y, reshape(try name(gamma), Array(paramShape))]) }
        if let beta { y = builder.add1("Add", [y, reshape(try name(beta), Array(paramShape))]) }
        produce(output, y)
    }

    /// A constant's values.
    func constantValues(_ value: ValueID) throws -> [Float] {
        guard let constant = constant(value) else { throw ModelError("expected a weight, found a computed value") }
        return try constant.read()
    }
}

/// `values` of `shape` with axes permuted: output axis `i` is input axis `permutation[i]`. Walks the output in
/// order, a run along its last axis at a time (VGG16's convolution kernels: 15 M values).
func permuted(_ values: [Float], shape: [Int], _ permutation: [Int]) -> [Float] {
    let rank = shape.count
    guard permutation != Array(0 ..< rank), !values.isEmpty, shape.reduce(1, *) == values.count else { return values }
    var strides = Array(repeating: 1, count: rank)
    for axis in stride(from: rank - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * shape[axis + 1] }
    let outputShape = permutation.map { shape[$0] }
    let outputStrides = permutation.map { strides[$0] }
    let run = outputShape[rank - 1], runStride = outputStrides[rank - 1]
    var result: [Float] = []
    result.reserveCapacity(values.count)
    var index = Array(repeating: 0, count: rank), start = 0  // the output position's outer axes, its source offset
    while result.count < values.count {
        for step in 0 ..< run { result.append(values[start + step * runStride]) }
        var axis = rank - 2
        while axis >= 0 {
            index[axis] += 1
            start += outputStrides[axis]
            if index[axis] < outputShape[axis] { break }
            start -= outputStrides[axis] * outputShape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
    return result
}
