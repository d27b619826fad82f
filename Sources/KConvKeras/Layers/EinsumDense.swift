import KConvGraph
import KConvIO

/// `EinsumDense(equation, output_shape, bias_axes, activation)`: `activation(einsum(equation, x, kernel) + bias)`.
///
/// Keras allows three forms of equation (`_analyze_einsum_string`): `ab,bc->ac`, `...ab,bc->...ac` and
/// `ab...,bc->ac...`, the ellipsis standing for the input's axes the term leaves out (the batch axis among
/// them on the left). `output_shape` lists the output's sizes after the batch axis and without the ellipsis's,
/// `None` where the input gives it; the kernel takes each letter's size from the input or the output, and
/// the bias spans the output's axes from the first letter of `bias_axes` to the last (size 1 where a letter is
/// not in `bias_axes`). Keras 3's LoRA and quantized kernels are a training-time matter: files hold the
/// merged float kernel.
package final class EinsumDense: Layer {
    package override class var kerasClassNames: [String] { ["EinsumDense"] }
    package override class var examples: [LayerExample] {
        [LayerExample("EinsumDense", ["equation": "abc,cde->abde", "output_shape": [nil, 2, 2], "bias_axes": "de"], inputs: [[3, 2]])]
    }
    package let equation: EinsumDenseEquation
    /// The sizes after the batch axis, nil where the input gives them.
    package let partialOutputShape: [Int?]
    package let biasAxes: String?
    package let activation: Activation

    package required init(_ context: LayerContext) throws {
        let config = context.config
        equation = try EinsumDenseEquation(config.string("equation"), field: "config.equation")
        let shape = config.object["output_shape"]
        if let single = shape?.intValue {
            partialOutputShape = [single]
        } else {
            partialOutputShape = try config.shape("output_shape")
        }
        biasAxes = config.object["bias_axes"].flatMap(\.stringValue)
        activation = config.activation("activation", default: "linear", dialect: context.dialect)
        try super.init(context)
    }

    /// The equation's shapes for this input, as this layer's Keras generation works them out.
    private func analysis(_ input: TensorShape) throws -> EinsumDenseEquation.Analysis {
        try locating(layer: label) {
            try equation.analyze(input: input, partialOutput: partialOutputShape, biasAxes: biasAxes, kernelFromOutputFirst: dialect >= .keras3)
        }
    }

    package override func makeWeights(_ inputShapes: [TensorShape]) throws -> [WeightSpec] {
        let shapes = try analysis(singleInput(inputShapes))
        return [weight("kernel", shapes.kernel, index: 0)] + (shapes.bias.map { [weight("bias", $0, index: 1)] } ?? [])
    }

    override package func outputShapes(_ inputShapes: [TensorShape]) throws -> [TensorShape] {
        [try analysis(singleInput(inputShapes)).output]
    }

    /// One einsum node; EinsumDense does not support masking, so no mask comes out.
    package override func lower(_ call: LoweringCall, into graph: inout Graph) throws -> [LoweredTensor] {
        let input = try singleInput(call)
        // Downstream of a layer kconv cannot compute, the input's rank (and so the equation) is unknown;
        // running fails at that layer first.
        guard let shape = builtInputShapes?.first else { return lowerUnsupported(call, into: &graph) }
        let shapes = try analysis(shape)
        let weights = try weightValues(&graph)
        let op = Op.einsum(EinsumOp(equation: shapes.explicitEquation, activation: activation))
        return lowerUnmasked(op, input.value, call, weights: weights, into: &graph)
    }

    override package var unsupportedReason: String? { activation.unsupportedReason }

    package override func affineArguments(of key: String) -> [WeightScaling]? { key == "activation" ? allWeightsScaled : nil }
}

