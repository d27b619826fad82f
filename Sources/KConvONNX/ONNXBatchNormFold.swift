import KConvGraph

/// A BatchNormalization folded into the convolution or Dense layer before it: at inference it is
/// `y · scale + shift` per output channel, so the layer's weights of output channel `c` are multiplied by
/// `scale[c]` and its bias becomes `bias · scale + shift` — one Conv or Gemm instead of Conv, Mul and Add.
struct BatchNormFold {
    var scale: [Float]
    var shift: [Float]

    /// Inference batch normalisation as TensorFlow computes it, `x · inv + (beta − mean · inv)` with
    /// `inv = gamma / √(variance + ε)`, from the layer's constants (gamma and beta optional).
    init(_ op: BatchNormOp, gamma: [Float]?, beta: [Float]?, mean: [Float], variance: [Float]) throws {
        let gammas = gamma ?? Array(repeating: 1, count: mean.count)
        let betas = beta ?? Array(repeating: 0, count: mean.count)
        guard [variance.count, gammas.count, betas.count].allSatisfy({ $0 == mean.count }) else {
            throw ModelError("expected statistics of one size, found \([mean.count, variance.count, gammas.count, betas.count])")
        }
        scale = zip(variance, gammas).map { variance, gamma in 1 / (variance + Float(op.epsilon)).squareRoot() * gamma }
        shift = zip(betas, zip(mean, scale)).map { beta, pair in beta - pair.0 * pair.1 }
    }

    /// `weights` (in Keras's layout) with output channel `(i / stride) % scale.count` of element `i` scaled.
    func scaled(_ weights: [Float], channelStride stride: Int) -> [Float] {
        weights.enumerated().map { index, value in value * scale[(index / stride) % scale.count] }
    }

    /// The folded bias: `bias · scale + shift` (the shift alone without a bias).
    func bias(_ bias: [Float]?) -> [Float] {
        zip(bias ?? Array(repeating: 0, count: scale.count), zip(scale, shift)).map { b, pair in b * pair.0 + pair.1 }
    }
}

extension ONNXTranslator {
    /// The BatchNormalizations that can be folded, by the output of the layer they fold into: a linear
    /// convolution (channels on Keras's channel axis) or Dense whose output nothing else reads, followed by a
    /// BatchNormalization over that channel axis whose statistics are constants of the layer's width.
    func batchNormFolds() -> [ValueID: BatchNormFold] {
        var readers: [ValueID: Int] = [:]
        for node in graph.nodes { for case let input? in node.inputs { readers[input, default: 0] += 1 } }
        for output in graph.outputs { readers[output, default: 0] += 1 }
        var producers: [ValueID: GraphNode] = [:]
        for node in graph.nodes { for output in node.outputs { producers[output] = node } }
        var folds: [ValueID: BatchNormFold] = [:]
        for node in graph.nodes {
            guard case .batchNorm(let op) = node.op, node.inputs.count == 5, let x = node.inputs[0], readers[x] == 1,
                  let producer = producers[x], producer.outputs.first == x,
                  let (channels, channelAxis) = foldableChannels(producer) else { continue }
            let axis = channelAxis ?? op.rank - 1
            guard op.axes == [axis] else { continue }
            // A statistic that cannot be read leaves the BatchNormalization to its own translation, which
            // then reports the error naming its layer.
            func values(_ index: Int) -> [Float]? { node.inputs[index].flatMap { try? constantValues($0) } }
            guard let mean = values(3), let variance = values(4), mean.count == channels,
                  let fold = try? BatchNormFold(op, gamma: values(1), beta: values(2), mean: mean, variance: variance),
                  node.inputs[1] == nil || values(1) != nil, node.inputs[2] == nil || values(2) != nil else { continue }
            folds[x] = fold
        }
        return folds
    }

    /// The output channel count of a linear convolution or Dense a BatchNormalization can fold into, and its
    /// channel axis when that is not the last (1 for channels_first); nil for any other node.
    private func foldableChannels(_ node: GraphNode) -> (Int, Int?)? {
        switch node.op {
        case .dense(.linear):
            guard node.inputs.count > 1, let kernel = node.inputs[1].flatMap(constant) else { return nil }
            return kernel.shape.last.map { ($0, nil) }
        case .convolution(let op) where op.activation == .linear:
            let kernels = node.inputs.dropFirst().compactMap { $0.flatMap(constant) }
            guard let kernel = kernels.first, kernel.shape.count == op.rank + 2 else { return nil }
            let channels: Int? = switch op.kind {
            case .regular: kernel.shape.last
            case .transposed: kernel.shape[op.rank]
            case .depthwise: kernel.shape[op.rank] * kernel.shape[op.rank + 1]
            case .separable: kernels.count > 1 ? kernels[1].shape.last : nil
            }
            return channels.map { ($0, op.channelsFirst ? 1 : nil) }
        default:
            return nil
        }
    }
}
