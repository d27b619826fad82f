import KConvGraph

/// A graph node as the plan runs it, with what the plan fused into it.
struct FusedNode {
    var node: GraphNode
    /// The activation fused into it, applied to its first output.
    var epilogue: Epilogue?
    /// A BatchNormalization after its activation (a regular or depthwise convolution's), `y · scale + shift`
    /// per output channel after `epilogue`, applied by the kernel as it stores each result.
    var scaling: BatchNormFold?
    /// The zeros a ZeroPadding added around a convolution's input, read by the convolution as its own padding.
    var inputPadding: SpatialPadding?
    /// Whether the node's last input is an Add's other input, added to a convolution's result before `epilogue`.
    var addsResidual = false
}

/// A graph's nodes rewritten as a fast engine runs them, when only the graph's outputs are asked for:
/// - each BatchNormalization that can fold (`Graph.batchNormFoldSites`) folded into the convolution or Dense
///   before it, whose weights and bias are scaled once here (`BatchNormFold`, the ONNX writer's arithmetic);
/// - each elementwise activation (an Activation or ReLU layer) whose input only it reads fused into the
///   convolution, Dense or merge producing that input, as the producer's epilogue: ReLU and ReLU6 run in the
///   convolution kernels as they store a tile, others on the fresh output in place (no pass of its own);
/// - each BatchNormalization after a regular or depthwise convolution's clamp (ReLU, ReLU6, or none) fused
///   into the convolution's epilogue, a scale and shift per channel while the tile is in registers;
/// - each ZeroPadding whose output only a regular, depthwise or separable convolution reads folded into that
///   convolution's window (its pads grow, on either side), so the padded copy is never made;
/// - each BatchNormalization left whose output only a Dense reads, directly or through a GlobalAveragePooling,
///   folded forward into that Dense's weights and bias;
/// - each Add of two tensors of one rank, one of them the output of a linear, channels_last regular convolution
///   that only the Add reads, fused into that convolution (run where the Add was): the other input is added
///   as the results are stored (oneDNN's sum post-op), then the Add's activation, if one was fused into it.
/// A fused node produces the value the last node it absorbed produced; the values in between are never
/// materialised (`skipped`), so a caller asking for one of them runs the graph unfused.
struct FusedProgram {
    /// The nodes to run, in order.
    let nodes: [FusedNode]
    /// Folded weights, as values numbered after the graph's (`valueCount` values in all).
    let constants: [ValueID: Plan.Slot]
    let valueCount: Int
    /// The graph's values this program never produces.
    let skipped: Set<ValueID>

