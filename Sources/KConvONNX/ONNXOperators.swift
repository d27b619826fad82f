import KConvGraph
import ONNXProto

typealias Attr = ONNXGraphBuilder

extension ONNXTranslator {
    /// Adds the ONNX nodes computing `node`.
    mutating func translate(_ node: GraphNode) throws {
        var node = node
        node.inputs = node.inputs.map { $0.flatMap { absent.contains($0) ? nil : $0 } }
        let inputs = node.inputs, outputs = node.outputs
        func input(_ index: Int) throws -> ValueID {
            guard index < inputs.count, let value = inputs[index] else { throw ModelError("expected input \(index), found none") }
            return value
        }
        func optional(_ index: Int) -> ValueID? { index < inputs.count ? inputs[index] : nil }
        switch node.op {
        case .dense(let activation):
            try translateDense(try input(0), kernel: try input(1), bias: optional(2), activation: activation, output: outputs[0])
        case .activation(let activation):
            try elementwise(try input(0), output: outputs[0], keepsLayout: !activation.actsOnLastAxis) { translator, x in
                try translator.apply(activation, x)
            }
        case .activationAlongAxes(let activation, let axes):
            try translateActivation(try input(0), activation, axes: axes, output: outputs[0])
        case .rectifier(let slope, let maxValue, let threshold):
            try elementwise(try input(0), output: outputs[0]) { translator, x in
                translator.rectifier(x, negativeSlope: slope, maxValue: maxValue, threshold: threshold)
            }
        case .elu(let alpha):
            try elementwise(try input(0), output: outputs[0]) { translator, x in
                translator.builder.add1("Elu", [x], [Attr.attribute("alpha", float: alpha)])
            }
        case .scaleShift(let scale, let offset):
            try translateScaleShift(try input(0), scale: scale, offset: offset, output: outputs[0])
        case .gather:
            let table = try name(try input(0)), indices = try name(try input(1), dtype: .int64)
            produce(outputs[0], builder.add1("Gather", [table, indices], [Attr.attribute("axis", int: 0)]))
        case .notEqual(let value):
            let x = try name(try input(0))
            produce(outputs[0], notEqual(x, value), dtype: .bool, rank: rank(of: try input(0)))
        case .any(let axes, let keepDims):
            let x = try input(0), rank = try knownRank(of: x)
            let reduced = axes.map { $0.map { $0 < 0 ? $0 + rank : $0 } } ?? Array(0 ..< rank)
            let any = reduce("ReduceMax", cast(try name(x, dtype: .bool), to: .int32), axes: reduced, keepDims: keepDims)
            produce(outputs[0], cast(any, to: .bool), dtype: .bool, rank: keepDims ? rank : rank - Set(reduced).count)
        case .masking(let value):
            try translateMasking(try input(0), value: value, outputs: outputs)
        case .reshape(let keeping, let shape):
            produce(outputs[0], reshape(try name(try input(0)), Array(repeating: 0, count: keeping) + shape))
        case .transpose(let permutation):
            produce(outputs[0], transpose(try name(try input(0)), permutation))
        case .channelsLast:
            let x = try input(0), rank = try knownRank(of: x)
            produce(outputs[0], rank > 2 ? transpose(try name(x), ChannelPermutation.toLast(rank: rank)) : try name(x))
        case .pad(let before, let after):
            try translatePad(try input(0), before: before, after: after, output: outputs[0])
        case .repeatElements(let axis, let times):
            try translateRepeat(try input(0), axis: axis, times: times, output: outputs[0])
        case .resize(let op):
            try translateImageResize(try input(0), op, output: outputs[0])
        case .autoContrast(let op):
            try translateAutoContrast(try input(0), op, output: outputs[0])
        case .histogramEqualization(let op):
            try translateHistogramEqualization(try input(0), op, output: outputs[0])
        case .merge(let op):
            try translateMerge(node, op)
        case .concatenate(let op):
            try translateConcatenate(node, op)
        case .dot(let op):
            try translateDot(node, op)
        case .softmax(let op):
            try translateSoftmax(try input(0), op, mask: optional(1), givenMask: optional(2), output: outputs[0])
        case .einsum(let op):
            try translateEinsum(try input(0), try input(1), bias: optional(2), op, output: outputs[0])
        case .math(let function):
            let x = try name(try input(0))
            let y = switch function {
            case .sqrt: builder.add1("Sqrt", [x])
            case .log: builder.add1("Log", [x])
            case .atLeast(let floor): builder.add1("Max", [x, builder.scalar(floor)])
            }
            produce(outputs[0], y)
        case .binary(let operation):
            try translateBinary(try input(0), try input(1), operation, output: outputs[0])
        case .select:
            let rank = try [input(0), input(1), input(2)].map { try knownRank(of: $0) }.max() ?? 0
            produce(outputs[0], builder.add1("Where", [try name(try input(0), dtype: .bool), try name(try input(1)), try name(try input(2))]), rank: rank)
        case .reduce(let op):
            try translateReduce(try input(0), op, output: outputs[0])
        case .slice(let indices):
            try translateSlice(try input(0), indices, output: outputs[0])
        case .cast(let dtype):
            let source = try producedValue(try input(0))
            produce(outputs[0], cast(try name(try input(0), dtype: source.dtype), to: dtype), dtype: dtype, rank: source.rank)
        case .expandDims(let axis):
            try translateExpandDims(try input(0), axis: axis, output: outputs[0])
        case .causalMask(let rowAxis, let columnAxis):
            try translateCausalMask(rows: try input(0), rowAxis: rowAxis, columns: try input(1), columnAxis: columnAxis, output: outputs[0])
        case .prelu:
            produce(outputs[0], builder.add1("PRelu", [try name(try input(0)), try name(try input(1))]))
        case .pool(let op):
            try translatePool(try input(0), op, output: outputs[0])
        case .globalPool(let op):
            try translateGlobalPool(try input(0), op, mask: optional(1), output: outputs[0])
        case .adaptivePool(let op):
            try translateAdaptivePool(try input(0), op, output: outputs[0])
        case .batchNorm(let op):
            try translateBatchNorm(try input(0), op, gamma: optional(1), beta: optional(2), mean: try input(3), variance: try input(4), output: outputs[0])
        case .layerNorm(let op):
            try translateLayerNorm(try input(0), op, gamma: optional(1), beta: optional(2), output: outputs[0])
        case .groupNorm(let op):
            try translateGroupNorm(try input(0), op, gamma: optional(1), beta: optional(2), output: outputs[0])
        case .l2Normalize(let axes, let normFloor):
            try translateL2Normalize(try input(0), axes: axes, normFloor: normFloor, output: outputs[0])
        case .standardize(let op):
            try translateStandardize(try input(0), op, mean: try input(1), variance: try input(2), output: outputs[0])
        case .bucketize(let boundaries):
            try translateBucketize(try input(0), boundaries: boundaries, output: outputs[0])
        case .categoryEncoding(let op):
            try translateCategoryEncoding(try input(0), op, output: outputs[0])
        case .integerLookup(let op):
            try translateIntegerLookup(try input(0), op, output: outputs[0])
        case .hashing(let op):
            guard graph.type(of: try input(0)).dtype != .string, op.salt == nil else {
                throw ModelError("Hashing hashes strings with FarmHash (SipHash when salted), and ONNX has no operator that computes those hashes")
            }
            throw ModelError("Hashing hashes each number's decimal string with FarmHash, and ONNX has no operator that formats numbers as strings or computes that hash")
        case .stringLookup(let op):
            try translateStringLookup(try input(0), op, output: outputs[0])
        case .textVectorization:
            throw ModelError("TextVectorization splits strings into a varying number of tokens and n-grams, which ONNX's string operators (StringNormalizer, a 1-D-only StringSplit) cannot reproduce as TensorFlow does")
        case .hashedCrossing:
            throw ModelError("HashedCrossing chains FarmHash fingerprints, and ONNX has no operator that computes that hash")
        case .convolution(let op):
            try translateConvolution(try input(0), op, weights: Array(inputs.dropFirst()), output: outputs[0])
        case .recurrent(let op, let weightCount, let returnState):
            try translateRecurrent(node, op, weightCount: weightCount, returnState: returnState)
        case .bidirectional(let op):
            try translateBidirectional(node, op)
        case .convLSTM(let op):
            try translateConvLSTM(node, op)
        case .reverseTime:
            let x = try input(0), source = try producedValue(x)
            // The recurrent operators read a mask as sequence lengths of trailing padding, which a reversed mask is not.
            guard source.dtype != .bool else {
                throw ModelError("ONNX's recurrent operators take masks as sequence lengths, which cannot hold the reversed mask of stacked RNN cells run backwards")
            }
            // Steps of -1 from the last element to before the first (INT64_MIN ends the slice there).
            produce(outputs[0], slice(try name(x, dtype: source.dtype), starts: [-1], ends: [Int(Int64.min)], axes: [1], steps: [-1]),
                    dtype: source.dtype, rank: try knownRank(of: x))
        case .foldTime:
            let x = try name(try input(0)), rank = try knownRank(of: try input(0))
            // A constant shape where the output's sizes after the batch are known: one node instead of four
            // (each node costs onnxruntime microseconds, which is most of a small model's time at batch 1).
            if let sizes = knownSizes(of: outputs[0], from: 1) { return produce(outputs[0], reshape(x, [-1] + sizes)) }
            let rest = slice(builder.add1("Shape", [x]), starts: [2], ends: [rank], axes: [0])
            produce(outputs[0], builder.add1("Reshape", [x, builder.add1("Concat", [builder.int64s([-1]), rest], [Attr.attribute("axis", int: 0)])]))
        case .unfoldTime:
            let y = try name(try input(0)), x = try name(try input(1)), rank = try knownRank(of: try input(0))
            if let sizes = knownSizes(of: outputs[0], from: 1) { return produce(outputs[0], reshape(y, [-1] + sizes)) }
            let outer = slice(builder.add1("Shape", [x]), starts: [0], ends: [2], axes: [0])
            let inner = knownSizes(of: outputs[0], from: 2).map { builder.int64s($0) }
                ?? slice(builder.add1("Shape", [y]), starts: [1], ends: [rank], axes: [0])
            produce(outputs[0], builder.add1("Reshape", [y, builder.add1("Concat", [outer, inner], [Attr.attribute("axis", int: 0)])]))
        case .foldTimeMask:
            guard let mask = optional(1) else { return produceNothing(outputs[0]) }
            try translateFoldTimeMask(try input(0), mask: mask, output: outputs[0])
        case .timeDistributedMask(let keras3):
            try translateTimeDistributedMask(try input(0), inputMask: optional(1), innerMask: optional(2), keras3: keras3, output: outputs[0])
        case .unsupported(let reason):
            throw ModelError(reason)
        }
    }

