
/// What a graph node computes. Inputs and outputs are listed per case; a mask is a bool value, and an
/// optional input (`bias?`) is a nil entry when absent.
package enum Op: Equatable {
    /// `activation(x · W + b)` over the last axis. `[x, kernel (in, units), bias?]` → `[y]`.
    case dense(activation: Activation)
    /// An activation function, elementwise (softmax-like ones over the last axis). `[x]` → `[y]`.
    case activation(Activation)
    /// An activation function over `axes` rather than the last axis (negative count from the end):
    /// row-wise ones (log_softmax, sparsemax) over them together, glu splitting its one axis in halves;
    /// elementwise ones ignore them. `[x]` → `[y]`.
    case activationAlongAxes(Activation, axes: [Int])
    /// Keras's `relu(x, negative_slope, max_value, threshold)`, elementwise. `[x]` → `[y]`.
    case rectifier(negativeSlope: Float, maxValue: Float?, threshold: Float)
    /// `x` for x > 0, `alpha·(exp(x) − 1)` below. `[x]` → `[y]`.
    case elu(alpha: Float)
    /// `x · scale + offset`, elementwise. `scale` and `offset` each hold one value, or a block that repeats
    /// along the leading axes of `x`: the values (row-major) of its last k axes, as many as those axes hold.
    /// `[x]` → `[y]`.
    case scaleShift(scale: [Float], offset: [Float])
    /// Rows of a table picked by whole-number indices in `[0, rows)`. `[table (rows, width), indices]` →
    /// `[indices.shape + (width,)]`.
    case gather
    /// Where `x ≠ value`. `[x]` → `[bool]`.
    case notEqual(Float)
    /// Where any element along `axes` is true (non-zero); nil axes: over all of them, to one value.
    /// `keepDims` keeps the reduced axes as size 1. `[x]` → `[bool]`.
    case any(axes: [Int]?, keepDims: Bool)
    /// Keras Masking: a position (all but the last axis) is kept when any of its features differs from
    /// `value`; dropped positions are zeroed. `[x]` → `[y, mask]`.
    case masking(value: Float)
    /// The same values under another shape: the first `keepingAxes` axes kept, the rest `to` (one entry
    /// may be -1, inferred from the count). `[x]` → `[y]`.
    case reshape(keepingAxes: Int, to: [Int])
    /// Axes permuted: output axis `i` is input axis `permutation[i]`. `[x]` → `[y]`.
    case transpose([Int])
    /// A channels_first tensor (`batch, channels, spatial...`) as channels_last; lower ranks unchanged.
    case channelsLast
    /// `before[i]` zeros added before axis `i` and `after[i]` after it; negative amounts remove rows.
    case pad(before: [Int], after: [Int])
    /// Each element repeated `times` times along `axis` (NumPy's `repeat`).
    case repeatElements(axis: Int, times: Int)
    /// A batch of 2-D images resized (after an optional crop or pad to the target's aspect ratio) as
    /// `tf.image.resize` does. `[x]` → `[y]`.
    case resize(ResizeOp)
    /// Keras 3's AutoContrast (see `AutoContrastOp`). `[x]` → `[y]`.
    case autoContrast(AutoContrastOp)
    /// Keras 3's ContrastLimitedAdaptiveHistogramEqualization (see `HistogramEqualizationOp`). `[x]` → `[y]`.
    case histogramEqualization(HistogramEqualizationOp)
    /// Inputs combined elementwise, with NumPy broadcasting after lower-rank inputs gain axes after the
    /// batch axis. `[x₁ … xₙ, mask₁ … maskₙ]` → `[y, mask]`.
    case merge(MergeOp)
    /// Inputs joined along an axis. `[x₁ … xₙ, mask₁ … maskₙ]` → `[y, mask]`.
    case concatenate(ConcatenateOp)
    /// Keras's `batch_dot` of two inputs along one axis each. `[x, y, mask, mask]` → `[z, mask]`.
    case dot(DotOp)
    /// Softmax over `axes` together, masked positions left out. `[x, mask?, givenMask?]` → `[y]`.
    case softmax(SoftmaxOp)
    /// A product of two operands named by an einsum equation, then a bias (broadcast against the result's
    /// last axes) and an activation: Keras EinsumDense, and the products inside attention layers.
    /// `[a, b, bias?]` → `[activation(einsum(a, b) + bias)]`.
    case einsum(EinsumOp)
    /// A function of one operand outside Keras's activations, elementwise (see `MathFunction`). `[x]` → `[y]`.
    case math(MathFunction)
    /// Two operands combined elementwise with NumPy broadcasting (shapes aligned at their last axes).
    /// `[a, b]` → `[y]`; `and` reads masks (a number as true when not 0) and, like the comparisons, gives a mask.
    case binary(BinaryOperation)
    /// `a` where `condition` is true (not 0), else `b`, the three broadcast together (NumPy's `where`).
    /// `[condition, a, b]` → `[y]`.
    case select
    /// A sum, mean, maximum or minimum over `axes` (nil: every axis, the batch too); `keepDims` keeps them
    /// as size 1. `[x]` → `[y]`.
    case reduce(ReduceOp)
    /// NumPy basic indexing: per leading axis a strided range or a single index (which drops the axis);
    /// later axes are kept whole. `[x]` → `[y]`.
    case slice([SliceIndex])
    /// The value converted to `dtype`: to bool, true where not 0; from bool, 1 and 0. `[x]` → `[y]`.
    case cast(DType)
    /// The same values with an axis of size 1 inserted at `axis` of the result (negative: counted from its
    /// end), NumPy's `expand_dims`; a mask stays a mask. `[x]` → `[y]`.
    case expandDims(axis: Int)
    /// Keras's causal attention mask: true where the row index ≥ the column index, of shape `[1, rows, columns]`
    /// with `rows` the size of `rows`'s axis `rowAxis` and `columns` that of `columns`'s axis `columnAxis`
    /// (negative: counted from the end). `[rows, columns]` → `[mask]`.
    case causalMask(rowAxis: Int, columnAxis: Int)
    /// `x` for x > 0, `alpha · x` below, alpha repeating over the batch. `[x, alpha]` → `[y]`.
    case prelu
    /// Max or average over sliding windows of 1 to 3 spatial axes. `[x]` → `[y]`.
    case pool(PoolOp)
    /// Max or average over every spatial axis. `[x, mask?]` → `[y]`.
    case globalPool(GlobalPoolOp)
    /// Keras 3's adaptive pooling to a fixed output size per spatial axis. `[x]` → `[y]`.
    case adaptivePool(AdaptivePoolOp)
    /// Batch normalisation with moving statistics. `[x, gamma?, beta?, mean, variance]` → `[y]`.
    case batchNorm(BatchNormOp)
    /// Layer normalisation over `axes` of each sample. `[x, gamma?, beta?]` → `[y]`.
    case layerNorm(LayerNormOp)
    /// Group normalisation: the channels split into groups, each normalised per sample over its channels
    /// and every non-batch axis. `[x, gamma?, beta?]` → `[y]`.
    case groupNorm(GroupNormOp)
    /// `x / max(‖x‖₂, normFloor)` with the norm taken over `axes` together. `[x]` → `[y]`.
    case l2Normalize(axes: [Int], normFloor: Double)
    /// Fixed statistics applied per position along the kept axes (Keras's preprocessing Normalization).
    /// `[x, mean, variance]` → `[y]`.
    case standardize(StandardizeOp)
    /// The number of `boundaries` (ascending) at or below each element: `tf.raw_ops.Bucketize`. `[x]` →
    /// `[whole numbers]`.
    case bucketize(boundaries: [Float])
    /// Whole-number indices in `[0, depth)` as one-hot rows, or a multi-hot or count row per sample.
    /// `[indices]` → `[y]`.
    case categoryEncoding(CategoryEncodingOp)
    /// Integers mapped through a vocabulary to their indices, or indices back to the integers. `[x]` →
    /// `[whole numbers]`.
    case integerLookup(IntegerLookupOp)
    /// Strings mapped through a vocabulary to their indices, or indices back to the strings. `[x]` →
    /// `[whole numbers]` (inverted: `[strings]`).
    case stringLookup(StringLookupOp)
    /// Whole numbers or strings hashed into bins as Keras's Hashing does (see `HashingOp`). `[x]` → `[whole numbers]`.
    case hashing(HashingOp)
    /// Keras TextVectorization's standardize, split, n-grams and lookup (see `TextVectorizationOp`).
    /// `[strings]` → `[whole numbers]`.
    case textVectorization(TextVectorizationOp)
    /// Keras HashedCrossing: the features of each sample crossed into one of `bins` bins, as
    /// `tf.sparse.cross_hashed` does. `[x₁, x₂, …]` (whole numbers or strings, one per sample) → `[whole numbers]`.
    case hashedCrossing(bins: Int)
    /// A convolution over 1 to 3 spatial axes, its activation applied. `[x, weights…]` → `[y]`, weights in
    /// Keras's layout and order (`kernel, bias?`; separable: `depthwise, pointwise, bias?`).
    case convolution(ConvolutionOp)
    /// A SimpleRNN, LSTM or GRU pass. `[x, mask?, weights…, initial states…]` → `[output, states…]` (states
    /// with `returnState`); weights `kernel, recurrent_kernel, bias?` in Keras's gate order.
    case recurrent(RecurrentOp, weights: Int, returnState: Bool)
    /// Keras Bidirectional: both passes over the sequence, merged. `[x, mask?, forward weights…, backward
    /// weights…, initial states…]` → `[merged output(s), forward states…, backward states…]`.
    case bidirectional(BidirectionalOp)
    /// Keras ConvLSTM1D/2D/3D over a channels_last sequence `[b, t, spatial…, channels]`.
    /// `[x, mask?, kernel, recurrent_kernel, bias?, initial h?, initial c?]` → `[output, h, c]` (the states
    /// with `returnState`).
    case convLSTM(ConvLSTMOp)
    /// The time axis (axis 1 of `[b, t, …]`) reversed; a mask stays a mask. `[x]` → `[y]`.
    case reverseTime
    /// Time folded into the batch: `[b, t, ...]` → `[b·t, ...]`. `[x]` → `[y]`.
    case foldTime
    /// The per-step mask of a folded input: a `[b, t, s...]` mask as `[b·t, s...]`; none for a `[b, t]` mask.
    /// `[x, mask]` → `[mask]`.
    case foldTimeMask
    /// A folded result back to `[b, t, ...]`, `b` and `t` read from the unfolded input. `[y, x]` → `[z]`.
    case unfoldTime
    /// TimeDistributed's output mask: Keras 3 passes the input mask on; tf.keras unfolds the inner layer's
    /// mask when it computed one, else keeps a step when any of its positions is kept.
    /// `[x, inputMask?, innerMask?]` → `[mask]`.
    case timeDistributedMask(keras3: Bool)
    /// A layer call kconv cannot compute (a Lambda, a custom class): running it fails with `reason`.
    case unsupported(reason: String)
}