    /// `constants` holds the graph's weights, read.
    init(_ graph: Graph, constants weights: [ValueID: Plan.Slot]) throws {
        var numbering = graph  // mints the folded weights' value numbers after the graph's
        var constants: [ValueID: Plan.Slot] = [:], skipped: Set<ValueID> = []
        var nodes: [FusedNode?] = graph.nodes.map { FusedNode(node: $0) }
        /// A weight of the graph's, or one folded here.
        func tensor(_ value: ValueID?) -> Tensor? { value.flatMap { (constants[$0] ?? weights[$0])?.tensor } }
        func weight(_ value: ValueID?) -> [Float]? { tensor(value)?.values }
        func constant(_ values: [Float], shape: [Int]) -> ValueID {
            let id = numbering.newValue(ValueType(dtype: .float32, shape: shape.map(Dim.size)))
            constants[id] = .tensor(Tensor(shape: shape, values: values))
            return id
        }
        /// The BatchNormalization `node`'s inference arithmetic, if its statistics are constants.
        func fold(_ node: GraphNode, _ op: BatchNormOp) throws -> BatchNormFold? {
            guard node.inputs.count == 5, let mean = weight(node.inputs[3]), let variance = weight(node.inputs[4]) else { return nil }
            return try BatchNormFold(op, gamma: weight(node.inputs[1]), beta: weight(node.inputs[2]), mean: mean, variance: variance)
        }
        for site in graph.batchNormFoldSites() {
            let batchNorm = graph.nodes[site.batchNorm]
            guard case .batchNorm(let op) = batchNorm.op, var producer = nodes[site.producer]?.node,
                  let kernel = tensor(producer.inputs[site.scaledWeight]),
                  let fold = try fold(batchNorm, op) else { continue }
            producer.inputs[site.scaledWeight] = constant(fold.scaled(kernel.values, channelStride: site.channelStride), shape: kernel.shape)
            func bias(_ old: ValueID?) -> ValueID { constant(fold.bias(weight(old)), shape: [site.channels]) }
            switch producer.op {
            case .convolution(var convolution):
                if convolution.useBias, let last = producer.inputs.indices.last {
                    producer.inputs[last] = bias(producer.inputs[last])
                } else {
                    producer.inputs.append(bias(nil))
                }
                convolution.useBias = true
                producer.op = .convolution(convolution)
            default:  // Dense: `[x, kernel, bias?]`
                while producer.inputs.count < 3 { producer.inputs.append(nil) }
                producer.inputs[2] = bias(producer.inputs[2])
            }
            skipped.insert(producer.outputs[0])
            producer.outputs[0] = batchNorm.outputs[0]
            nodes[site.producer] = FusedNode(node: producer)
            nodes[site.batchNorm] = nil
        }
        // Masks that are never there: a merge's output masks when none of its inputs carries one (Keras ANDs
        // its inputs' masks), read as absent. Chained residual blocks (MobileNetV2's) pass such a mask from Add to
        // Add, which kept each Add from fusing into the convolution before it.
        var absentMasks: Set<ValueID> = []
        for index in nodes.indices {
            guard var fused = nodes[index] else { continue }
            for slot in fused.node.inputs.indices where fused.node.inputs[slot].map(absentMasks.contains) == true {
                fused.node.inputs[slot] = nil
            }
            let inputs = fused.node.inputs, outputs = fused.node.outputs
            if case .merge = fused.node.op, inputs.count.isMultiple(of: 2), outputs.count.isMultiple(of: 2),
               inputs[(inputs.count / 2)...].allSatisfy({ $0 == nil }) {
                absentMasks.formUnion(outputs[(outputs.count / 2)...])
            }
            nodes[index] = fused
        }
        // Each later rewrite merges a node into the one producing its input, which only it reads: that
        // producer then produces the node's output.
        var uses = Uses(nodes, outputs: graph.outputs, valueCount: graph.types.count)
        func absorb(_ index: Int, into producer: Int, _ fused: FusedNode) {
            guard let node = nodes[index]?.node, let input = node.inputs.first ?? nil else { return }
            skipped.insert(input)
            var fused = fused
            fused.node.outputs[0] = node.outputs[0]
            nodes[producer] = fused
            uses.producers[node.outputs[0]] = producer
            nodes[index] = nil
        }
        for (index, entry) in nodes.enumerated() {
            guard let node = entry?.node, let epilogue = Epilogue(node.op), let producer = uses.soleProducer(of: node),
                  var fused = nodes[producer], fused.epilogue == nil, Self.takesEpilogue(fused.node.op)
            else { continue }
            fused.epilogue = epilogue
            absorb(index, into: producer, fused)
        }
        for (index, entry) in nodes.enumerated() {
            guard let node = entry?.node, case .batchNorm(let op) = node.op, let producer = uses.soleProducer(of: node),
                  var fused = nodes[producer], fused.scaling == nil, case .convolution(let convolution) = fused.node.op,
                  Self.storesScaled(convolution, epilogue: fused.epilogue), op.rank == convolution.rank + 2,
                  op.axes == [convolution.channelsFirst ? 1 : op.rank - 1],
                  let kernel = tensor(fused.node.inputs.dropFirst().first ?? nil)?.shape,
                  let channels = Self.outputChannels(convolution, kernel: kernel),
                  let scaling = try fold(node, op), scaling.scale.count == channels
            else { continue }
            fused.scaling = scaling
            absorb(index, into: producer, fused)
        }
        for (index, entry) in nodes.enumerated() {
            guard var fused = entry, case .convolution(let convolution) = fused.node.op, fused.inputPadding == nil,
                  let producer = uses.soleProducer(of: fused.node), let pad = nodes[producer]?.node,
                  case .pad(let before, let after) = pad.op, let input = pad.inputs.first ?? nil,
                  let padding = SpatialPadding(before: before, after: after, of: convolution) else { continue }
            skipped.insert(pad.outputs[0])
            fused.node.inputs[0] = input
            fused.inputPadding = padding
            nodes[index] = fused
            nodes[producer] = nil
        }
        // A BatchNormalization left (after a Dense's activation, a swish) whose output only a Dense reads,
        // directly or through a GlobalAveragePooling: the Dense takes its scale and shift (both are linear per
        // channel, and the mean of `x · scale + shift` is `mean(x) · scale + shift`).
        for (index, entry) in nodes.enumerated() {
            guard var dense = entry, case .dense = dense.node.op, dense.node.inputs.count >= 2,
                  let kernel = tensor(dense.node.inputs[1]), kernel.rank == 2,
                  let producer = uses.soleProducer(of: dense.node), let reader = nodes[producer] else { continue }
            var pooling: FusedNode?, channelAxis: Int?
            if case .globalPool(let op) = reader.node.op, op.reduction == .average, (reader.node.inputs.dropFirst().first ?? nil) == nil,
               !op.channelsFirst || !op.keepDims {
                pooling = reader
                channelAxis = op.channelsFirst ? 1 : op.rank + 1
            }
            let bias = dense.node.inputs.count > 2 ? weight(dense.node.inputs[2]) : nil, units = kernel.shape[1]
            guard let source = pooling == nil ? producer : uses.soleProducer(of: reader.node), let normalising = nodes[source]?.node,
                  case .batchNorm(let op) = normalising.op, op.axes == [channelAxis ?? op.rank - 1],
                  let input = normalising.inputs.first ?? nil, let scaling = try fold(normalising, op), scaling.scale.count == kernel.shape[0],
                  bias.map({ $0.count == units }) ?? true
            else { continue }
            dense.node.inputs = [dense.node.inputs[0], constant(scaling.scaled(kernel.values, channelStride: units), shape: kernel.shape),
                                 constant(scaling.biasAfter(kernel: kernel.values, units: units, bias: bias), shape: [units])]
            skipped.insert(normalising.outputs[0])
            if var pooled = pooling {
                // The pooling now averages the unnormalised input: its output, of the same shape and read only
                // by the Dense, no longer holds the graph's value.
                skipped.insert(pooled.node.outputs[0])
                pooled.node.inputs[0] = input
                nodes[producer] = pooled
            } else {
                dense.node.inputs[0] = input
            }
            nodes[index] = dense
            nodes[source] = nil
        }
        for (index, entry) in nodes.enumerated() {
            guard let add = entry?.node, case .merge(let merge) = add.op, merge.operation == .add, add.inputs.count == 4,
                  add.inputs[2] == nil, add.inputs[3] == nil, let a = add.inputs[0], let b = add.inputs[1], a != b,
                  add.outputs.count == 2, uses.readers[add.outputs[1].index] == 0,
                  let rank = graph.types[a.index].shape?.count, graph.types[b.index].shape?.count == rank
            else { continue }
            for (convolved, residual) in [(a, b), (b, a)] {
                // A constant other input would be taken for one of the convolution's weights.
                guard uses.readers[convolved.index] == 1, tensor(residual) == nil, let producer = uses.producers[convolved], var fused = nodes[producer],
                      case .convolution(let op) = fused.node.op, case .regular = op.kind, !op.channelsFirst, op.activation == .linear,
                      fused.epilogue == nil, fused.scaling == nil, !fused.addsResidual
                else { continue }
                fused.node.inputs.append(residual)
                fused.node.outputs = [add.outputs[0]]
                fused.epilogue = nodes[index]?.epilogue
                fused.addsResidual = true
                skipped.formUnion([convolved, add.outputs[1]])
                nodes[index] = fused  // where the Add ran: both its inputs are ready there
                nodes[producer] = nil
                break
            }
        }
        self.nodes = nodes.compactMap { $0 }
        valueCount = numbering.types.count
        self.constants = constants
        self.skipped = skipped
    }