    /// A `[b, t, s…]` mask as the inner layer's `[b·t, s…]`; a `[b, t]` mask leaves none.
    mutating func translateFoldTimeMask(_ input: ValueID, mask: ValueID, output: ValueID) throws {
        guard let rank = rank(of: mask) else { throw ModelError("ONNX export needs the rank of the mask TimeDistributed folds") }
        guard rank > 2 else { return produceNothing(output) }
        let m = try name(mask, dtype: .bool)
        let rest = slice(builder.add1("Shape", [m]), starts: [2], ends: [rank], axes: [0])
        produce(output, builder.add1("Reshape", [m, builder.add1("Concat", [builder.int64s([-1]), rest], [Attr.attribute("axis", int: 0)])]),
                dtype: .bool, rank: rank - 1)
    }

    /// TimeDistributed's output mask: Keras 3's is the input's; tf-keras unfolds the inner layer's, else
    /// keeps a step where any of its positions is kept.
    mutating func translateTimeDistributedMask(_ input: ValueID, inputMask: ValueID?, innerMask: ValueID?, keras3: Bool, output: ValueID) throws {
        if !keras3, let innerMask {
            guard let innerRank = rank(of: innerMask) else { throw ModelError("ONNX export needs the rank of TimeDistributed's inner mask") }
            let m = try name(innerMask, dtype: .bool), x = try name(input)
            let outer = slice(builder.add1("Shape", [x]), starts: [0], ends: [2], axes: [0])
            let inner = slice(builder.add1("Shape", [m]), starts: [1], ends: [innerRank], axes: [0])
            return produce(output, builder.add1("Reshape", [m, builder.add1("Concat", [outer, inner], [Attr.attribute("axis", int: 0)])]),
                           dtype: .bool, rank: innerRank + 1)
        }
        guard let inputMask else { return produceNothing(output) }
        guard let rank = rank(of: inputMask) else { throw ModelError("ONNX export needs the rank of TimeDistributed's input mask") }
        if keras3 || rank == 2 { return produce(output, try name(inputMask, dtype: .bool), dtype: .bool, rank: rank) }
        let any = reduce("ReduceMax", cast(try name(inputMask, dtype: .bool), to: .int32), axes: Array(2 ..< rank), keepDims: false)
        produce(output, cast(any, to: .bool), dtype: .bool, rank: 2)
    }