package enum MergeOperation: String, Sendable, Equatable { case add, subtract, multiply, average, maximum, minimum }

/// Keras's elementwise merge layers. `keras3Masks`: masks merge as Keras 3 does (OR, and Multiply,
/// Maximum and Minimum look at them) rather than as tf.keras (AND).
package struct MergeOp: Sendable, Equatable {
    package var operation: MergeOperation
    package var keras3Masks: Bool

    package init(operation: MergeOperation, keras3Masks: Bool) {
        self.operation = operation
        self.keras3Masks = keras3Masks
    }
}

/// Concatenation along `axis` (negative counts from the end). `keras3Masks`: along the feature axis the
/// masks OR (Keras 3) rather than AND (tf.keras).
package struct ConcatenateOp: Sendable, Equatable {
    package var axis: Int
    package var keras3Masks: Bool

    package init(axis: Int, keras3Masks: Bool) {
        self.axis = axis
        self.keras3Masks = keras3Masks
    }
}

/// `batch_dot` along `axes` (one per input); with `normalize`, cosine similarity, each input first
/// L2-normalised with its norm floored at `normFloor` (tf.keras 1e-6, Keras 3 1e-7).
package struct DotOp: Sendable, Equatable {
    package var axes: [Int]
    package var normalize: Bool
    package var normFloor: Double

    package init(axes: [Int], normalize: Bool, normFloor: Double) {
        self.axes = axes
        self.normalize = normalize
        self.normFloor = normFloor
    }
}

