import KConvGraph
import ONNXProto

/// ConvLSTM as an ONNX `Scan` over the time axis (ONNX has no ConvLSTM operator). The body graph is one
/// step of Keras's ConvLSTMCell, channels-first: the input and recurrent convolutions, the gates `[i f c o]`
/// and the new states; with a mask, a masked step keeps the states and outputs the previous output (or
/// zeros with `zeroOutputForMask`), as Keras's `backend.rnn`. `go_backwards` scans the input in reverse and
/// stacks the outputs in the order walked, as Keras returns them.
extension ONNXTranslator {
    /// `[x, mask?, kernel, recurrent_kernel, bias?, h0?, c0?]` → `[output, h, c]`.
    mutating func translateConvLSTM(_ node: GraphNode, _ op: ConvLSTMOp) throws {
        guard let input = node.inputs[0] else { throw ModelError("expected an input sequence") }
        let rank = op.input.rank, f = op.filters
        let spatial = Array(0 ..< rank)
        // [b, t, spatial…, channels] → [b, t, channels, spatial…]: every step channels-first, as Conv reads it.
        let sequence = transpose(try name(input), [0, 1, rank + 2] + spatial.map { $0 + 2 })
        let kernel = try weight(constantWeight(node.inputs, 2), permutation: [rank + 1, rank] + spatial, name: "kernel")
        let recurrentKernel = try weight(constantWeight(node.inputs, 3), permutation: [rank + 1, rank] + spatial, name: "recurrent_kernel")
        let bias = try op.input.useBias ? [name(required(node.inputs, 4))] : []
        let inputSize = staticShape(of: input).map { Array($0.dropFirst(2).dropLast()) }
        let inputAttributes = [Attr.attribute("strides", ints: op.input.strides), Attr.attribute("dilations", ints: op.input.dilation)]
            + (try padding(op.input, spatial: inputSize))
        let recurrentAttributes = try padding(op.recurrent, spatial: nil)
        let mask = try node.inputs[1].map { try name($0, dtype: .bool) }

        // Initial states: given (channels-first), else zeros shaped as the input convolution of one step.
        let given = try node.inputs.dropFirst(2 + op.weightCount).compactMap { $0 }.map { try name($0, layout: .channelsFirst) }
        guard given.isEmpty || given.count == 2 else { throw ModelError("expected 2 initial states (h, c), found \(given.count)") }
        var initial = given
        if given.isEmpty || mask != nil {
            let first = squeeze(slice(sequence, starts: [0], ends: [1], axes: [1]), axes: [1])
            let projected = builder.add1("Conv", [first, kernel], inputAttributes)
            let zeros = builder.add1("ConstantOfShape", [builder.add1("Shape", [slice(projected, starts: [0], ends: [f], axes: [1])])])
            // States h, c and, with a mask, the previous output (zeros at first, as Keras's prev_output).
            initial = (given.isEmpty ? [zeros, zeros] : given) + (mask == nil ? [] : [zeros])
        }

        let start = builder.nodes.count
        let stateInputs = ["h", "c", "output"].prefix(initial.count).map { builder.freshName("\(builder.scope)/step_\($0)") }
        let stepInput = builder.freshName("\(builder.scope)/step_x"), stepMask = builder.freshName("\(builder.scope)/step_mask")
        let z = builder.add1("Add", [builder.add1("Conv", [stepInput, kernel] + bias, inputAttributes),
                                     builder.add1("Conv", [stateInputs[0], recurrentKernel], recurrentAttributes)])
        let gate = { (translator: inout ONNXTranslator, index: Int, activation: Activation) throws -> String in
            try translator.apply(activation, translator.slice(z, starts: [index * f], ends: [(index + 1) * f], axes: [1]), axis: 1)
        }
        let (i, forget) = (try gate(&self, 0, op.recurrentActivation), try gate(&self, 1, op.recurrentActivation))
        let (candidate, o) = (try gate(&self, 2, op.activation), try gate(&self, 3, op.recurrentActivation))
        var c = builder.add1("Add", [builder.add1("Mul", [forget, stateInputs[1]]), builder.add1("Mul", [i, candidate])])
        var h = builder.add1("Mul", [o, try apply(op.activation, c, axis: 1)])
        var stepOutput = h
        if mask != nil {
            let kept = unsqueeze(stepMask, axes: Array(1 ... rank + 1))
            stepOutput = builder.add1("Where", [kept, h, op.zeroOutputForMask ? builder.scalar(0) : stateInputs[2]])
            c = builder.add1("Where", [kept, c, stateInputs[1]])
            h = builder.add1("Where", [kept, h, stateInputs[0]])
        }
        let stateOutputs = [h, c] + (mask == nil ? [] : [stepOutput])
        let scanOutput = builder.add1("Identity", [stepOutput])
        var body = Onnx_GraphProto()
        body.name = builder.freshName("\(builder.scope)/step")
        body.node = builder.takeNodes(from: start)
        // The Scan body's values take their shapes from the outer graph: element types only.
        body.input = (stateInputs + [stepInput]).map { ONNXExporter.valueInfo($0, dtype: .float32) }
            + (mask == nil ? [] : [ONNXExporter.valueInfo(stepMask, dtype: .bool)])
        body.output = (stateOutputs + [scanOutput]).map { ONNXExporter.valueInfo($0, dtype: .float32) }

        let scanInputs = mask == nil ? 1 : 2
        let direction = op.goBackwards ? 1 : 0
        let outputs = builder.add("Scan", initial + [sequence] + (mask.map { [$0] } ?? []), outputs: initial.count + 1, [
            Attr.attribute("body", graph: body),
            Attr.attribute("num_scan_inputs", int: scanInputs),
            Attr.attribute("scan_input_axes", ints: Array(repeating: 1, count: scanInputs)),
            Attr.attribute("scan_input_directions", ints: Array(repeating: direction, count: scanInputs)),
            Attr.attribute("scan_output_axes", ints: [1]),
        ])
        if op.returnSequences {
            // [b, t, filters, spatial…] → [b, t, spatial…, filters].
            produce(node.outputs[0], transpose(outputs[initial.count], [0, 1] + spatial.map { $0 + 3 } + [2]), rank: rank + 3)
        } else {
            produce(node.outputs[0], outputs[mask == nil ? 0 : 2], layout: .channelsFirst, rank: rank + 2)
        }
        guard op.returnState else { return }
        for (value, state) in zip(node.outputs.dropFirst(), outputs.prefix(2)) {
            produce(value, state, layout: .channelsFirst, rank: rank + 2)
        }
    }

    private func required(_ inputs: [ValueID?], _ index: Int) throws -> ValueID {
        guard index < inputs.count, let value = inputs[index] else { throw ModelError("expected input \(index), found none") }
        return value
    }
}