    /// An operation applied to each element: kept in its input's layout unless `keepsLayout` is false.
    mutating func elementwise(_ input: ValueID, output: ValueID, keepsLayout: Bool = true,
                              _ body: (inout ONNXTranslator, String) throws -> String) throws {
        let target = keepsLayout ? try layout(of: input) : Layout.keras
        let x = try name(input, layout: target)
        produce(output, try body(&self, x), layout: target)
    }

    /// Keras's `relu(x, negative_slope, max_value, threshold)`.
    /// A plain ReLU capped at `max_value` (ReLU6) is one `Clip`, which onnxruntime fuses into the Conv
    /// before it (a `Relu` then `Min` costs two more passes and a layout reorder around each).
    mutating func rectifier(_ x: String, negativeSlope: Float, maxValue: Float?, threshold: Float) -> String {
        if let maxValue, negativeSlope == 0, threshold == 0 {
            return builder.add1("Clip", [x, builder.scalar(0), builder.scalar(maxValue)])
        }
        var y: String
        if threshold == 0 {
            y = negativeSlope == 0 ? builder.add1("Relu", [x]) : builder.add1("LeakyRelu", [x], [Attr.attribute("alpha", float: negativeSlope)])
        } else {
            // x where x ≥ threshold, else negative_slope · (x − threshold).
            let below = builder.add1("Less", [x, builder.scalar(threshold)])
            let shifted = builder.add1("Mul", [builder.add1("Sub", [x, builder.scalar(threshold)]), builder.scalar(negativeSlope)])
            y = builder.add1("Where", [below, shifted, x])
        }
        if let maxValue { y = builder.add1("Min", [y, builder.scalar(maxValue)]) }
        return y
    }