/// Keras Softmax over `axes` (Keras 3 takes several), masked positions left out as `masking` says.
package struct SoftmaxOp: Sendable, Equatable {
    /// How masked positions are left out. They differ only where a whole row is masked: an offset or a
    /// replacement leaves every position of it equal (a uniform row), zeroing gives zeros.
    package enum Masking: Sendable, Equatable {
        /// `x + (1 − mask) · −1e9`: tf.keras's Softmax, and both Kerases' Attention layers (`scores − 1e9`).
        case offset
        /// Masked logits replaced by a large negative number: tf.keras's Softmax with `robust_masking`, and
        /// Keras 3's `dot_product_attention`.
        case replace
        /// Replaced, and the results zeroed where masked: Keras 3's Softmax layer.
        case replaceAndZero
    }

    package var axes: [Int]
    package var masking: Masking

    package init(axes: [Int], masking: Masking) {
        self.axes = axes
        self.masking = masking
    }
}

/// A two-operand einsum such as `abc,cde->abde`: each term names its operand's axes by letters (no ellipsis,
/// no letter twice in one term, a term may be empty for a scalar); a letter in both operands and not in the
/// output is summed over, and so is one in a single operand that the output leaves out.
package struct EinsumOp: Sendable, Equatable {
    package var equation: String
    package var activation: Activation

    package init(equation: String, activation: Activation = .linear) {
        self.equation = equation
        self.activation = activation
    }

    /// The operands' terms and the output's, or nil when `equation` is not `term,term->term` in letters.
    package var terms: (a: [Character], b: [Character], output: [Character])? {
        let sides = equation.split(separator: "->", omittingEmptySubsequences: false)
        guard sides.count == 2 else { return nil }
        let operands = sides[0].split(separator: ",", omittingEmptySubsequences: false)
        let all = [operands.first, operands.last, sides.last].compactMap { $0.map(Array.init) }
        guard operands.count == 2, all.count == 3,
              all.allSatisfy({ term in term.allSatisfy { $0.isASCII && $0.isLetter } && Set(term).count == term.count })
        else { return nil }
        return (all[0], all[1], all[2])
    }
}

