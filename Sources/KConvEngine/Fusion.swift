import KConvGraph

/// A graph's nodes rewritten as a fast engine runs them, when only the graph's outputs are asked for:
/// - each BatchNormalization that can fold (`Graph.batchNormFoldSites`) folded into the convolution or Dense
///   before it, whose weights and bias are scaled once here (`BatchNormFold`, the ONNX writer's arithmetic);
/// - each elementwise activation (an Activation or ReLU layer) whose input only it reads fused into the
///   convolution, Dense or merge producing that input, as the producer's epilogue: ReLU and ReLU6 run in the
///   convolution kernels as they store a tile, others on the fresh output in place (no pass of its own).
/// A fused node produces the value the last node it absorbed produced; the values in between are never
/// materialised (`skipped`), so a caller asking for one of them runs the graph unfused.
struct FusedProgram {
    /// The nodes to run, in order, each with the activation fused into it, applied to its first output.
    let nodes: [(node: GraphNode, epilogue: Epilogue?)]
    /// Folded weights, as values numbered after the graph's (`valueCount` values in all).
    let constants: [ValueID: Plan.Slot]
    let valueCount: Int
    /// The graph's values this program never produces.
    let skipped: Set<ValueID>

    /// `constants` holds the graph's weights, read.
    init(_ graph: Graph, constants weights: [ValueID: Plan.Slot]) throws {
        var numbering = graph  // mints the folded weights' value numbers after the graph's
        var constants: [ValueID: Plan.Slot] = [:], skipped: Set<ValueID> = []
        var nodes: [(node: GraphNode, epilogue: Epilogue?)?] = graph.nodes.map { ($0, nil) }
        func weight(_ value: ValueID?) -> [Float]? { value.flatMap { weights[$0]?.tensor?.values } }
        func constant(_ values: [Float], shape: [Int]) -> ValueID {
            let id = numbering.newValue(ValueType(dtype: .float32, shape: shape.map(Dim.size)))
            constants[id] = .tensor(Tensor(shape: shape, values: values))
            return id
        }
        for site in graph.batchNormFoldSites() {
            let batchNorm = graph.nodes[site.batchNorm]
            guard case .batchNorm(let op) = batchNorm.op, var producer = nodes[site.producer]?.node,
                  let mean = weight(batchNorm.inputs[3]), let variance = weight(batchNorm.inputs[4]),
                  let scaled = producer.inputs[site.scaledWeight], let kernel = weights[scaled]?.tensor else { continue }
            let fold = try BatchNormFold(op, gamma: weight(batchNorm.inputs[1]), beta: weight(batchNorm.inputs[2]), mean: mean, variance: variance)
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
            nodes[site.producer] = (producer, nil)
            nodes[site.batchNorm] = nil
        }
        var readers = Array(repeating: 0, count: graph.types.count)
        for case let (node, _)? in nodes { for case let input? in node.inputs where input.index < readers.count { readers[input.index] += 1 } }
        for output in graph.outputs { readers[output.index] += 1 }
        var producers: [ValueID: Int] = [:]
        for (index, entry) in nodes.enumerated() { if let first = entry?.node.outputs.first { producers[first] = index } }
        for (index, entry) in nodes.enumerated() {
            guard let node = entry?.node, let epilogue = Epilogue(node.op), let x = node.inputs.first ?? nil, readers[x.index] == 1,
                  let producer = producers[x], var fused = nodes[producer], fused.epilogue == nil, Self.takesEpilogue(fused.node.op)
            else { continue }
            skipped.insert(x)
            fused.node.outputs[0] = node.outputs[0]
            fused.epilogue = epilogue
            nodes[producer] = fused
            producers[node.outputs[0]] = producer
            nodes[index] = nil
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
}