    /// Where `x ≠ value`, as bool.
    mutating func notEqual(_ x: String, _ value: Float) -> String {
        builder.add1("Not", [builder.add1("Equal", [x, builder.scalar(value)])])
    }

    mutating func translateDense(_ input: ValueID, kernel: ValueID, bias: ValueID?, activation: Activation, output: ValueID) throws {
        let x = try name(input)
        let w: String, b: String?
        if let fold = folds[output], let weights = constant(kernel) {
            w = builder.floats(fold.scaled(try weights.read(), channelStride: 1), shape: weights.shape, name: "\(builder.scope)/kernel", source: .derived)
            b = builder.floats(fold.bias(try bias.map(constantValues)), shape: [fold.scale.count], name: "\(builder.scope)/bias", source: .derived)
        } else {
            (w, b) = (try name(kernel), try optionalName(bias))
        }
        var y: String
        if try knownRank(of: input) == 2 {
            y = builder.add1("Gemm", [x, w] + (b.map { [$0] } ?? []))
        } else {
            y = builder.add1("MatMul", [x, w])
            if let b { y = builder.add1("Add", [y, b]) }
        }
        produce(output, try apply(activation, y))
    }

    /// `x · scale + offset` with the values laid over the input's last axes.
    mutating func translateScaleShift(_ input: ValueID, scale: [Float], offset: [Float], output: ValueID) throws {
        let inputShape = staticShape(of: input) ?? []
        let blockShape = { (count: Int) throws -> [Int] in
            guard count > 1 else { return [] }
            var shape: [Int] = [], product = 1
            for size in inputShape.dropFirst().reversed() {
                guard let size, product < count else { break }
                shape.insert(size, at: 0)
                product *= size
            }
            guard product == count else { throw ModelError("cannot lay \(count) values over the input's last axes") }
            return shape
        }
        var y = try name(input)
        if scale != [1] { y = builder.add1("Mul", [y, builder.floats(scale, shape: try blockShape(scale.count))]) }
        if offset != [0] { y = builder.add1("Add", [y, builder.floats(offset, shape: try blockShape(offset.count))]) }
        produce(output, y == (try name(input)) ? builder.add1("Identity", [y]) : y)
    }

    /// Keras Masking: positions whose features all equal `value` are zeroed, and masked.
    mutating func translateMasking(_ input: ValueID, value: Float, outputs: [ValueID]) throws {
        let x = try name(input)
        let keep = reduce("ReduceMax", cast(notEqual(x, value), to: .float32), axes: [-1], keepDims: true)
        produce(outputs[0], builder.add1("Mul", [x, keep]))
        if outputs.count > 1 { produce(outputs[1], cast(squeeze(keep, axes: [-1]), to: .bool), dtype: .bool, rank: rank(of: input).map { $0 - 1 }) }
    }