/// `tf.math` functions of one operand: `sqrt`, natural `log`, and `max(x, floor)` (`ops.maximum` with a
/// constant).
package enum MathFunction: Sendable, Equatable {
    case sqrt, log
    case atLeast(Float)
}

/// Elementwise operations on two broadcast operands (ONNX Add, Mul, And, ...); comparisons and `and` give masks.
package enum BinaryOperation: String, Sendable, CaseIterable, Equatable {
    case add, subtract, multiply, divide, power, maximum, minimum, and
    case equal, notEqual, greater, greaterEqual, less, lessEqual

    /// Whether the result is a mask (bool) rather than numbers.
    package var givesMask: Bool { ![.add, .subtract, .multiply, .divide, .power, .maximum, .minimum].contains(self) }
}

/// A reduction over axes (see `Op.reduce`).
package struct ReduceOp: Sendable, Equatable {
    package enum Kind: String, Sendable { case sum, mean, max, min }
    package var kind: Kind
    /// Non-negative axes; nil for all of them.
    package var axes: [Int]?
    package var keepDims: Bool

    package init(kind: Kind, axes: [Int]?, keepDims: Bool) {
        self.kind = kind
        self.axes = axes
        self.keepDims = keepDims
    }
}

/// One axis of a NumPy basic index (`x[:, 1:3, ::2]`, `x[:, -1]`).
package enum SliceIndex: Sendable, Equatable {
    /// Python's `start:stop:step` (nil bounds: the whole axis in the step's direction; step ≠ 0).
    case range(start: Int?, stop: Int?, step: Int)
    /// One position (negative: from the end); the axis is dropped.
    case index(Int)

    /// The positions a range selects from an axis of `size`, as Python's `slice.indices` computes them.
    package func positions(size: Int) -> [Int] {
        switch self {
        case .index(let index): return [index < 0 ? index + size : index]
        case .range(let start, let stop, let step):
            func clamp(_ bound: Int?, _ fallback: Int) -> Int {
                guard var value = bound else { return fallback }
                if value < 0 { value += size }
                return step > 0 ? min(max(value, 0), size) : min(max(value, -1), size - 1)
            }
            let first = clamp(start, step > 0 ? 0 : size - 1), end = clamp(stop, step > 0 ? size : -1)
            return Array(stride(from: first, to: end, by: step))
        }
    }
}

package enum PoolReduction: Sendable, Equatable { case max, average }

/// Keras's windowed pooling: `poolSize` and `strides` per spatial axis, `valid` or `same` padding (an
/// average leaves padding out of its count).
package struct PoolOp: Sendable, Equatable {
    package var reduction: PoolReduction
    package var poolSize: [Int]
    package var strides: [Int]
    package var padding: String
    package var channelsFirst: Bool

    package init(reduction: PoolReduction, poolSize: [Int], strides: [Int], padding: String, channelsFirst: Bool) {
        self.reduction = reduction
        self.poolSize = poolSize
        self.strides = strides
        self.padding = padding
        self.channelsFirst = channelsFirst
    }
}

