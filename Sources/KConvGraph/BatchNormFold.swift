/// A BatchNormalization folded into the convolution or Dense layer before it: at inference it is
/// `y · scale + shift` per output channel, so the layer's weights of output channel `c` are multiplied by
/// `scale[c]` and its bias becomes `bias · scale + shift` — one layer instead of a layer and a pass over its
/// output. The ONNX writer and the engine's plan both fold this way.
package struct BatchNormFold {
    package var scale: [Float]
    package var shift: [Float]

    /// Inference batch normalisation as TensorFlow computes it, `x · inv + (beta − mean · inv)` with
    /// `inv = gamma / √(variance + ε)`, from the layer's constants (gamma and beta optional).
    package init(_ op: BatchNormOp, gamma: [Float]?, beta: [Float]?, mean: [Float], variance: [Float]) throws {
        let gammas = gamma ?? Array(repeating: 1, count: mean.count)
        let betas = beta ?? Array(repeating: 0, count: mean.count)
        guard [variance.count, gammas.count, betas.count].allSatisfy({ $0 == mean.count }) else {
            throw ModelError("expected statistics of one size, found \([mean.count, variance.count, gammas.count, betas.count])")
        }
        scale = zip(variance, gammas).map { variance, gamma in 1 / (variance + Float(op.epsilon)).squareRoot() * gamma }
        shift = zip(betas, zip(mean, scale)).map { beta, pair in beta - pair.0 * pair.1 }
    }

    /// `weights` with output channel `(i / stride) % scale.count` of element `i` scaled.
    package func scaled(_ weights: [Float], channelStride stride: Int) -> [Float] {
        weights.enumerated().map { index, value in value * scale[(index / stride) % scale.count] }
    }

    /// The folded bias: `bias · scale + shift` (the shift alone without a bias).
    package func bias(_ bias: [Float]?) -> [Float] {
        zip(bias ?? Array(repeating: 0, count: scale.count), zip(scale, shift)).map { b, pair in b * pair.0 + pair.1 }
    }

    /// Folded forward instead, into the Dense layer after it (`kernel` `[channels, units]`, row-major, scaled
    /// by `scaled(kernel, channelStride: units)`): that layer's bias, `bias + shift · kernel`.
    package func biasAfter(kernel: [Float], units: Int, bias: [Float]?) -> [Float] {
        (0 ..< units).map { unit in
            let sum = shift.indices.reduce(Double(bias?[unit] ?? 0)) { $0 + Double(shift[$1]) * Double(kernel[$1 * units + unit]) }
            return Float(sum)
        }
    }
}

/// Where a BatchNormalization can fold into the node producing its input (see `Graph.batchNormFoldSites`).
package struct BatchNormFoldSite {
    /// The BatchNormalization's node and the producer's, by index in `Graph.nodes`.
    package var batchNorm: Int
    package var producer: Int
    /// The producer's input holding the weights whose output channels scale, and the distance between
    /// neighbouring output channels there in Keras's layout (1 but for a transposed convolution's kernel).
    package var scaledWeight: Int
    package var channelStride: Int
    /// The producer's output channels.
    package var channels: Int
}

extension Graph {
    /// The BatchNormalizations that can fold into the layer before them: a linear convolution (channels on
    /// Keras's channel axis) or Dense whose output nothing else reads and that is not in `keeping`, followed
    /// by a BatchNormalization over that channel axis whose statistics are constants of the layer's width.
    package func batchNormFoldSites(keeping: Set<ValueID> = []) -> [BatchNormFoldSite] {
        var readers = Array(repeating: 0, count: types.count)
        for node in nodes { for case let input? in node.inputs { readers[input.index] += 1 } }
        for output in outputs { readers[output.index] += 1 }
        var producers: [ValueID: Int] = [:]
        for (index, node) in nodes.enumerated() { if let first = node.outputs.first { producers[first] = index } }
        var sites: [BatchNormFoldSite] = []
        for (index, node) in nodes.enumerated() {
            guard case .batchNorm(let op) = node.op, node.inputs.count == 5, let x = node.inputs[0], readers[x.index] == 1,
                  !keeping.contains(x), let producer = producers[x], nodes[producer].outputs.first == x,
                  let (weight, stride, channels) = foldTarget(nodes[producer]) else { continue }
            var channelsFirst = false
            if case .convolution(let convolution) = nodes[producer].op { channelsFirst = convolution.channelsFirst }
            guard op.axes == [channelsFirst ? 1 : op.rank - 1] else { continue }
            let statistics = node.inputs[1...].enumerated().allSatisfy { offset, value in
                guard let value else { return offset < 2 }  // gamma and beta are optional
                return constants[value].map { $0.shape.reduce(1, *) == channels } ?? false
            }
            guard statistics else { continue }
            sites.append(BatchNormFoldSite(batchNorm: index, producer: producer, scaledWeight: weight, channelStride: stride, channels: channels))
        }
        return sites
    }

    /// For a linear convolution or Dense with constant weights: the input whose weights scale, the
    /// distance between its output channels, and the output channel count; nil for any other node.
    private func foldTarget(_ node: GraphNode) -> (weight: Int, stride: Int, channels: Int)? {
        let shapes = node.inputs.dropFirst().map { $0.flatMap { constants[$0]?.shape } }
        switch node.op {
        case .dense(.linear):
            guard let kernel = shapes.first ?? nil, let units = kernel.last else { return nil }
            return (1, 1, units)
        case .convolution(let op) where op.activation == .linear:
            guard let kernel = shapes.first ?? nil, kernel.count == op.rank + 2 else { return nil }
            let rank = op.rank
            switch op.kind {
            case .regular: return (1, 1, kernel[rank + 1])
            case .transposed: return (1, kernel[rank + 1], kernel[rank])
            case .depthwise: return (1, 1, kernel[rank] * kernel[rank + 1])
            case .separable:
                guard shapes.count > 1, let pointwise = shapes[1], let filters = pointwise.last else { return nil }
                return (2, 1, filters)
            }
        default:
            return nil
        }
    }
}