    /// Zeros added (Pad) and rows removed (Slice, for negative amounts), in the input's layout: padding
    /// between convolutions stays channels-first.
    mutating func translatePad(_ input: ValueID, before: [Int], after: [Int], output: ValueID) throws {
        let rank = try knownRank(of: input)
        let target = try layout(of: input)
        // Keras's amounts per axis, then in the order of the target layout's axes.
        let order = target == .channelsFirst ? ChannelPermutation.toFirst(rank: rank) : Array(0 ..< rank)
        let before = order.map { $0 < before.count ? before[$0] : 0 }, after = order.map { $0 < after.count ? after[$0] : 0 }
        var y = try name(input, layout: target)
        let crop = before.indices.filter { before[$0] < 0 || after[$0] < 0 }
        if !crop.isEmpty {
            y = slice(y, starts: crop.map { max(-before[$0], 0) }, ends: crop.map { after[$0] < 0 ? after[$0] : Int(Int64.max) }, axes: crop)
        }
        let pads = before.map { max($0, 0) } + after.map { max($0, 0) }
        if pads.contains(where: { $0 > 0 }) { y = builder.add1("Pad", [y, builder.int64s(pads)]) }
        produce(output, crop.isEmpty && !pads.contains(where: { $0 > 0 }) ? builder.add1("Identity", [y]) : y, layout: target)
    }

    /// NumPy's `repeat` along `axis`: a new axis after it tiled, then merged into it; in the input's layout
    /// (UpSampling between convolutions stays channels-first).
    mutating func translateRepeat(_ input: ValueID, axis kerasAxis: Int, times: Int, output: ValueID) throws {
        let rank = try knownRank(of: input)
        let target = try layout(of: input)
        let order = target == .channelsFirst ? ChannelPermutation.toFirst(rank: rank) : Array(0 ..< rank)
        guard let axis = order.firstIndex(of: kerasAxis) else { throw ModelError("expected an axis below \(rank), found \(kerasAxis)") }
        let x = try name(input, layout: target)
        var repeats = Array(repeating: 1, count: rank + 1)
        repeats[axis + 1] = times
        let tiled = builder.add1("Tile", [unsqueeze(x, axes: [axis + 1]), builder.int64s(repeats)])
        var factors = Array(repeating: 1, count: rank)
        factors[axis] = times
        let shape = builder.add1("Mul", [builder.add1("Shape", [x]), builder.int64s(factors)])
        produce(output, builder.add1("Reshape", [tiled, shape]), layout: target)
    }

    /// Keras's merge layers: lower-rank inputs gain axes after the batch axis, then NumPy broadcasting.
    mutating func translateMerge(_ node: GraphNode, _ op: MergeOp) throws {
        let count = node.inputs.count / 2
        let values = try (0 ..< count).map { index -> ValueID in
            guard let value = node.inputs[index] else { throw ModelError("expected input \(index), found none") }
            return value
        }
        let ranks = try values.map { try knownRank(of: $0) }
        let layouts = try values.map { try layout(of: $0) }
        let target: Layout = Set(ranks).count == 1 && layouts.allSatisfy { $0 == .channelsFirst } ? .channelsFirst : .keras
        let top = ranks.max() ?? 0
        let operands = try zip(values, ranks).map { value, rank in
            let x = try name(value, layout: target)
            return rank < top ? unsqueeze(x, axes: Array(1 ... (top - rank))) : x
        }
        let opType: String = switch op.operation {
        case .add, .average: "Add"
        case .subtract: "Sub"
        case .multiply: "Mul"
        case .maximum: "Max"
        case .minimum: "Min"
        }
        var y = operands[0]
        for next in operands.dropFirst() { y = builder.add1(opType, [y, next]) }
        if op.operation == .average { y = builder.add1("Div", [y, builder.scalar(Float(count))]) }
        produce(node.outputs[0], y, layout: target)
        try refuseMaskRead(node)
    }

    mutating func translateConcatenate(_ node: GraphNode, _ op: ConcatenateOp) throws {
        let count = node.inputs.count / 2
        let values = node.inputs.prefix(count).compactMap { $0 }
        let rank = try knownRank(of: node.outputs[0])
        let axis = op.axis < 0 ? op.axis + rank : op.axis
        let channelsFirst = try axis == rank - 1 && rank > 2 && values.allSatisfy { try layout(of: $0) == .channelsFirst }
        let names = try values.map { try name($0, layout: channelsFirst ? .channelsFirst : .keras) }
        produce(node.outputs[0], builder.add1("Concat", names, [Attr.attribute("axis", int: channelsFirst ? 1 : axis)]),
                layout: channelsFirst ? .channelsFirst : .keras)
        try refuseMaskRead(node)
    }

