import KConvGraph

/// ONNX translations of the image resizing and the preprocessing operations on whole numbers (buckets,
/// categorical encodings, integer lookups).
extension ONNXTranslator {
    /// Keras's image resizing, on channels-first data: the fitted window cut (Slice) or padded (Pad) as
    /// `ResizeOp.window` defines it, then ONNX's Resize with TensorFlow's half-pixel sampling (bilinear; and
    /// nearest, whose `floor((i + ½)·in/out)` is `round_prefer_ceil` of the half-pixel coordinate). Bicubic
    /// becomes two MatMuls by TensorFlow's own tap weights: ONNX's cubic computes exact Keys coefficients
    /// where TensorFlow reads them from a 1024-step table, which differs by up to about 1e-3.
    mutating func translateImageResize(_ input: ValueID, _ op: ResizeOp, output: ValueID) throws {
        let layout: Layout = op.channelsFirst ? .keras : .channelsFirst
        var x = try name(input, layout: layout)
        let spatial = op.channelsFirst ? [2, 3] : [1, 2]
        let shape = staticShape(of: input)
        guard let shape, shape.count == 4, let height = shape[spatial[0]], let width = shape[spatial[1]] else {
            // Whole factors need no sizes: UpSampling2D's bilinear resize of images of any size.
            guard case .factors(let h, let w) = op.target, case .stretch = op.fit, op.interpolation == .bilinear else {
                throw ModelError("ONNX export needs the image's height and width to crop, pad or resize it to a size; found \(shape.map { "\($0)" } ?? "an unknown shape")")
            }
            let scales = builder.floats([1, 1, Float(h), Float(w)], shape: [4])
            return produce(output, resize(x, scales: scales, op.interpolation), layout: layout)
        }
        let (targetHeight, targetWidth) = op.targetSize(height: height, width: width)
        var (fittedHeight, fittedWidth) = (height, width)
        if let window = op.window(height: height, width: width) {
            if window.top >= 0, window.left >= 0 {
                x = slice(x, starts: [window.top, window.left], ends: [window.top + window.height, window.left + window.width], axes: [2, 3])
            } else {
                x = builder.add1("Pad", [x, builder.int64s([0, 0, -window.top, -window.left, 0, 0, -window.top, -window.left]), builder.scalar(op.fill)])
            }
            if window.isOutput { return produce(output, x, layout: layout) }
            (fittedHeight, fittedWidth) = (window.height, window.width)
        }
        let y: String
        if op.interpolation == .bicubic {
            let rows = Self.interpolationMatrix(ResizeOp.bicubicTaps(input: fittedHeight, output: targetHeight), input: fittedHeight, transposed: false)
            let columns = Self.interpolationMatrix(ResizeOp.bicubicTaps(input: fittedWidth, output: targetWidth), input: fittedWidth, transposed: true)
            let across = builder.add1("MatMul", [x, builder.floats(columns, shape: [fittedWidth, targetWidth])])
            y = builder.add1("MatMul", [builder.floats(rows, shape: [targetHeight, fittedHeight]), across])
        } else {
            let sizes = builder.add1("Concat", [slice(builder.add1("Shape", [x]), starts: [0], ends: [2], axes: [0]), builder.int64s([targetHeight, targetWidth])],
                                     [Attr.attribute("axis", int: 0)])
            y = resize(x, sizes: sizes, op.interpolation)
        }
        produce(output, y, layout: layout)
    }

    /// ONNX Resize with TensorFlow's half-pixel sampling, to `scales` or to `sizes`.
    private mutating func resize(_ x: String, scales: String? = nil, sizes: String? = nil, _ interpolation: ResizeOp.Interpolation) -> String {
        var attributes = [Attr.attribute("coordinate_transformation_mode", string: "half_pixel")]
        if interpolation == .nearest {
            attributes += [Attr.attribute("mode", string: "nearest"), Attr.attribute("nearest_mode", string: "round_prefer_ceil")]
        } else {
            attributes.append(Attr.attribute("mode", string: "linear"))
        }
        return builder.add1("Resize", [x, "", scales ?? ""] + (sizes.map { [$0] } ?? []), attributes)
    }

