import KConvGraph
import Synchronization
/// A lowered model made ready to run, built once: every weight read and laid out for its kernel, and the
/// last reader of every value known, so each buffer is released as soon as nothing needs it.
package final class Plan {
    /// What a value holds while the plan runs.
    package enum Slot {
        case tensor(Tensor)
        case mask(Mask)
        /// Integers kept exact (an integer model input), read as floats by every operation but `gather`.
        case integers(IndexTensor)
        /// Text, read only by the string operations (lookups, hashing, text vectorization).
        case strings(StringTensor)

        package var tensor: Tensor? { if case .tensor(let tensor) = self { tensor } else { nil } }
        package var mask: Mask? { if case .mask(let mask) = self { mask } else { nil } }

        package var shape: [Int] {
            switch self {
            case .tensor(let tensor): tensor.shape
            case .mask(let mask): mask.shape
            case .integers(let integers): integers.shape
            case .strings(let strings): strings.shape
            }
        }

        /// The value as a tensor, a mask as 1 (kept) and 0 (dropped), as Keras passes masks by keyword; text,
        /// which has no number, as NaN (lowering gives strings only to the string operations).
        package var asTensor: Tensor {
            switch self {
            case .tensor(let tensor): tensor
            case .mask(let mask): Tensor(shape: mask.shape, values: mask.values.map { $0 ? 1 : 0 })
            case .integers(let integers): Tensor(shape: integers.shape, values: integers.values.map(Float.init))
            case .strings(let strings): Tensor(shape: strings.shape, values: Array(repeating: .nan, count: strings.values.count))
            }
        }
    }

    package let graph: Graph
    /// The weights, read once.
    private let constants: [ValueID: Slot]
    /// The nodes as run when no value they skip is asked for: BatchNormalizations folded, activations and
    /// paddings fused.
    private let fused: Program
    /// The graph's nodes as they are, prepared when a run first asks for a value the fused nodes skip.
    private lazy var unfused: Result<Program, any Error> = Result {
        try Program(graph.nodes.map { FusedNode(node: $0) }, constants: constants, valueCount: graph.types.count, outputs: graph.outputs)
    }

    /// How many nodes a run that retains no skipped value executes: fewer than the graph's where operations
    /// were folded or fused.
    package var fusedNodeCount: Int { fused.nodes.count }

    /// A node made ready to run: its inputs in, its outputs out. It may take an input out of `inputs` to update
    /// it in place: the run hands over the only reference to a value whose last reader this is.
    package typealias Step = (inout [Slot?]) throws -> [Slot?]

    /// Nodes ready to run, the last reader of every value known.
    private struct Program {
        let nodes: [GraphNode]
        /// Each node's inputs as its step reads them: the weights a step prepared when it was made left out (nil).
        let stepInputs: [[ValueID?]]
        /// How many nodes read each value (model outputs count once more).
        let readers: [Int]
        /// The constants by value index (nil for every other value), which a run reads in place and never releases:
        /// putting them into each run's slots and releasing them after cost MobileNetV2 at batch 1 3% of its time.
        let constantSlots: [Slot?]
        /// Each node made ready to run, its weights laid out for its kernel once and what was fused into it applied.
        let steps: [Step]
        /// Values of the graph these nodes never produce.
        let skipped: Set<ValueID>

        init(_ nodes: [FusedNode], constants: [ValueID: Slot], valueCount: Int, outputs: [ValueID],
             skipped: Set<ValueID> = []) throws {
            self.nodes = nodes.map(\.node)
            stepInputs = nodes.map { fused in
                var inputs = fused.node.inputs
                for position in Plan.preparedWeights(of: fused) where position < inputs.count { inputs[position] = nil }
                return inputs
            }
            var constantSlots = [Slot?](repeating: nil, count: valueCount)
            for (id, slot) in constants { constantSlots[id.index] = slot }
            self.constantSlots = constantSlots
            self.skipped = skipped
            var readers = Array(repeating: 0, count: valueCount)
            for fused in nodes { for case let input? in fused.node.inputs { readers[input.index] += 1 } }
            for output in outputs { readers[output.index] += 1 }
            self.readers = readers
            steps = try nodes.map { fused in
                try locating(layer: fused.node.origin) { try Plan.step(fused, constants: constants) }
            }
        }
    }

    /// The most bytes one value may take; a node whose output would need more is refused before it runs.
    /// A config can ask for a tensor of any size (RepeatVector(2**30)), which a kernel would otherwise try to
    /// allocate and abort on. The library sets it to the memory budget of the file readers.
    package var largestValue = Int.max {
        didSet { sizesWithinBudget.withLock { $0 = [:] } }
    }

    /// `fusing`: run the graph with BatchNormalizations folded and activations fused (`FusedProgram`) unless
    /// a run asks for a value that skips; false runs every node as the graph has it.
    package init(_ graph: Graph, fusing: Bool = true) throws {
        self.graph = graph
        var constants: [ValueID: Slot] = [:]
        for (id, constant) in graph.constants {
            let values = try locating(layer: constant.origin, field: "weight '\(constant.name)'") { try constant.read() }
            guard values.count == checkedElementCount(constant.shape) else {
                throw ModelError(layer: constant.origin, field: "weight '\(constant.name)'", "expected \(constant.shape.reduce(1, *)) values, found \(values.count)")
            }
            constants[id] = .tensor(Tensor(shape: constant.shape, values: values))
        }
        self.constants = constants
        if fusing {
            let program = try FusedProgram(graph, constants: constants)
            fused = try Program(program.nodes, constants: constants.merging(program.constants) { $1 }, valueCount: program.valueCount,
                                outputs: graph.outputs, skipped: program.skipped)
        } else {
            fused = try Program(graph.nodes.map { FusedNode(node: $0) }, constants: constants, valueCount: graph.types.count, outputs: graph.outputs)
        }
        if fused.skipped.isEmpty { unfused = .success(fused) }
    }

    /// The positions of `fused`'s inputs that its step took as weights when it was made (`step`), and so never
    /// reads when it runs: a convolution's after its input (before a fused Add's other input), a recurrent
    /// layer's after its input and mask (before any initial states).
    private static func preparedWeights(of fused: FusedNode) -> Range<Int> {
        let count = fused.node.inputs.count
        switch fused.node.op {
        case .convolution: return 1 ..< max(1, count - (fused.addsResidual ? 1 : 0))
        case .recurrent(_, let weights, _): return 2 ..< 2 + weights
        case .convLSTM(let op): return 2 ..< 2 + op.weightCount
        case .bidirectional(let op): return 2 ..< 2 + op.forward.weightCount + op.backward.weightCount
        default: return 0 ..< 0
        }
    }

    /// A node made ready to run, with what was fused into it.
    private static func step(_ fused: FusedNode, constants: [ValueID: Slot]) throws -> Step {
        let (node, epilogue) = (fused.node, fused.epilogue)
        let weights = node.inputs.dropFirst().compactMap { $0.flatMap { constants[$0]?.tensor } }
        switch node.op {
        case .convolution(let op):
            let prepared = try PreparedConvolution(op, weights: weights, inputPadding: fused.inputPadding)
            let (scaling, addsResidual) = (fused.scaling, fused.addsResidual)
            return { inputs in
                guard let input = inputs.first??.asTensor else { throw EngineError("input 0 is missing") }
                // The residual taken out of the inputs: the only reference when this is its last reader.
                var residual: Tensor?
                if addsResidual {
                    guard let last = inputs.indices.last, let slot = inputs[last].take() else { throw EngineError("the Add's other input is missing") }
                    residual = slot.asTensor
                }
                return [.tensor(try prepared.run(input, then: epilogue, scaling: scaling, addingTo: residual))]
            }
        case .recurrent(let op, let count, let returnState):
            let prepared = try PreparedRecurrent(op, weights: Array(weights.prefix(count)), returnState: returnState)
            return { inputs in
                guard let sequence = inputs.first??.asTensor else { throw EngineError("input 0 is missing") }
                let states = inputs.dropFirst(2 + count).compactMap { $0?.asTensor }
                return try prepared.run(sequence, mask: inputs[1]?.mask, initialStates: states).map(Slot.tensor)
            }
        case .convLSTM(let op):
            let prepared = try PreparedConvLSTM(op, weights: Array(weights.prefix(op.weightCount)))
            return { inputs in
                guard let sequence = inputs.first??.asTensor else { throw EngineError("input 0 is missing") }
                let states = inputs.dropFirst(2 + op.weightCount).compactMap { $0?.asTensor }
                return try prepared.run(sequence, mask: inputs[1]?.mask, initialStates: states).map(Slot.tensor)
            }
        case .bidirectional(let op):
            let count = op.forward.weightCount + op.backward.weightCount
            let prepared = try PreparedBidirectional(op, weights: Array(weights.prefix(count)))
            return { inputs in
                guard let sequence = inputs.first??.asTensor else { throw EngineError("input 0 is missing") }
                let states = inputs.dropFirst(2 + count).compactMap { $0?.asTensor }
                return try prepared.run(sequence, mask: inputs[1]?.mask, initialStates: states).map(Slot.tensor)
            }
        default:
            let op = node.op
            guard let epilogue else { return { try execute(op, &$0) } }
            return { inputs in
                var outputs = try execute(op, &inputs)
                // Taken out of the results first, so that the epilogue updates the only reference in place.
                guard case .tensor(var output)? = outputs.first else { return outputs }
                outputs[0] = nil
                try epilogue.apply(to: &output)
                outputs[0] = .tensor(output)
                return outputs
            }
        }
    }

    /// Runs the graph on `inputs` (one per graph input; nil for an absent mask). `retain` values are kept and
    /// returned besides the outputs (per-layer outputs for `verify`, masks of a nested model's outputs).
    /// Errors name the layer a node came from, unless `locating` is false (a layer running its own nodes).
    package func run(_ inputs: [Slot?], retain: Set<ValueID> = [], locating: Bool = true) throws -> (outputs: [Slot?], retained: [ValueID: Slot]) {
        guard inputs.count == graph.inputs.count else {
            throw EngineError("the graph takes \(graph.inputs.count) inputs, found \(inputs.count)")
        }
        let usesFused = retain.isDisjoint(with: fused.skipped)
        let program = usesFused ? fused : try unfused.get()
        _ = Memory.reuseFreedBuffers
        var slots: [Slot?] = Array(repeating: nil, count: program.readers.count)
        var remaining = program.readers
        var retained: [ValueID: Slot] = [:]
        var sizes: [String: Int] = [:]
        for (id, slot) in zip(graph.inputs, inputs) {
            slots[id.index] = slot
            if retain.contains(id), let slot { retained[id] = slot }
            if let shape = graph.types[id.index].shape, let slot, shape.count == slot.shape.count {
                for case (.symbol(let name), let size) in zip(shape, slot.shape) { sizes[name] = size }
            }
        }
        // Sizes every output was found within budget for, by a whole run of this program before: no need to look again.
        let checked = sizesWithinBudget.withLock { $0[usesFused] == sizes }
        let retaining = !retain.isEmpty
        func take(_ id: ValueID?) -> Slot? {
            guard let id else { return nil }
            if let constant = program.constantSlots[id.index] { return constant }
            remaining[id.index] -= 1
            // Its last reader takes it out: no copy, and the only reference.
            if remaining[id.index] == 0, !retaining || !retain.contains(id) { return slots[id.index].take() }
            return slots[id.index]
        }
        // One array for every node's inputs, its storage kept from node to node.
        var inputs: [Slot?] = []
        for index in program.nodes.indices {
            // The node's parts, not the node: copying its op (and the arrays in it) for every node showed in profiles.
            let (inputIDs, outputIDs, origin) = (program.stepInputs[index], program.nodes[index].outputs, program.nodes[index].origin)
            inputs.removeAll(keepingCapacity: true)
            for id in inputIDs { inputs.append(take(id)) }
            func step() throws -> [Slot?] {
                if !checked { try checkSizes(of: outputIDs, symbols: sizes) }
                return try program.steps[index](&inputs)
            }
            let outputs = locating ? try KConvGraph.locating(layer: origin, step) : try step()
            for (id, slot) in zip(outputIDs, outputs) {
                slots[id.index] = slot
                if retaining, retain.contains(id), let slot { retained[id] = slot }
            }
        }
        if !checked { sizesWithinBudget.withLock { $0[usesFused] = sizes } }
        return (graph.outputs.map { slots[$0.index] ?? program.constantSlots[$0.index] }, retained)
    }

    /// For the fused program (true) and the unfused one, the symbolic sizes of the last run whose every output
    /// `checkSizes` found within `largestValue`.
    private let sizesWithinBudget = Mutex<[Bool: [String: Int]]>([:])

    /// Throws if an output, its symbolic dimensions bound to the sizes fed (`symbols`), would take more than
    /// `largestValue` bytes as float32. Outputs whose size is not known before running are left to their kernel.
    private func checkSizes(of outputs: [ValueID], symbols: [String: Int]) throws {
        outputs: for output in outputs {
            guard let shape = graph.types[output.index].shape else { continue }
            var dims: [Int] = []
            for dim in shape {
                switch dim {
                case .size(let size): dims.append(size)
                case .symbol(let name):
                    guard let size = symbols[name] else { continue outputs }
                    dims.append(size)
                }
            }
            guard let bytes = checkedElementCount(dims + [MemoryLayout<Float>.size]), bytes <= largestValue else {
                throw EngineError("expected outputs of at most \(largestValue) bytes (kconv's memory budget), "
                    + "found shape \(dims) of float32 for this input")
            }
        }
    }

    private static func execute(_ op: Op, _ inputs: inout [Slot?]) throws -> [Slot?] {
        /// The `index`-th input, which must be a tensor.
        func tensor(_ index: Int) throws -> Tensor {
            guard index < inputs.count, let tensor = inputs[index]?.asTensor else { throw EngineError("input \(index) is missing") }
            return tensor
        }
        /// The `index`-th input taken out of `inputs`, for a kernel that updates it in place: when this node is
        /// its last reader, the result holds the only reference to its values, so nothing is copied.
        func owned(_ index: Int) throws -> Tensor {
            let value = try tensor(index)
            inputs[index] = nil
            return value
        }
        func optionalTensor(_ index: Int) -> Tensor? { index < inputs.count ? inputs[index]?.tensor : nil }
        /// The `index`-th input as whole numbers: exact when it holds integers, truncated when floats.
        func indices(_ index: Int) throws -> IndexTensor {
            if index < inputs.count, case .integers(let integers)? = inputs[index] { return integers }
            return IndexTensor(truncating: try tensor(index))
        }
        /// The `index`-th input, which must hold text.
        func strings(_ index: Int) throws -> StringTensor {
            guard index < inputs.count, case .strings(let strings)? = inputs[index] else { throw EngineError("input \(index) must hold strings") }
            return strings
        }
        switch op {
        case .dense(let activation):
            var output = try denseProduct(tensor(0), kernel: tensor(1), bias: optionalTensor(2))
            try activation.apply(to: &output)
            return [.tensor(output)]
        case .activation(let activation):
            var output = try owned(0)
            try activation.apply(to: &output)
            return [.tensor(output)]
        case .activationAlongAxes(let activation, let axes):
            var output = try owned(0)
            try activation.apply(to: &output, along: axes)
            return [.tensor(output)]
        case .rectifier(let negativeSlope, let maxValue, let threshold):
            var output = try owned(0)
            Rectifier(negativeSlope: negativeSlope, maxValue: maxValue, threshold: threshold).apply(to: &output.values)
            return [.tensor(output)]
        case .elu(let alpha):
            var output = try owned(0)
            for index in output.values.indices { output.values[index] = Activation.elu(output.values[index], alpha: alpha) }
            return [.tensor(output)]
        case .scaleShift(let scale, let offset):
            return [.tensor(try scaleShift(owned(0), scale: scale, offset: offset))]
        case .gather:
            if case .integers(let indices)? = inputs[1] { return [.tensor(try gather(tensor(0), indices))] }
            return [.tensor(try gather(tensor(0), tensor(1)))]
        case .notEqual(let value):
            if case .integers(let input)? = inputs[0], let exact = Int64(exactly: value) {
                return [.mask(Mask(shape: input.shape, values: input.values.map { $0 != exact }))]
            }
            let input = try tensor(0)
            return [.mask(Mask(shape: input.shape, values: input.values.map { $0 != value }))]
        case .any(let axes, let keepDims):
            return [.mask(try anyAlong(tensor(0), axes: axes, keepDims: keepDims))]
        case .masking(let value):
            let (output, mask) = masking(try tensor(0), value: value)
            return [.tensor(output), .mask(mask)]
        case .reshape(let keeping, let target):
            return [.tensor(try tensor(0).reshaped(keeping: keeping, to: target))]
        case .transpose(let permutation):
            let input = try tensor(0)
            guard permutation.sorted() == Array(0..<input.rank) else {
                throw EngineError("dims \(permutation.dropFirst().map { $0 }) do not fit input shape \(input.shape)")
            }
            return [.tensor(input.permuted(permutation))]
        case .channelsLast:
            let input = try tensor(0)
            return [.tensor(input.rank > 2 ? toChannelsLast(input) : input)]
        case .pad(let before, let after):
            return [.tensor(try tensor(0).checkedPadded(before: before, after: after))]
        case .repeatElements(let axis, let times):
            let input = try tensor(0)
            guard axis < input.rank else { throw EngineError("cannot repeat axis \(axis) of an input of shape \(input.shape)") }
            return [.tensor(input.repeatingElements(along: axis, times: times))]
        case .resize(let op):
            return [.tensor(try op.run(tensor(0)))]
        case .autoContrast(let op):
            return [.tensor(try op.run(tensor(0)))]
        case .histogramEqualization(let op):
            return [.tensor(try op.run(tensor(0)))]
        case .softmax(let op):
            return [.tensor(try op.run(tensor(0), inputMask: inputs[1]?.mask, givenMask: inputs[2]?.asTensor))]
        case .einsum(let op):
            return [.tensor(try op.run(tensor(0), tensor(1), bias: optionalTensor(2)))]
        case .math(let function):
            var output = try owned(0)
            function.apply(to: &output.values)
            return [.tensor(output)]
        case .binary(let operation):
            guard inputs.count == 2, let a = inputs[0], let b = inputs[1] else { throw EngineError("expected 2 operands") }
            return [try operation.run(a, b)]
        case .select:
            return [.tensor(try select(tensor(0), tensor(1), tensor(2)))]
        case .reduce(let op):
            return [.tensor(try op.run(tensor(0)))]
        case .slice(let indices):
            guard let input = inputs.first ?? nil else { throw EngineError("input 0 is missing") }
            return [try sliced(input, indices)]
        case .cast(let dtype):
            guard let input = inputs.first ?? nil else { throw EngineError("input 0 is missing") }
            return [cast(input, to: dtype)]
        case .expandDims(let axis):
            guard let input = inputs.first ?? nil else { throw EngineError("input 0 is missing") }
            return [try expandingDims(input, axis: axis)]
        case .causalMask(let rowAxis, let columnAxis):
            guard inputs.count == 2, let rows = inputs[0]?.shape, let columns = inputs[1]?.shape,
                  (-rows.count..<rows.count).contains(rowAxis), (-columns.count..<columns.count).contains(columnAxis)
            else { throw EngineError("the causal mask's axes \(rowAxis), \(columnAxis) do not fit its inputs") }
            return [.mask(causalMask(rows: rows[(rowAxis + rows.count) % rows.count], columns: columns[(columnAxis + columns.count) % columns.count]))]
        case .prelu:
            return [.tensor(try prelu(tensor(0), alpha: tensor(1)))]
        case .pool(let op):
            return [.tensor(try op.run(tensor(0)))]
        case .globalPool(let op):
            return [.tensor(try op.run(tensor(0), mask: inputs[1]?.mask))]
        case .adaptivePool(let op):
            return [.tensor(try op.run(tensor(0)))]
        case .batchNorm(let op):
            return [.tensor(try op.run(owned(0), gamma: optionalTensor(1), beta: optionalTensor(2), mean: tensor(3), variance: tensor(4)))]
        case .layerNorm(let op):
            return [.tensor(try op.run(tensor(0), gamma: optionalTensor(1), beta: optionalTensor(2)))]
        case .groupNorm(let op):
            return [.tensor(try op.run(tensor(0), gamma: optionalTensor(1), beta: optionalTensor(2)))]
        case .l2Normalize(let axes, let normFloor):
            let input = try tensor(0)
            guard axes.allSatisfy({ (0..<input.rank).contains($0) }) else { throw EngineError("cannot normalise axes \(axes) of shape \(input.shape)") }
            return [.tensor(input.mappingRows(over: axes) { RowKernels.l2Normalize(&$0, rows: $1, width: $2, normFloor: normFloor) })]
        case .standardize(let op):
            return [.tensor(try op.run(tensor(0), mean: tensor(1), variance: tensor(2)))]
        case .bucketize(let boundaries):
            return [.integers(bucketize(try tensor(0), boundaries: boundaries))]
        case .categoryEncoding(let op):
            return [.tensor(try op.run(indices(0)))]
        case .integerLookup(let op):
            return [.integers(try op.run(indices(0)))]
        case .stringLookup(let op):
            return [op.invert ? .strings(op.run(try indices(0))) : .integers(try op.run(strings(0)))]
        case .textVectorization(let op):
            return [.integers(try op.run(strings(0)))]
        case .hashedCrossing(let bins):
            return [.integers(try hashedCross(inputs.compactMap { $0 }, bins: bins))]
        case .hashing(let op):
            if case .strings(let strings)? = inputs.first { return [.integers(op.run(strings))] }
            // Keras 3 compares float inputs with the mask value before it truncates them to hash.
            return [.integers(op.run(try indices(0), floats: inputs.first??.tensor))]
        case .foldTime:
            return [.tensor(try TimeFolding.fold(tensor(0)))]
        case .foldTimeMask:
            guard let mask = inputs[1]?.mask else { return [nil] }
            return [try TimeFolding.stepMask(tensor(0), mask).map(Slot.mask)]
        case .unfoldTime:
            return [.tensor(try TimeFolding.unfold(tensor(0), like: tensor(1)))]
        case .timeDistributedMask(let keras3):
            return [TimeFolding.outputMask(try tensor(0), inputMask: inputs[1]?.mask, innerMask: inputs[2]?.mask, keras3: keras3).map(Slot.mask)]
        case .merge(let op):
            return try callSlots(inputs) { try op.run($0) }
        case .concatenate(let op):
            return try callSlots(inputs) { try op.run($0) }
        case .dot(let op):
            return try callSlots(inputs) { try op.run($0) }
        case .reverseTime:
            guard let input = inputs.first ?? nil else { throw EngineError("input 0 is missing") }
            return [try reversingTime(input)]
        case .convolution, .recurrent, .bidirectional, .convLSTM:
            throw EngineError("the operation's weights were not prepared")
        case .unsupported(let reason):
            throw EngineError(reason)
        }
    }

    /// Runs an operation over a whole layer call: `inputs` holds the call's tensors, then one mask for each;
    /// the result is the output tensors, then one mask for each.
    private static func callSlots(_ inputs: [Slot?], _ run: (LayerCall) throws -> LayerOutput) throws -> [Slot?] {
        let count = inputs.count / 2
        let output = try run(LayerCall(inputs: inputs[..<count].compactMap { $0?.asTensor }, masks: inputs[count...].map { $0?.mask }))
        return output.tensors.map { Slot.tensor($0) } + output.tensors.indices.map { index in
            index < output.masks.count ? output.masks[index].map(Slot.mask) : nil
        }
    }
}
