import KConvGraph
import KConvIO
/// ConvLSTM1D, ConvLSTM2D, ConvLSTM3D: an LSTM whose products are convolutions, over `(batch, time,
/// spatial…, channels)` (channels_first: `(batch, time, channels, spatial…)`).

/// Gates `[i f c o]` along the kernels' last axis, as LSTM's. The input convolution takes the layer's strides,
/// padding and dilation; the recurrent one stride 1 and `same` padding. Keras 3 keeps the weights under
/// `cell/vars/`, tf-keras names them in the layer's own scope (`conv_lstm2d/kernel:0`).
package final class ConvLSTM: Layer {
    package override class var kerasClassNames: [String] { ["ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"] }
    package override class var examples: [LayerExample] {
        kerasClassNames.map { className in
            let rank = ConvolutionBase.spatialRank(className)
            return LayerExample(className, ["filters": 2, "kernel_size": 2], inputs: [[3] + LayerExample.spatialInput(rank: rank)])
        }
    }

    package let rank: Int
    package let filters: Int
    package let kernelSize: [Int]
    package let strides: [Int]
    package let padding: String
    package let dilation: [Int]
    package let channelsFirst: Bool
    package let useBias: Bool
    package let activation: Activation
    package let recurrentActivation: Activation
    package let returnSequences: Bool
    package let returnState: Bool
    package let goBackwards: Bool
    package let stateful: Bool
    package let zeroOutputForMask: Bool

    package required init(_ context: LayerContext) throws {
        let config = context.config
        rank = ConvolutionBase.spatialRank(context.className)
        filters = try config.int("filters")
        guard filters > 0 else { throw config.error("filters", expected: "a positive integer", found: config.object["filters"]) }
        kernelSize = try config.positiveInts("kernel_size", count: rank)
        strides = try config.positiveInts("strides", count: rank, default: Array(repeating: 1, count: rank))
        padding = try config.choice("padding", ["valid", "same"], default: "valid")
        dilation = try config.positiveInts("dilation_rate", count: rank, default: Array(repeating: 1, count: rank))
        channelsFirst = try config.channelsFirst()
        useBias = try config.bool("use_bias", default: true)
        activation = config.activation("activation", default: "tanh", dialect: context.dialect)
        // tf-keras's ConvLSTM defaults to hard_sigmoid, Keras 3's to sigmoid.
        recurrentActivation = config.activation("recurrent_activation", default: context.dialect >= .keras3 ? "sigmoid" : "hard_sigmoid",
                                                dialect: context.dialect)
        returnSequences = try config.bool("return_sequences", default: false)
        returnState = try config.bool("return_state", default: false)
        goBackwards = try config.bool("go_backwards", default: false)
        stateful = try config.bool("stateful", default: false)
        zeroOutputForMask = try config.bool("zero_output_for_mask", default: false)
        try super.init(context)
    }

    /// The shape of one step, `(batch, spatial…, channels)` in the layer's data format.
    private func step(_ inputShapes: [TensorShape]) throws -> SpatialShape {
        let input = try firstInput(inputShapes, rank + 3 ... rank + 3, "a \(rank + 3)-D (batch, timesteps, \(rank) spatial axes, channels)")
        return try SpatialShape([input[0]] + input.dropFirst(2), rank: rank, channelsFirst: channelsFirst, of: self)
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        guard let channels = try step(inputShapes).channels else {
            throw ModelError(layer: label, "the input's channel dimension must be known to build weights")
        }
        var specs = [weight("kernel", kernelSize + [channels, 4 * filters], index: 0, owner: "cell/"),
                     weight("recurrent_kernel", kernelSize + [filters, 4 * filters], index: 1, owner: "cell/")]
        if useBias { specs.append(weight("bias", [4 * filters], index: 2, owner: "cell/")) }
        return specs
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        var state = try step(inputShapes)
        state.spatial = state.spatial.indices.map { axis in
            convOutputLength(state.spatial[axis], kernel: kernelSize[axis], padding: padding, stride: strides[axis], dilation: dilation[axis])
        }
        state.channels = filters
        let shape = state.shape
        let steps = inputShapes[0][1]
        let output = returnSequences ? [shape[0], steps] + shape.dropFirst() : shape
        return [output] + (returnState ? [shape, shape] : [])
    }

    package override var callSignature: CallSignature { .sequenceAndStates }
    package override var versionOnlyKeys: [VersionOnlyKey] { CellSettings.versionOnlyKeys }

    package override func exportConfig(_ config: inout JSONObject, _ export: ConfigExport) throws {
        try export.setActivation(&config, "activation", activation, of: self)
        try export.setActivation(&config, "recurrent_activation", recurrentActivation, of: self)
        try exportTimeMajor(&config, export, false)
    }

    /// `recurrent_activation` gets the pre-activations of gates i, f and o (blocks 0, 1, 3 of `[i f c o]`
    /// along the last axis of kernel, recurrent kernel and bias), so scaling them scales its argument.
    package override func affineArguments(of key: String) -> [WeightScaling]? {
        key == "recurrent_activation" ? weightSpecs.indices.map { WeightScaling($0, blocks: 4, parts: [0, 1, 3]) } : nil
    }

    override package var unsupportedReason: String? {
        sequenceUnsupportedReason(stateful: stateful, timeMajor: false)
            ?? activation.inPlaceUnsupportedReason ?? recurrentActivation.inPlaceUnsupportedReason
    }

    /// The op runs channels_last; a channels_first layer's input, initial states and outputs are
    /// transposed around it. Initial states come as for LSTM (`h, c`); a sequence output keeps the mask.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        guard let input = call.inputs.first else { throw EngineError("expected an input, found none") }
        let mask = recurrentMask(call, into: &graph)
        let window = ConvolutionOp(kind: .regular(filters: 4 * filters, groups: 1), kernelSize: kernelSize, strides: strides, padding: padding,
                                   dilation: dilation, channelsFirst: false, useBias: useBias, activation: .linear)
        let op = ConvLSTMOp(input: window, filters: filters, activation: activation, recurrentActivation: recurrentActivation,
                            goBackwards: goBackwards, returnSequences: returnSequences, returnState: returnState, zeroOutputForMask: zeroOutputForMask)
        // Axis permutations of a value whose channels follow `leading` axes (batch, or batch and time).
        func toLast(_ leading: Int) -> [Int] { Array(0 ..< leading) + Array(leading + 1 ... leading + rank) + [leading] }
        func toFirst(_ leading: Int) -> [Int] { Array(0 ..< leading) + [leading + rank] + Array(leading ..< leading + rank) }
        func moved(_ value: ValueID, _ permutation: [Int]) -> ValueID {
            channelsFirst ? addNode(.transpose(permutation), [value], shape: nil, into: &graph) : value
        }
        let states = initialStates(call).map { moved($0.value, toLast(1)) }
        let count = 1 + (returnState ? 2 : 0)
        let types = (0 ..< count).map { index in
            ValueType(dtype: .float32, shape: channelsFirst ? nil : call.outputShapes.flatMap { index < $0.count ? $0[index].dims : nil })
        }
        let outputs = graph.add(.convLSTM(op), inputs: [moved(input.value, toLast(2)), mask] + (try weightValues(&graph)) + states,
                                outputs: types, origin: label)
        return outputs.enumerated().map { index, value in
            let sequence = index == 0 && returnSequences
            return LoweredTensor(value: moved(value, toFirst(sequence ? 2 : 1)), mask: sequence ? mask : nil)
        }
    }
}