    /// Taps as a dense `(output, input)` matrix, or its transpose.
    private static func interpolationMatrix(_ taps: [(indices: [Int], weights: [Float])], input: Int, transposed: Bool) -> [Float] {
        var matrix = [Float](repeating: 0, count: taps.count * input)
        for (cell, tap) in taps.enumerated() {
            for (index, weight) in zip(tap.indices, tap.weights) {
                matrix[transposed ? index * taps.count + cell : cell * input + index] += weight
            }
        }
        return matrix
    }

    /// Keras 3's AutoContrast: ReduceMin and ReduceMax over axes 1 and 2, the stretch, Clip; where the
    /// stretch is NaN (tested before Clip, whose NaN handling ONNX leaves open) the input stays.
    mutating func translateAutoContrast(_ input: ValueID, _ op: AutoContrastOp, output: ValueID) throws {
        let x = try name(input)
        let range = builder.scalar(op.high - op.low), full = builder.scalar(255)
        let mapped = op.mapsRange ? builder.add1("Mul", [builder.add1("Div", [builder.add1("Sub", [x, builder.scalar(op.low)]), range]), full]) : x
        let minimum = reduce("ReduceMin", mapped, axes: [1, 2], keepDims: true)
        let scale = builder.add1("Div", [full, builder.add1("Sub", [reduce("ReduceMax", mapped, axes: [1, 2], keepDims: true), minimum])])
        let offset = builder.add1("Neg", [builder.add1("Mul", [minimum, scale])])
        let stretched = builder.add1("Add", [builder.add1("Mul", [mapped, scale]), offset])
        var y = builder.add1("Clip", [stretched, builder.scalar(0), full])
        if op.mapsRange { y = builder.add1("Add", [builder.add1("Mul", [builder.add1("Div", [y, full]), range]), builder.scalar(op.low)]) }
        produce(output, builder.add1("Where", [builder.add1("IsNaN", [stretched]), x, y]))
    }