    /// Whether an activation after `op` can run as its epilogue: on a fresh tensor it computes whole, before
    /// any activation of its own.
    private static func takesEpilogue(_ op: Op) -> Bool {
        switch op {
        case .convolution(let convolution): convolution.activation == .linear
        case .dense(.linear), .merge: true
        default: false
        }
    }

    /// Whether the kernel of `op` can scale and shift its results after its activation (`epilogue`, or the
    /// layer's own) as it stores them: a regular or depthwise convolution whose activation is a clamp or none.
    private static func storesScaled(_ op: ConvolutionOp, epilogue: Epilogue?) -> Bool {
        let activation = epilogue ?? .activation(op.activation)
        switch op.kind {
        case .regular, .depthwise: return activation.clamp != nil || activation.isIdentity
        case .transposed, .separable: return false
        }
    }

    /// The output channels of a regular or depthwise convolution `op` with a kernel of `shape` (Keras's layout).
    private static func outputChannels(_ op: ConvolutionOp, kernel shape: [Int]) -> Int? {
        guard shape.count == op.rank + 2 else { return nil }
        switch op.kind {
        case .regular(let filters, _): return filters
        case .depthwise: return shape[op.rank] * shape[op.rank + 1]
        case .transposed, .separable: return nil
        }
    }
}

/// How many nodes (and model outputs) read each value, and the node producing each node's first output.
private struct Uses {
    var readers: [Int]
    var producers: [ValueID: Int] = [:]

    init(_ nodes: [FusedNode?], outputs: [ValueID], valueCount: Int) {
        readers = Array(repeating: 0, count: valueCount)
        for case let fused? in nodes {
            for case let input? in fused.node.inputs where input.index < valueCount { readers[input.index] += 1 }
        }
        for output in outputs { readers[output.index] += 1 }
        for (index, fused) in nodes.enumerated() { if let first = fused?.node.outputs.first { producers[first] = index } }
    }

    /// The node producing `node`'s first input, when `node` is the only reader of that input.
    func soleProducer(of node: GraphNode) -> Int? {
        guard let input = node.inputs.first ?? nil, input.index < readers.count, readers[input.index] == 1 else { return nil }
        return producers[input]
    }
}