/// Keras 3's adaptive pooling: each spatial axis cut into `outputSize` windows (see `windows`), each
/// reduced to one value.
package struct AdaptivePoolOp: Sendable, Equatable {
    package var reduction: PoolReduction
    package var outputSize: [Int]
    package var channelsFirst: Bool

    package init(reduction: PoolReduction, outputSize: [Int], channelsFirst: Bool) {
        self.reduction = reduction
        self.outputSize = outputSize
        self.channelsFirst = channelsFirst
    }

    /// The windows of an axis of `length` cut into `count`: `[floor(i·L/n), ceil((i+1)·L/n))`, computed in
    /// float32 as Keras 3's `_compute_static_gather_indices` does, start at most `L − 1`, end at most `L`.
    package static func windows(length: Int, count: Int) -> [Range<Int>] {
        (0..<count).map { i in
            let start = min(Int((Float(i) * Float(length) / Float(count)).rounded(.down)), length - 1)
            let end = min(Int((Float(i + 1) * Float(length) / Float(count)).rounded(.up)), length)
            return start ..< max(end, start + 1)
        }
    }
}

/// Keras's global pooling over `rank` spatial axes; `keepDims` keeps them as size 1.
package struct GlobalPoolOp: Sendable, Equatable {
    package var reduction: PoolReduction
    package var rank: Int
    package var channelsFirst: Bool
    package var keepDims: Bool

    package init(reduction: PoolReduction, rank: Int, channelsFirst: Bool, keepDims: Bool) {
        self.reduction = reduction
        self.rank = rank
        self.channelsFirst = channelsFirst
        self.keepDims = keepDims
    }
}

/// Keras BatchNormalization at inference: `axes` hold the channels (tf.keras allows several), for inputs of
/// `rank` dimensions.
package struct BatchNormOp: Sendable, Equatable {
    package var axes: [Int]
    package var rank: Int
    package var epsilon: Double

    package init(axes: [Int], rank: Int, epsilon: Double) {
        self.axes = axes
        self.rank = rank
        self.epsilon = epsilon
    }
}

/// Keras LayerNormalization over `axes`, for inputs of `rank` dimensions; `subtractsMean` is false for
/// Keras 3's RMS scaling. `rootMeanSquare`: divide by `sqrt(mean(x²) + epsilon)` rather than by the
/// variance's root (Keras 3's RMSNormalization).
package struct LayerNormOp: Sendable, Equatable {
    package var axes: [Int]
    package var rank: Int
    package var epsilon: Double
    package var subtractsMean: Bool
    package var rootMeanSquare: Bool

    package init(axes: [Int], rank: Int, epsilon: Double, subtractsMean: Bool, rootMeanSquare: Bool = false) {
        self.axes = axes
        self.rank = rank
        self.epsilon = epsilon
        self.subtractsMean = subtractsMean
        self.rootMeanSquare = rootMeanSquare
    }
}

/// Keras GroupNormalization: `groups` groups of consecutive channels along `axis` of a `rank`-D input.
package struct GroupNormOp: Sendable, Equatable {
    package var axis: Int
    package var groups: Int
    package var rank: Int
    package var epsilon: Double

    package init(axis: Int, groups: Int, rank: Int, epsilon: Double) {
        self.axis = axis
        self.groups = groups
        self.rank = rank
        self.epsilon = epsilon
    }
}

/// `(x − mean) / max(sqrt(variance), floor)`, or with `invert` `mean + x · max(sqrt(variance), floor)`;
/// `mean` and `variance` hold one value per position along `keptAxes` (row-major) of a `rank`-D input.
package struct StandardizeOp: Sendable, Equatable {
    package var keptAxes: [Int]
    package var rank: Int
    package var invert: Bool
    package var floor: Float

    package init(keptAxes: [Int], rank: Int, invert: Bool, floor: Float) {
        self.keptAxes = keptAxes
        self.rank = rank
        self.invert = invert
        self.floor = floor
    }
}

/// Keras 3's AutoContrast on a 4-D batch: values mapped from `low…high` to 0…255; each stretched by the
/// minimum and maximum over axes 1 and 2 of its image (per position along axis 3), as
/// `x · 255/(max − min) − min · 255/(max − min)` clipped to 0…255; mapped back to `low…high`. Where the
/// stretch is NaN (a flat channel: 0 · ∞), the input stays.
package struct AutoContrastOp: Sendable, Equatable {
    package var low: Float
    package var high: Float

    package init(low: Float, high: Float) {
        self.low = low
        self.high = high
    }

    /// Whether values are mapped to 0…255 and back (Keras skips both when the range is already that).
    package var mapsRange: Bool { low != 0 || high != 255 }
}