    /// Keras 3's CLAHE (see `HistogramEqualizationOp`) on an image of known size: the tiles' histograms as
    /// a sum of OneHot rows, clipped and redistributed, their CumSum normalised, the grid extended by its
    /// edge tiles (Pad, mode edge), and each pixel's four values taken with GatherElements at offsets fixed
    /// by its position and blended with constant weights.
    mutating func translateHistogramEqualization(_ input: ValueID, _ op: HistogramEqualizationOp, output: ValueID) throws {
        guard let sizes = knownSizes(of: input, from: 1), sizes.count == 3 else {
            throw ModelError("ContrastLimitedAdaptiveHistogramEqualization needs an image batch of known height, width and channels")
        }
        let (rows, columns, channels) = (sizes[0], sizes[1], sizes[2])
        let (gridHeight, gridWidth) = (op.gridHeight, op.gridWidth)
        let (tileHeight, tileWidth) = (HistogramEqualizationOp.tile(rows, grid: gridHeight), HistogramEqualizationOp.tile(columns, grid: gridWidth))
        guard tileHeight * gridHeight - rows <= rows, tileWidth * gridWidth - columns <= columns else {
            throw ModelError("a \(rows)×\(columns) image is too small for a \(gridHeight)×\(gridWidth) tile grid (Keras pads it symmetrically)")
        }
        let x = try name(input), range = builder.scalar(op.high - op.low), full = builder.scalar(255), zero = builder.scalar(0)
        let mapped = op.mapsRange ? builder.add1("Mul", [builder.add1("Div", [builder.add1("Sub", [x, builder.scalar(op.low)]), range]), full]) : x
        // The bins: truncated toward zero and clipped (Floor after the clip is the same), a NaN in bin 0.
        let bins = { (translator: inout ONNXTranslator, values: String) -> String in
            let finite = translator.builder.add1("Where", [translator.builder.add1("IsNaN", [values]), zero, values])
            return translator.cast(translator.builder.add1("Floor", [translator.builder.add1("Clip", [finite, zero, full])]), to: .int64)
        }
        // Symmetric padding at the bottom and right: the last rows (columns) again, in reverse.
        var padded = mapped
        for (axis, size, padding) in [(1, rows, tileHeight * gridHeight - rows), (2, columns, tileWidth * gridWidth - columns)] where padding > 0 {
            let end = size - 1 - padding
            let mirrored = slice(padded, starts: [size - 1], ends: [end < 0 ? Int(Int64.min) : end], axes: [axis], steps: [-1])
            padded = builder.add1("Concat", [padded, mirrored], [Attr.attribute("axis", int: axis)])
        }
        let pixels = tileHeight * tileWidth
        let tiles = reshape(transpose(reshape(bins(&self, padded), [-1, gridHeight, tileHeight, gridWidth, tileWidth, channels]), [0, 1, 3, 5, 2, 4]),
                            [-1, gridHeight, gridWidth, channels, pixels])
        let hot = builder.add1("OneHot", [tiles, builder.int64Scalar(256), builder.floats([0, 1], shape: [2])], [Attr.attribute("axis", int: -1)])
        var histogram = reduce("ReduceSum", hot, axes: [4], keepDims: false)
        if let clipLimit = op.clipLimit {
            let clipped = builder.add1("Min", [builder.add1("Max", [histogram, zero]), builder.scalar(Float(clipLimit * Double(pixels) / 256))])
            let excess = reduce("ReduceSum", builder.add1("Sub", [histogram, clipped]), axes: [4], keepDims: true)
            histogram = builder.add1("Add", [clipped, builder.add1("Div", [excess, builder.scalar(256)])])
        }
        let cdf = builder.add1("CumSum", [histogram, builder.int64Scalar(4)])
        let minimum = reduce("ReduceMin", cdf, axes: [4], keepDims: true)
        let difference = builder.add1("Sub", [builder.scalar(Float(pixels)), minimum])
        let denominator = builder.add1("Where", [builder.add1("Equal", [difference, zero]), builder.scalar(1), difference])
        let normalised = builder.add1("Clip", [builder.add1("Div", [builder.add1("Mul", [builder.add1("Sub", [cdf, minimum]), full]), denominator]), zero, full])
        let extended = builder.add1("Pad", [normalised, builder.int64s([0, 1, 1, 0, 0, 0, 1, 1, 0, 0])], [Attr.attribute("mode", string: "edge")])
        let table = reshape(extended, [-1, (gridHeight + 2) * (gridWidth + 2) * channels * 256])
        let lookup = reshape(bins(&self, mapped), [-1, rows * columns * channels])
        // Per output position (row, column, channel), flattened: a tile's offset in the table, or a weight.
        let (ys, xs) = (HistogramEqualizationOp.blend(size: rows, grid: gridHeight, tile: tileHeight),
                        HistogramEqualizationOp.blend(size: columns, grid: gridWidth, tile: tileWidth))
        let positions = (0 ..< rows).flatMap { row in (0 ..< columns).flatMap { column in (0 ..< channels).map { (row, column, $0) } } }
        let value = { (translator: inout ONNXTranslator, tileRows: [Int], tileColumns: [Int]) -> String in
            let offsets = positions.map { row, column, channel in ((tileRows[row] * (gridWidth + 2) + tileColumns[column]) * channels + channel) * 256 }
            let indices = translator.builder.add1("Add", [lookup, translator.builder.int64s(offsets)])
            return translator.builder.add1("GatherElements", [table, indices], [Attr.attribute("axis", int: 1)])
        }
        let weights = { (translator: inout ONNXTranslator, weight: (Int, Int) -> Float) -> String in
            translator.builder.floats(positions.map { row, column, _ in weight(row, column) }, shape: [positions.count])
        }
        let blend = { (translator: inout ONNXTranslator, a: String, b: String, weight: (Int, Int) -> Float) -> String in
            let first = translator.builder.add1("Mul", [a, weights(&translator) { 1 - weight($0, $1) }])
            return translator.builder.add1("Add", [first, translator.builder.add1("Mul", [b, weights(&translator, weight)])])
        }
        let across = { (_: Int, column: Int) in xs.weight[column] }
        let top = blend(&self, value(&self, ys.first, xs.first), value(&self, ys.first, xs.second), across)
        let bottom = blend(&self, value(&self, ys.second, xs.first), value(&self, ys.second, xs.second), across)
        var y = reshape(blend(&self, top, bottom) { row, _ in ys.weight[row] }, [-1, rows, columns, channels])
        if op.mapsRange { y = builder.add1("Add", [builder.add1("Mul", [builder.add1("Div", [y, full]), range]), builder.scalar(op.low)]) }
        produce(output, y)
    }