/// An EinsumDense equation, parsed as Keras's `_analyze_einsum_string` reads it.
package struct EinsumDenseEquation: Sendable {
    package enum Ellipsis: Sendable { case none, left, right }

    package let text: String
    package let input: [Character]
    package let kernel: [Character]
    package let output: [Character]
    package let ellipsis: Ellipsis

    /// What an equation gives for one input shape.
    package struct Analysis {
        package var kernel: [Int]
        package var bias: [Int]?
        /// The output's full shape (Keras leaves `None` where `output_shape` does; kconv knows the size).
        package var output: TensorShape
        /// The equation without an ellipsis, its letters standing for the input's axes.
        package var explicitEquation: String
    }

    /// `field` names the config key in errors.
    package init(_ text: String, field: String) throws {
        self.text = text
        let marked = text.replacingOccurrences(of: "...", with: "0")
        let sides = marked.split(separator: "->", omittingEmptySubsequences: false)
        let operands = sides.first?.split(separator: ",", omittingEmptySubsequences: false) ?? []
        let invalid = ModelError(field: field, "'\(text)' is not an EinsumDense equation: expected [X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]...")
        guard sides.count == 2, operands.count == 2 else { throw invalid }
        var (input, kernel, output) = (Array(operands[0]), Array(operands[1]), Array(sides[1]))
        if input.first == "0", output.first == "0" {
            ellipsis = .left
            input.removeFirst()
            output.removeFirst()
        } else if input.last == "0", output.last == "0", input.count >= 3 {
            ellipsis = .right
            input.removeLast()
            output.removeLast()
        } else {
            ellipsis = .none
        }
        let letters = { (term: [Character]) in !term.isEmpty && term.allSatisfy { $0.isASCII && $0.isLetter } }
        guard letters(input), letters(kernel), letters(output) else { throw invalid }
        guard [input, kernel, output].allSatisfy({ Set($0).count == $0.count }) else {
            throw ModelError(field: field, "'\(text)' names an axis twice in one term, which EinsumDense does not take")
        }
        if let missing = output.first(where: { !input.contains($0) && !kernel.contains($0) }) {
            throw ModelError(field: field, "'\(text)': output axis '\(missing)' is in neither the input nor the kernel")
        }
        if let missing = kernel.first(where: { !input.contains($0) && !output.contains($0) }) {
            throw ModelError(field: field, "'\(text)': kernel axis '\(missing)' is in neither the input nor the output, so its size is unknown")
        }
        (self.input, self.kernel, self.output) = (input, kernel, output)
    }

    /// The kernel, bias and output shapes for `input`, with `partialOutput` the config's `output_shape`.
    /// `kernelFromOutputFirst`: a kernel letter in both the input and the output takes the output's size
    /// (Keras 3) rather than the input's (tf-keras).
    package func analyze(input shape: TensorShape, partialOutput: [Int?], biasAxes: String?, kernelFromOutputFirst: Bool) throws -> Analysis {
        let elided = shape.count - input.count
        guard ellipsis == .none ? elided == 0 : elided >= 0 else {
            throw ModelError(field: "config.equation", "'\(text)' does not fit an input of shape \(shape.kerasDescription)")
        }
        // `output_shape` lines up with the output term after its batch letter, or (ellipsis on the left, which
        // takes the batch axis) with all of it.
        let outputOffset = ellipsis == .left ? 0 : 1
        guard partialOutput.count == output.count - outputOffset else {
            throw ModelError(field: "config.output_shape", "expected \(output.count - outputOffset) sizes for the output '\(String(output))' of '\(text)', found \(partialOutput.count)")
        }
        let inputOffset = ellipsis == .left ? elided : 0
        var inputSizes: [Character: Int?] = [:]
        for (index, letter) in input.enumerated() { inputSizes[letter] = shape[inputOffset + index] }
        var outputSizes: [Character: Int?] = [:]
        for (index, letter) in output.enumerated() where index >= outputOffset {
            outputSizes[letter] = partialOutput[index - outputOffset]
            if let given = partialOutput[index - outputOffset], let known = inputSizes[letter] ?? nil, given != known {
                throw ModelError(field: "config.output_shape", "axis '\(letter)' of '\(text)' is \(known) in the input but \(given) in output_shape")
            }
        }
        func size(_ letter: Character) -> Int? {
            let fromInput = inputSizes[letter] ?? nil, fromOutput = outputSizes[letter] ?? nil
            return kernelFromOutputFirst ? fromOutput ?? fromInput : fromInput ?? fromOutput
        }
        let kernelShape = try kernel.map { letter -> Int in
            guard let size = size(letter), size > 0 else {
                throw ModelError(field: "config.output_shape", "the kernel's axis '\(letter)' of '\(text)' needs a known size, found none for input \(shape.kerasDescription)")
            }
            return size
        }
        var bias: [Int]?
        if let biasAxes {
            guard let first = output.firstIndex(where: { biasAxes.contains($0) }), biasAxes.allSatisfy(output.contains) else {
                throw ModelError(field: "config.bias_axes", "'\(biasAxes)' names axes outside the output '\(String(output))' of '\(text)'")
            }
            bias = try output[first...].map { letter -> Int in
                guard biasAxes.contains(letter) else { return 1 }
                guard let size = size(letter) else {
                    throw ModelError(field: "config.bias_axes", "the bias axis '\(letter)' needs a known size, found none for input \(shape.kerasDescription)")
                }
                return size
            } + (ellipsis == .right ? Array(repeating: 1, count: elided) : [])
        }
        // The ellipsis's axes get letters no term uses.
        let used = Set(input + kernel + output)
        let spare = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ").filter { !used.contains($0) }
        guard spare.count >= elided else { throw ModelError(field: "config.equation", "'\(text)' leaves no letters for an input of rank \(shape.count)") }
        let extra = Array(spare.prefix(elided))
        let (fullInput, fullOutput): ([Character], [Character]) = ellipsis == .right
            ? (input + extra, output + extra) : (extra + input, extra + output)
        var sizes: [Character: Int?] = Dictionary(uniqueKeysWithValues: zip(fullInput, shape))
        for (letter, size) in zip(kernel, kernelShape) where sizes[letter] == nil { sizes[letter] = size }
        let outputShape = fullOutput.map { sizes[$0] ?? nil }
        return Analysis(kernel: kernelShape, bias: bias, output: outputShape,
                        explicitEquation: String(fullInput) + "," + String(kernel) + "->" + String(fullOutput))
    }
}