/// Keras 3.15's contrast-limited adaptive histogram equalization of a channels_last image batch
/// (`image_preprocessing/clahe.py`), per image and channel, in float32 as Keras computes it: values mapped
/// from `low…high` to 0…255; the image padded symmetrically at its bottom and right to `gridHeight × gridWidth`
/// tiles of `tileHeight × tileWidth`; per tile a 256-bin histogram of the values truncated to whole numbers
/// (clipped to 0…255), with a positive `clipLimit` clipped at `clipLimit · tile pixels / 256` and the excess
/// spread evenly; its cumulative sum normalised to `(cdf − cdf[0]) · 255 / (tile pixels − cdf[0])` (a zero
/// denominator as 1) clipped to 0…255; each pixel's value looked up in the four tiles around it (the tile grid
/// extended by its edge tiles) and blended bilinearly by its position; mapped back to `low…high`.
package struct HistogramEqualizationOp: Sendable, Equatable {
    package var low: Float
    package var high: Float
    /// Nil when Keras does not clip (`clip_limit` ≤ 0).
    package var clipLimit: Double?
    package var gridHeight: Int
    package var gridWidth: Int

    package init(low: Float, high: Float, clipLimit: Double?, gridHeight: Int, gridWidth: Int) {
        (self.low, self.high, self.clipLimit, self.gridHeight, self.gridWidth) = (low, high, clipLimit, gridHeight, gridWidth)
    }

    /// Whether values are mapped to 0…255 and back (Keras skips both when the range is already that).
    package var mapsRange: Bool { low != 0 || high != 255 }

    /// The tile size for an image of `size` pixels along an axis cut into `grid` tiles.
    package static func tile(_ size: Int, grid: Int) -> Int { (size + grid - 1) / grid }

    /// For each of `size` output positions along an axis of `grid` tiles of `tile` pixels: the two tiles of
    /// the edge-extended grid (0…grid + 1) it blends and the weight of the second, in Keras's float32 steps.
    package static func blend(size: Int, grid: Int, tile: Int) -> (first: [Int], second: [Int], weight: [Float]) {
        var result: (first: [Int], second: [Int], weight: [Float]) = ([], [], [])
        for position in 0..<size {
            let coordinate = (Float(position) - Float(Double(tile) / 2)) / Float(tile) + 1
            let floor = coordinate.rounded(.down)
            result.first.append(Int(min(max(floor, 0), Float(grid + 1))))
            result.second.append(Int(min(max(floor + 1, 0), Float(grid + 1))))
            result.weight.append(coordinate - floor)
        }
        return result
    }
}

/// How Keras's image layers resize: to a fixed `height` × `width` or by whole `factors`, after fitting the
/// image to the target's aspect ratio (`fit`), with one of TensorFlow's interpolations.
package struct ResizeOp: Sendable, Equatable {
    /// `tf.image.resize`'s methods kconv computes (all with half-pixel centers, as `resize_images_v2`).
    package enum Interpolation: String, Sendable, CaseIterable { case bilinear, nearest, bicubic }
    package enum Target: Sendable, Equatable {
        case size(height: Int, width: Int)
        case factors(height: Int, width: Int)
    }
    package enum Fit: Sendable, Equatable {
        /// The whole image, its aspect ratio not kept.
        case stretch
        /// The largest centred window of the target's aspect ratio (`smart_resize`, `crop_to_aspect_ratio`).
        case cropToAspectRatio
        /// Rows or columns of `fill` added evenly on both sides to reach the target's aspect ratio (Keras 3's
        /// `pad_to_aspect_ratio`).
        case padToAspectRatio(fill: Float)
        /// The centred target-size window when the image is at least that large, else `cropToAspectRatio`
        /// (CenterCrop).
        case centerCrop
    }

    package var target: Target
    package var interpolation: Interpolation
    package var fit: Fit
    package var channelsFirst: Bool

    package init(target: Target, interpolation: Interpolation, fit: Fit = .stretch, channelsFirst: Bool) {
        self.target = target
        self.interpolation = interpolation
        self.fit = fit
        self.channelsFirst = channelsFirst
    }
}

/// Keras's categorical encodings of whole numbers in `[0, depth)`: `oneHot` adds an axis of `depth` (a
/// trailing axis of 1 is replaced); `multiHot` and `count` turn the last axis of a 2-D input into `depth`
/// flags or counts. Numbers outside the range set nothing.
package struct CategoryEncodingOp: Sendable, Equatable {
    package enum Mode: String, Sendable { case oneHot = "one_hot", multiHot = "multi_hot", count }

    package var mode: Mode
    package var depth: Int

    package init(mode: Mode, depth: Int) {
        self.mode = mode
        self.depth = depth
    }
}