    /// How many of the ascending boundaries are at or below each value: the count of boundaries the value
    /// is not below (so a NaN, below none, lands in the last bucket as in TensorFlow).
    mutating func translateBucketize(_ input: ValueID, boundaries: [Float], output: ValueID) throws {
        let x = unsqueeze(try name(input), axes: [-1])
        let atOrAbove = builder.add1("Not", [builder.add1("Less", [x, builder.floats(boundaries, shape: [boundaries.count])])])
        produce(output, reduce("ReduceSum", cast(atOrAbove, to: .int64), axes: [-1], keepDims: false), dtype: .int64)
    }

    /// Keras's one-hot, multi-hot and count encodings: OneHot (negative numbers moved out of range first, as
    /// ONNX would count them from the end), then ReduceMax or ReduceSum over each sample's values.
    mutating func translateCategoryEncoding(_ input: ValueID, _ op: CategoryEncodingOp, output: ValueID) throws {
        let rank = try knownRank(of: input)
        let x = try name(input, dtype: .int64), depth = builder.int64Scalar(op.depth)
        let inRange = builder.add1("Where", [builder.add1("Less", [x, builder.int64Scalar(0)]), depth, x])
        let hot = builder.add1("OneHot", [inRange, depth, builder.floats([0, 1], shape: [2])], [Attr.attribute("axis", int: -1)])
        switch op.mode {
        case .oneHot:
            let trailingOne = rank > 1 && staticShape(of: input)?.last == 1
            produce(output, trailingOne ? squeeze(hot, axes: [rank - 1]) : hot)
        case .multiHot, .count:
            guard rank == 2 else { throw ModelError("\(op.mode.rawValue) encodes a 2-D input (batch, values), found rank \(rank)") }
            produce(output, reduce(op.mode == .count ? "ReduceSum" : "ReduceMax", hot, axes: [1], keepDims: false))
        }
    }

    /// IntegerLookup's table with comparisons (see `translateLookup`); several out-of-vocabulary indices take
    /// a value by Python's floormod (ONNX Mod with `fmod = 0`).
    mutating func translateIntegerLookup(_ input: ValueID, _ op: IntegerLookupOp, output: ValueID) throws {
        try translateLookup(input, op, tokens: .int64, output: output, constant: { builder, values, dims in
            dims.isEmpty ? builder.int64Scalar(Int(values[0])) : builder.int64s(values.map { Int($0) })
        }, oovBuckets: { translator, x in
            translator.builder.add1("Mod", [x, translator.builder.int64Scalar(op.oovIndices)], [Attr.attribute("fmod", int: 0)])
        })
    }