    /// Keras's `batch_dot` along one axis of each input, as an Einsum (a MatMul where it is a matrix product);
    /// cosine proximity normalises first.
    mutating func translateDot(_ node: GraphNode, _ op: DotOp) throws {
        guard let a = node.inputs[0], let b = node.inputs[1] else { throw ModelError("expected 2 inputs") }
        let ranks = [try knownRank(of: a), try knownRank(of: b)]
        var operands = [try name(a), try name(b)]
        let axes = zip(op.axes, ranks).map { axis, rank in axis < 0 ? axis + rank : axis }
        if op.normalize {
            for index in 0 ..< 2 {
                let norm = reduce("ReduceL2", operands[index], axes: [axes[index]], keepDims: true)
                operands[index] = builder.add1("Div", [operands[index], builder.add1("Max", [norm, builder.scalar(Float(op.normFloor))])])
            }
        }
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        // The batch axis is shared (a), the contracted axes are z, every other axis gets its own letter.
        var next = 1
        let terms = (0 ..< 2).map { index in
            String((0 ..< ranks[index]).map { axis -> Character in
                if axis == 0 { return "a" }
                if axis == axes[index] { return "z" }
                defer { next += 1 }
                return letters[next]
            })
        }
        let kept = terms.map { $0.filter { $0 != "a" && $0 != "z" } }.joined()
        var y = einsum(operands[0], operands[1], "\(terms[0]),\(terms[1])->a\(kept)",
                       terms: (Array(terms[0]), Array(terms[1]), Array("a\(kept)")))
        if kept.isEmpty { y = unsqueeze(y, axes: [1]) }
        produce(node.outputs[0], y)
        try refuseMaskRead(node)
    }

    /// A merge's output mask is not carried into ONNX: refuse when a translated layer reads it.
    private func refuseMaskRead(_ node: GraphNode) throws {
        if node.outputs.dropFirst(node.outputs.count / 2).contains(where: neededValues.contains) {
            throw ModelError("ONNX export cannot yet carry the merged Keras mask of this layer to the layer that reads it")
        }
    }
}

extension Activation {
    /// Activations that normalise over the last axis rather than elementwise.
    var actsOnLastAxis: Bool { self == .softmax || self == .logSoftmax }
}

extension ONNXTranslator {
    /// ReduceSum/Mean/Max/Min over the op's axes (nil: every axis).
    mutating func translateReduce(_ input: ValueID, _ op: ReduceOp, output: ValueID) throws {
        let rank = try knownRank(of: input)
        let axes = op.axes ?? Array(0 ..< rank)
        let opType = switch op.kind {
        case .sum: "ReduceSum"
        case .mean: "ReduceMean"
        case .max: "ReduceMax"
        case .min: "ReduceMin"
        }
        produce(output, reduce(opType, try name(input), axes: axes, keepDims: op.keepDims), rank: op.keepDims ? rank : rank - Set(axes).count)
    }

    /// A Slice over the indexed axes (bounds ONNX clamps as Python does), then the single indices' axes squeezed.
    mutating func translateSlice(_ input: ValueID, _ indices: [SliceIndex], output: ValueID) throws {
        let source = try producedValue(input)
        let rank = try knownRank(of: input)
        guard !indices.isEmpty else { return produce(output, builder.add1("Identity", [try name(input, dtype: source.dtype)]), dtype: source.dtype, rank: rank) }
        var starts: [Int] = [], ends: [Int] = [], steps: [Int] = [], dropped: [Int] = []
        for (axis, index) in indices.enumerated() {
            switch index {
            case .index(let position):
                starts.append(position)
                ends.append(position == -1 ? Int.max : position + 1)
                steps.append(1)
                dropped.append(axis)
            case .range(let start, let stop, let step):
                starts.append(start ?? (step > 0 ? 0 : Int.max))
                ends.append(stop ?? (step > 0 ? Int.max : Int.min))
                steps.append(step)
            }
        }
        var result = slice(try name(input, dtype: source.dtype), starts: starts, ends: ends, axes: Array(indices.indices), steps: steps)
        if !dropped.isEmpty { result = squeeze(result, axes: dropped) }
        produce(output, result, dtype: source.dtype, rank: rank - dropped.count)
    }
}