/// Keras's Hashing: each string, or each number's decimal string (`tf.as_string`), hashed modulo `bins` by
/// FarmHash's Fingerprint64 (`tf.strings.to_hash_bucket_fast`), or with a `salt` by SipHash-2-4 keyed with
/// it (`to_hash_bucket_strong`); with a `maskValue`, that value becomes 0 and every other bin moves up by one.
package struct HashingOp: Sendable, Equatable {
    package var bins: Int
    package var maskValue: Int64?
    /// A string input's mask value.
    package var maskString: String?
    /// SipHash's two key words.
    package var salt: [UInt64]?

    package init(bins: Int, maskValue: Int64?, maskString: String? = nil, salt: [UInt64]? = nil) {
        self.bins = bins
        self.maskValue = maskValue
        self.maskString = maskString
        self.salt = salt
    }
}

/// Keras IntegerLookup's and StringLookup's table. Forward: `maskToken` becomes `maskIndex`, `vocabulary[i]`
/// becomes `tokenStart + i`, anything else one of the `oovIndices` indices from `oovStart` (when there are
/// several, integers by `value mod oovIndices`, strings by their FarmHash fingerprint mod `oovIndices`;
/// none: an error). `invert`: index `tokenStart + i` becomes `vocabulary[i]`, 0 the mask token (when there
/// is one), anything else `oovToken`.
package struct LookupOp<Token: Hashable & Sendable>: Sendable, Equatable {
    package var vocabulary: [Token]
    package var tokenStart: Int
    package var oovStart: Int
    package var oovIndices: Int
    package var maskToken: Token?
    package var maskIndex: Int64
    package var oovToken: Token
    package var invert: Bool

    package init(vocabulary: [Token], tokenStart: Int, oovStart: Int, oovIndices: Int, maskToken: Token?, maskIndex: Int64,
                oovToken: Token, invert: Bool) {
        self.vocabulary = vocabulary
        self.tokenStart = tokenStart
        self.oovStart = oovStart
        self.oovIndices = oovIndices
        self.maskToken = maskToken
        self.maskIndex = maskIndex
        self.oovToken = oovToken
        self.invert = invert
    }
}

package typealias IntegerLookupOp = LookupOp<Int64>
package typealias StringLookupOp = LookupOp<String>

/// Keras TextVectorization (keras 3.15 and tf-keras 2.21 `text_vectorization.py`): each string standardized
/// (`tf.strings.lower`, ASCII only; ASCII punctuation removed), split (on ASCII whitespace, runs counting
/// once, or into Unicode scalars), n-grams of each width in `ngrams` appended in width order (joined by a
/// space), then each token looked up. Each sample's indices fill a row of `length` (or the batch's longest),
/// padded with `padding` and truncated.
package struct TextVectorizationOp: Sendable, Equatable {
    package enum Split: String, Sendable { case whitespace, character }

    package var lower: Bool
    package var stripPunctuation: Bool
    /// nil: each string is one token.
    package var split: Split?
    package var ngrams: [Int]?
    package var lookup: StringLookupOp
    package var length: Int?
    package var padding: Int64

    package init(lower: Bool, stripPunctuation: Bool, split: Split?, ngrams: [Int]?, lookup: StringLookupOp, length: Int?, padding: Int64) {
        self.lower = lower
        self.stripPunctuation = stripPunctuation
        self.split = split
        self.ngrams = ngrams
        self.lookup = lookup
        self.length = length
        self.padding = padding
    }
}

/// Keras's convolutions. Kernels are `kernel_size + (in / groups, filters)` (transposed:
/// `kernel_size + (filters, in)`; depthwise `kernel_size + (in, multiplier)`), as Keras stores them.
package struct ConvolutionOp: Equatable {
    package enum Kind: Sendable, Equatable {
        case regular(filters: Int, groups: Int)
        /// The output's spatial sizes are Keras's `deconv_output_length`.
        case transposed(filters: Int, outputPadding: [Int]?)
        case depthwise
        /// A depthwise convolution, then a 1×1 one over its channels.
        case separable
    }

    package var kind: Kind
    package var kernelSize: [Int]
    package var strides: [Int]
    package var padding: String
    package var dilation: [Int]
    package var channelsFirst: Bool
    package var useBias: Bool
    package var activation: Activation

    package var rank: Int { kernelSize.count }

    package init(kind: Kind, kernelSize: [Int], strides: [Int], padding: String, dilation: [Int], channelsFirst: Bool, useBias: Bool, activation: Activation) {
        self.kind = kind
        self.kernelSize = kernelSize
        self.strides = strides
        self.padding = padding
        self.dilation = dilation
        self.channelsFirst = channelsFirst
        self.useBias = useBias
        self.activation = activation
    }
}