    /// StringLookup's table (see `translateLookup`): ONNX compares strings from opset 19; several
    /// out-of-vocabulary indices hash a string with FarmHash, which no ONNX operator computes.
    mutating func translateStringLookup(_ input: ValueID, _ op: StringLookupOp, output: ValueID) throws {
        guard opset >= 19 || op.invert else { throw ModelError("ONNX compares strings (Equal) from opset 19, found --opset \(opset)") }
        try translateLookup(input, op, tokens: .string, output: output, constant: { builder, values, dims in
            builder.strings(values, dims: dims)
        }, oovBuckets: { _, _ in
            throw ModelError("several out-of-vocabulary indices take a string by its FarmHash fingerprint, which no ONNX operator computes")
        })
    }

    /// A lookup table with comparisons: each value against the whole vocabulary (Equal, then ArgMax for the
    /// first match), else its out-of-vocabulary index (`oovBuckets` of the values when there are several);
    /// inverted, a Gather of the vocabulary where the index is in range. `constant` makes a tensor of tokens
    /// (`dims` empty: a scalar).
    private mutating func translateLookup<Token>(_ input: ValueID, _ op: LookupOp<Token>, tokens: DType, output: ValueID,
                                                 constant: (inout ONNXGraphBuilder, [Token], [Int]) -> String,
                                                 oovBuckets: (inout Self, String) throws -> String) throws {
        let x = try name(input, dtype: op.invert ? .int64 : tokens)
        let vocabulary = constant(&builder, op.vocabulary, [op.vocabulary.count]), count = op.vocabulary.count
        /// `value` (a scalar) wherever `x` has an element.
        func everywhere(_ value: String) -> String { builder.add1("Expand", [value, builder.add1("Shape", [x])]) }
        var y: String
        if op.invert {
            let position = builder.add1("Sub", [x, builder.int64Scalar(op.tokenStart)])
            let oov = everywhere(constant(&builder, [op.oovToken], []))
            if count > 0 {
                let inRange = builder.add1("And", [builder.add1("Not", [builder.add1("Less", [position, builder.int64Scalar(0)])]),
                                                   builder.add1("Less", [position, builder.int64Scalar(count)])])
                let bounded = builder.add1("Clip", [position, builder.int64Scalar(0), builder.int64Scalar(count - 1)])
                y = builder.add1("Where", [inRange, builder.add1("Gather", [vocabulary, bounded], [Attr.attribute("axis", int: 0)]), oov])
            } else {
                y = oov
            }
            if let maskToken = op.maskToken {
                y = builder.add1("Where", [builder.add1("Equal", [x, builder.int64Scalar(0)]), constant(&builder, [maskToken], []), y])
            }
        } else {
            let oov: String
            switch op.oovIndices {
            case 0:
                throw ModelError("with num_oov_indices=0 Keras stops on a value outside the vocabulary, which an ONNX graph cannot do")
            case 1:
                oov = everywhere(builder.int64Scalar(op.oovStart))
            default:
                oov = builder.add1("Add", [try oovBuckets(&self, x), builder.int64Scalar(op.oovStart)])
            }
            y = oov
            if count > 0 {
                let matches = cast(builder.add1("Equal", [unsqueeze(x, axes: [-1]), vocabulary]), to: .int32)
                let found = cast(reduce("ReduceMax", matches, axes: [-1], keepDims: false), to: .bool)
                let first = builder.add1("ArgMax", [matches], [Attr.attribute("axis", int: -1), Attr.attribute("keepdims", int: 0)])
                y = builder.add1("Where", [found, builder.add1("Add", [first, builder.int64Scalar(op.tokenStart)]), oov])
            }
            if let maskToken = op.maskToken {
                y = builder.add1("Where", [builder.add1("Equal", [x, constant(&builder, [maskToken], [])]), builder.int64Scalar(Int(op.maskIndex)), y])
            }
        }
        produce(output, y, dtype: op.invert ? tokens : .int64)
    }
}