/// One recurrent cell. Gate blocks in the kernels follow Keras: LSTM `[i f c o]`, GRU `[z r h]`.
package enum RecurrentCell: Sendable, Equatable {
    case simple, lstm
    /// `resetAfter`: apply the reset gate after the recurrent product (cuDNN-compatible, Keras ≥ 2.3 default).
    case gru(resetAfter: Bool)

    package var gates: Int {
        switch self {
        case .simple: 1
        case .lstm: 4
        case .gru: 3
        }
    }

    /// Recurrent state tensors: LSTM carries h and c, the others h.
    package var stateCount: Int { self == .lstm ? 2 : 1 }
}

/// One pass of a recurrent layer.
package struct RecurrentOp: Sendable, Equatable {
    package var cell: RecurrentCell
    package var units: Int
    package var activation: Activation
    package var recurrentActivation: Activation
    package var useBias: Bool
    package var goBackwards: Bool
    package var returnSequences: Bool
    /// Masked steps output zeros rather than the previous output.
    package var zeroOutputForMask: Bool

    /// Weights of one pass: kernel, recurrent kernel and (with `useBias`) bias.
    package var weightCount: Int { useBias ? 3 : 2 }

    package init(cell: RecurrentCell, units: Int, activation: Activation, recurrentActivation: Activation, useBias: Bool, goBackwards: Bool, returnSequences: Bool, zeroOutputForMask: Bool) {
        self.cell = cell
        self.units = units
        self.activation = activation
        self.recurrentActivation = recurrentActivation
        self.useBias = useBias
        self.goBackwards = goBackwards
        self.returnSequences = returnSequences
        self.zeroOutputForMask = zeroOutputForMask
    }
}

/// One ConvLSTM pass. `input` is the convolution of each step's input (its kernel `kernel_size + (channels,
/// 4·filters)`, gates `[i f c o]`, bias, strides, padding, dilation; channels_last, linear); the recurrent
/// convolution of the previous output has the same kernel size, stride 1 and `same` padding, as in Keras.
package struct ConvLSTMOp: Equatable {
    package var input: ConvolutionOp
    package var filters: Int
    package var activation: Activation
    package var recurrentActivation: Activation
    package var goBackwards: Bool
    package var returnSequences: Bool
    package var returnState: Bool
    /// Masked steps output zeros rather than the previous output.
    package var zeroOutputForMask: Bool

    /// Weights: kernel, recurrent kernel and (with the input convolution's `useBias`) bias.
    package var weightCount: Int { input.useBias ? 3 : 2 }

    /// The convolution of the previous output `h` (`kernel_size + (filters, 4·filters)`, no bias).
    package var recurrent: ConvolutionOp {
        ConvolutionOp(kind: .regular(filters: 4 * filters, groups: 1), kernelSize: input.kernelSize, strides: input.kernelSize.map { _ in 1 },
                      padding: "same", dilation: input.kernelSize.map { _ in 1 }, channelsFirst: false, useBias: false, activation: .linear)
    }

    package init(input: ConvolutionOp, filters: Int, activation: Activation, recurrentActivation: Activation, goBackwards: Bool,
                returnSequences: Bool, returnState: Bool, zeroOutputForMask: Bool) {
        self.input = input
        self.filters = filters
        self.activation = activation
        self.recurrentActivation = recurrentActivation
        self.goBackwards = goBackwards
        self.returnSequences = returnSequences
        self.returnState = returnState
        self.zeroOutputForMask = zeroOutputForMask
    }
}

/// Keras Bidirectional over two recurrent passes. `mergeMode` nil: the two outputs apart.
package struct BidirectionalOp: Sendable, Equatable {
    package enum MergeMode: String, Sendable { case concat, sum, mul, ave }

    package var forward: RecurrentOp
    package var backward: RecurrentOp
    package var mergeMode: MergeMode?
    package var returnState: Bool

    package init(forward: RecurrentOp, backward: RecurrentOp, mergeMode: MergeMode?, returnState: Bool) {
        self.forward = forward
        self.backward = backward
        self.mergeMode = mergeMode
        self.returnState = returnState
    }
}
