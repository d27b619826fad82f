import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// The broadcasting and per-axis kernels against naive index-by-index versions, and the normalisation,
/// merge and activation layers built from configs against Keras's formulas written out per element.
@Suite struct ElementwiseEngineTests {
    // MARK: Kernels

    /// NumPy broadcasting on random shape pairs (missing leading axes, axes of size 1 on either side).
    @Test func broadcastingMatchesNaive() throws {
        var random = SplitMix64(seed: 1)
        for _ in 0 ..< 200 {
            let full = (0 ..< random.int(0 ... 4)).map { _ in random.int(1 ... 4) }
            let a = randomOperandShape(of: full, &random), b = randomOperandShape(of: full, &random)
            let x = random.tensor(a, scale: 2), y = random.tensor(b, scale: 2)
            let got = try Tensor.broadcasting(x, y, -)
            let shape = try #require(Tensor.broadcastShape(a, b))
            #expect(got.shape == shape)
            for (flat, index) in multiIndices(shape).enumerated() {
                #expect(got.values[flat] == element(x, at: index) - element(y, at: index), "\(a) - \(b) at \(index)")
            }
        }
        #expect(throws: EngineError.self) { try Tensor.broadcasting(Tensor(zeros: [2, 3]), Tensor(zeros: [2]), +) }
    }

    /// The native kernels (NativeKernels.broadcast) on the same random shape pairs, for each operation, and on
    /// shapes large enough to split across cores (a squeeze-and-excitation product, a row against a matrix).
    @Test func nativeBroadcastingMatchesNaive() throws {
        var random = SplitMix64(seed: 2)
        let operations: [(NativeKernels.Arithmetic, (Float, Float) -> Float)] = [(.add, +), (.subtract, -), (.multiply, *), (.divide, /)]
        var pairs: [([Int], [Int])] = [([32, 17, 19, 40], [32, 1, 1, 40]), ([300, 1000], [1000]), ([1], [5, 1, 3]), ([], [])]
        for _ in 0 ..< 100 {
            let full = (0 ..< random.int(0 ... 4)).map { _ in random.int(1 ... 4) }
            pairs.append((randomOperandShape(of: full, &random), randomOperandShape(of: full, &random)))
        }
        for (a, b) in pairs {
            let x = random.tensor(a, scale: 2), y = random.tensor(b, scale: 2)
            for (operation, function) in operations {
                let got = try Tensor.broadcasting(x, y, operation), want = try Tensor.broadcasting(x, y, function)
                #expect(got.shape == want.shape && got.values == want.values, "\(a) \(operation) \(b)")
            }
        }
        #expect(throws: EngineError.self) { try Tensor.broadcasting(Tensor(zeros: [2, 3]), Tensor(zeros: [2]), .add) }
    }

    /// Rows over any set of axes, trailing or not: each element becomes the sum of its row.
    @Test(arguments: [[3], [1], [1, 2], [2, 1], [1, 3], [0, 2], [0, 1, 2, 3]])
    func mappingRowsGroupsTheAxes(_ axes: [Int]) {
        var random = SplitMix64(seed: 3)
        let x = random.tensor([2, 3, 4, 5], scale: 2)
        let got = x.mappingRows(over: axes) { values, rows, width in
            for row in 0 ..< rows {
                let range = row * width ..< (row + 1) * width
                let total = values[range].reduce(0, +)
                for i in range { values[i] = total }
            }
        }
        let indices = multiIndices(x.shape)
        for (flat, index) in indices.enumerated() {
            let members = indices.filter { other in x.shape.indices.allSatisfy { axes.contains($0) || other[$0] == index[$0] } }
            let want = members.reduce(Float(0)) { $0 + element(x, at: $1) }
            #expect(abs(got.values[flat] - want) < 1e-5, "axes \(axes) at \(index)")
        }
    }

    // MARK: Normalisation

    @Test(arguments: [
        (#""axis": -1"#, [4, 3, 5]), (#""axis": 1"#, [2, 3, 4, 2]), (#""axis": -1, "center": false"#, [3, 6]),
        (#""axis": 2, "scale": false, "epsilon": 0.01"#, [2, 3, 4]), (#""axis": [1, 3]"#, [2, 3, 2, 4]),
    ])
    func batchNormalizationMatchesFormula(_ options: String, _ shape: [Int]) throws {
        var random = SplitMix64(seed: 4)
        let layer = try makeLayer(#"{"class_name": "BatchNormalization", "config": {"trainable": true, "name": "bn", \#(options)}}"#,
                                  input: [nil] + shape.dropFirst().map { $0 }, dialect: .keras2, &random)
        let bn = try #require(layer as? BatchNormalization)
        let weights = Dictionary(uniqueKeysWithValues: zip(bn.weightSpecs.map(\.name), bn.parameters.map(\.values)))
        let x = random.tensor(shape, scale: 2)
        let got = try bn.forward(LayerCall(inputs: [x])).tensors[0]
        for (flat, index) in multiIndices(shape).enumerated() {
            let channel = bn.axes.reduce(0) { $0 * shape[$1] + index[$1] }
            let mean = weights["moving_mean"]![channel], variance = weights["moving_variance"]![channel]
            let gamma = weights["gamma"]?[channel] ?? 1, beta = weights["beta"]?[channel] ?? 0
            let want = gamma * (x.values[flat] - mean) / (variance + Float(bn.epsilon)).squareRoot() + beta
            #expect(abs(got.values[flat] - want) < 1e-5, "\(options) at \(index)")
        }
    }

    @Test(arguments: [
        (#""axis": -1"#, [3, 4, 6]), (#""axis": [1, 2]"#, [2, 3, 4]), (#""axis": [1, 3], "epsilon": 0.1"#, [2, 3, 2, 4]),
        (#""axis": -1, "center": false"#, [3, 5]), (#""axis": -1, "rms_scaling": true"#, [3, 7]),
    ])
    func layerNormalizationMatchesFormula(_ options: String, _ shape: [Int]) throws {
        var random = SplitMix64(seed: 5)
        let layer = try makeLayer(#"{"class_name": "LayerNormalization", "config": {"trainable": true, "name": "ln", \#(options)}}"#,
                                  input: [nil] + shape.dropFirst().map { $0 }, dialect: .keras3, &random)
        let ln = try #require(layer as? LayerNormalization)
        let weights = Dictionary(uniqueKeysWithValues: zip(ln.weightSpecs.map(\.name), ln.parameters.map(\.values)))
        let x = random.tensor(shape, scale: 2)
        let got = try ln.forward(LayerCall(inputs: [x])).tensors[0]
        let indices = multiIndices(shape)
        let axes = ln.axes.sorted()
        for (flat, index) in indices.enumerated() {
            let group = indices.filter { other in shape.indices.allSatisfy { axes.contains($0) || other[$0] == index[$0] } }
                .map { element(x, at: $0) }
            let mean = group.reduce(0, +) / Float(group.count)
            let variance = group.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Float(group.count)
            let position = axes.reduce(0) { $0 * shape[$1] + index[$1] }
            let gamma = weights["gamma"]?[position] ?? 1, beta = weights["beta"]?[position] ?? 0
            // Keras 3's rms_scaling: x · gamma / sqrt(var + epsilon), no mean subtracted, no beta.
            let centred = ln.rmsScaling ? x.values[flat] : x.values[flat] - mean
            let want = gamma * centred / (variance + Float(ln.epsilon)).squareRoot() + beta
            #expect(abs(got.values[flat] - want) < 1e-5, "\(options) at \(index)")
        }
    }

    // MARK: Merges

    /// A lower-rank input gains its axes after the batch axis (Keras's `expand_dims(x, 1)`), not before it.
    @Test func elementwiseMergesBroadcastLikeKeras() throws {
        var random = SplitMix64(seed: 6)
        let a = random.tensor([2, 3, 4], scale: 2), b = random.tensor([2, 4], scale: 2), c = random.tensor([2, 1, 4], scale: 2)
        let cases: [(String, (Float, Float, Float) -> Float)] = [
            ("Add", { $0 + $1 + $2 }), ("Multiply", { $0 * $1 * $2 }), ("Average", { ($0 + $1 + $2) / 3 }),
            ("Maximum", { max($0, $1, $2) }), ("Minimum", { min($0, $1, $2) }),
        ]
        for (name, combine) in cases {
            let layer = try makeLayer(#"{"class_name": "\#(name)", "config": {"trainable": true, "name": "merge"}}"#, input: [nil, 3, 4], &random)
            let got = try layer.forward(LayerCall(inputs: [a, b, c])).tensors[0]
            #expect(got.shape == [2, 3, 4])
            for (flat, index) in multiIndices([2, 3, 4]).enumerated() {
                let want = combine(element(a, at: index), element(b, at: [index[0], index[2]]), element(c, at: [index[0], 0, index[2]]))
                #expect(abs(got.values[flat] - want) < 1e-6, "\(name) at \(index)")
            }
        }
        let subtract = try makeLayer(#"{"class_name": "Subtract", "config": {"trainable": true, "name": "subtract"}}"#, input: [nil, 3, 4], &random)
        #expect(try subtract.forward(LayerCall(inputs: [a, a])).tensors[0].values.allSatisfy { $0 == 0 })
        #expect(throws: EngineError.self) { try subtract.forward(LayerCall(inputs: [a, a, a])) }
        #expect(throws: EngineError.self) { try subtract.forward(LayerCall(inputs: [a, random.tensor([2, 3, 5], scale: 2)])) }
    }

    /// tf.keras ANDs the masks present; Keras 3 ORs them when every input has one, and its Maximum takes a
    /// padded row from the other input.
    @Test func mergeMasksFollowTheDialect() throws {
        var random = SplitMix64(seed: 7)
        let a = Tensor(shape: [1, 3, 2], values: [1, 5, 2, 2, 3, 3]), b = Tensor(shape: [1, 3, 2], values: [4, 0, 1, 1, 9, 9])
        let maskA = Mask(shape: [1, 3], values: [true, false, true]), maskB = Mask(shape: [1, 3], values: [true, true, false])
        let entry = #"{"class_name": "Maximum", "config": {"trainable": true, "name": "maximum"}}"#
        let keras2 = try makeLayer(entry, input: [nil, 3, 2], dialect: .keras2, &random)
        let old = try keras2.forward(LayerCall(inputs: [a, b], masks: [maskA, maskB]))
        #expect(old.tensors[0].values == [4, 5, 2, 2, 9, 9])
        #expect(old.masks[0]?.values == [true, false, false])
        #expect(try keras2.forward(LayerCall(inputs: [a, b], masks: [maskA, nil])).masks[0]?.values == [true, false, true])

        let keras3 = try makeLayer(entry, input: [nil, 3, 2], dialect: .keras3, &random)
        let new = try keras3.forward(LayerCall(inputs: [a, b], masks: [maskA, maskB]))
        #expect(new.tensors[0].values == [4, 5, 1, 1, 3, 3])
        #expect(new.masks[0]?.values == [true, true, true])
        #expect(try keras3.forward(LayerCall(inputs: [a, b], masks: [maskA, nil])).masks[0] == nil)

        let multiply = try makeLayer(#"{"class_name": "Multiply", "config": {"trainable": true, "name": "multiply"}}"#, input: [nil, 3, 2], &random)
        let product = try multiply.forward(LayerCall(inputs: [a, b], masks: [Mask(shape: [1, 3], values: [true, false, false]), maskB]))
        #expect(product.tensors[0].values == [4, 0, 1, 1, 0, 0])
    }

    @Test func concatenateJoinsTensorsAndMasks() throws {
        var random = SplitMix64(seed: 8)
        let a = random.tensor([2, 3, 2], scale: 2), b = random.tensor([2, 1, 2], scale: 2)
        let middle = try makeLayer(#"{"class_name": "Concatenate", "config": {"trainable": true, "name": "c", "axis": 1}}"#, input: [nil, 3, 2], &random)
        let joined = try middle.forward(LayerCall(inputs: [a, b], masks: [Mask(shape: [2, 3], values: [true, false, true, false, true, true]), nil]))
        #expect(joined.tensors[0].shape == [2, 4, 2])
        #expect(joined.tensors[0].values == Array(a.values[0 ..< 6] + b.values[0 ..< 2] + a.values[6 ..< 12] + b.values[2 ..< 4]))
        #expect(joined.masks[0]?.values == [true, false, true, true, false, true, true, true])

        let c = random.tensor([2, 3, 1], scale: 2)
        let last = #"{"class_name": "Concatenate", "config": {"trainable": true, "name": "c", "axis": -1}}"#
        let masks = [Mask(shape: [2, 3], values: [true, false, true, false, true, false]), nil]
        let keras2 = try makeLayer(last, input: [nil, 3, 2], dialect: .keras2, &random).forward(LayerCall(inputs: [a, c], masks: masks))
        #expect(keras2.tensors[0].shape == [2, 3, 3])
        #expect(keras2.tensors[0].values[3 ... 5] == [a.values[2], a.values[3], c.values[1]])
        #expect(keras2.masks[0]?.values == masks[0]?.values)
        let keras3 = try makeLayer(last, input: [nil, 3, 2], dialect: .keras3, &random).forward(LayerCall(inputs: [a, c], masks: masks))
        #expect(keras3.masks[0]?.values == Array(repeating: true, count: 6))
        #expect(throws: EngineError.self) { try middle.forward(LayerCall(inputs: [a, random.tensor([2, 1, 3], scale: 2)])) }
    }

    /// `batch_dot` on 2-D, 3-D and 4-D inputs along every pair of axes, plain and normalised (cosine).
    @Test(arguments: [
        ([4, 5], [4, 5], [1, 1]), ([3, 4, 5], [3, 4, 6], [1, 1]), ([3, 4, 5], [3, 6, 5], [2, 2]),
        ([3, 4, 5], [3, 5, 6], [2, 1]), ([3, 4, 5], [3, 6, 4], [1, 2]), ([2, 5], [2, 3, 5], [1, 2]),
        ([2, 3, 4, 5], [2, 4, 2], [2, 1]), ([2, 3, 4, 5], [2, 6, 3, 2], [1, 2]),
    ])
    func dotMatchesNaive(_ left: [Int], _ right: [Int], _ axes: [Int]) throws {
        var random = SplitMix64(seed: 9)
        let x = random.tensor(left, scale: 2), y = random.tensor(right, scale: 2)
        for normalize in [false, true] {
            let entry = #"{"class_name": "Dot", "config": {"trainable": true, "name": "dot", "axes": \#(axes), "normalize": \#(normalize)}}"#
            let layer = try makeLayer(entry, input: left.map { $0 }, &random)
            let got = try layer.forward(LayerCall(inputs: [x, y])).tensors[0]
            let want = naiveDot(x, y, axes: axes, normalize: normalize)
            #expect(got.shape == want.shape, "\(left) · \(right) along \(axes)")
            for (g, w) in zip(got.values, want.values) {
                #expect(abs(g - w) < 1e-5, "\(left) · \(right) along \(axes) normalize \(normalize)")
            }
        }
    }

    // MARK: Activations

    @Test func rectifiersFollowKerasRelu() throws {
        var random = SplitMix64(seed: 10)
        let x = Tensor(shape: [1, 9], values: [-3, -1, -0.25, 0, 0.1, 0.3, 1, 2.5, 7])
        let cases: [(String, (Float) -> Float)] = [
            (#""class_name": "ReLU", "config": {"trainable": true, "name": "r", "max_value": 1.5}"#, { min(max($0, 0), 1.5) }),
            (#""class_name": "ReLU", "config": {"trainable": true, "name": "r", "negative_slope": 0.1}"#, { $0 > 0 ? $0 : 0.1 * $0 }),
            (#""class_name": "ReLU", "config": {"trainable": true, "name": "r", "threshold": 0.2}"#, { $0 > 0.2 ? $0 : 0 }),
            (#""class_name": "ReLU", "config": {"trainable": true, "name": "r", "max_value": 2, "negative_slope": 0.2, "threshold": 0.3}"#,
             { $0 >= 2 ? 2 : $0 > 0.3 ? $0 : 0.2 * ($0 - 0.3) }),
            (#""class_name": "ReLU", "config": {"trainable": true, "name": "r", "max_value": 6}"#, { min(max($0, 0), 6) }),
            (#""class_name": "LeakyReLU", "config": {"trainable": true, "name": "r", "alpha": 0.3}"#, { $0 > 0 ? $0 : 0.3 * $0 }),
            (#""class_name": "ThresholdedReLU", "config": {"trainable": true, "name": "r", "theta": 1}"#, { $0 > 1 ? $0 : 0 }),
            (#""class_name": "ELU", "config": {"trainable": true, "name": "r", "alpha": 0.5}"#, { $0 > 0 ? $0 : 0.5 * (exp($0) - 1) }),
        ]
        let mask = Mask(shape: [1], values: [true])
        for (entry, formula) in cases {
            let layer = try makeLayer("{\(entry)}", input: [nil, 9], &random)
            let output = try layer.forward(LayerCall(inputs: [x], masks: [mask]))
            for (got, value) in zip(output.tensors[0].values, x.values) {
                #expect(abs(got - formula(value)) < 1e-6, "\(entry) at \(value)")
            }
            #expect(output.masks[0] == mask)
        }
    }

    /// Rescaling broadcasts scale and offset against the last axes as NumPy does; Keras 3 passes the mask
    /// on, tf-keras (whose Rescaling does not support masking) drops it, as tf_keras 2.21 does.
    @Test func rescalingBroadcastsAndFollowsTheDialectsMask() throws {
        var random = SplitMix64(seed: 12)
        let entry = #"{"class_name": "Rescaling", "config": {"trainable": true, "name": "r", "scale": [[1.0], [0.5]], "offset": {"class_name": "__numpy__", "config": {"value": [1, 2, 3], "dtype": "float32"}}}}"#
        let x = random.tensor([2, 4, 2, 3], scale: 2)
        let mask = Mask(shape: [2, 4], values: [true, false, true, true, false, true, true, false])
        for dialect in [KerasDialect.keras2, .keras3] {
            let layer = try makeLayer(entry, input: [nil, 4, 2, 3], dialect: dialect, &random)
            let output = try layer.forward(LayerCall(inputs: [x], masks: [mask]))
            for (flat, index) in multiIndices(x.shape).enumerated() {
                let want = x.values[flat] * [1, 0.5][index[2]] + [1, 2, 3][index[3]]
                #expect(abs(output.tensors[0].values[flat] - want) < 1e-6)
            }
            #expect(output.masks[0] == (dialect == .keras3 ? mask : nil), "\(dialect)")
        }
        let wrong = #"{"class_name": "Rescaling", "config": {"trainable": true, "name": "r", "scale": [1, 2]}}"#
        #expect(throws: ModelError.self) { try makeLayer(wrong, input: [nil, 4, 3], &random).outputShapes([[nil, 4, 3]]) }
    }

    @Test func preluSharesAlphaAlongSharedAxes() throws {
        var random = SplitMix64(seed: 11)
        let layer = try makeLayer(#"{"class_name": "PReLU", "config": {"trainable": true, "name": "p", "shared_axes": [1]}}"#, input: [nil, 3, 4], &random)
        let alpha = try #require(layer.parameters.first)
        #expect(alpha.shape == [1, 4])
        let x = random.tensor([2, 3, 4], scale: 2)
        let got = try layer.forward(LayerCall(inputs: [x])).tensors[0]
        for (flat, index) in multiIndices(x.shape).enumerated() {
            let value = x.values[flat]
            #expect(got.values[flat] == (value > 0 ? value : alpha.values[index[2]] * value))
        }
    }

    /// Softmax over several axes at once, and with a mask: tf.keras adds −1e9 where masked, Keras 3 also zeroes.
    @Test func softmaxOverAxesAndMasks() throws {
        var random = SplitMix64(seed: 12)
        let x = random.tensor([2, 3, 4], scale: 2)
        let layer = try makeLayer(#"{"class_name": "Softmax", "config": {"trainable": true, "name": "s", "axis": [1, 2]}}"#, input: [nil, 3, 4], &random)
        let got = try layer.forward(LayerCall(inputs: [x])).tensors[0]
        for sample in 0 ..< 2 {
            let row = x.values[sample * 12 ..< (sample + 1) * 12]
            let total = row.reduce(0) { $0 + exp($1) }
            for (offset, value) in row.enumerated() { #expect(abs(got.values[sample * 12 + offset] - exp(value) / total) < 1e-6) }
        }
        let mask = Tensor(shape: [1, 4], values: [1, 0, 1, 1])
        let entry = #"{"class_name": "Softmax", "config": {"trainable": true, "name": "s", "axis": -1}}"#
        for dialect in [KerasDialect.keras2, .keras3] {
            let softmax = try makeLayer(entry, input: [nil, 3, 4], dialect: dialect, &random)
            let masked = try softmax.forward(LayerCall(inputs: [x], keywordInputs: ["mask": [mask]])).tensors[0]
            for row in 0 ..< 6 {
                let kept = [0, 2, 3].map { x.values[row * 4 + $0] }
                let total = kept.reduce(0) { $0 + exp($1) }
                for (column, value) in zip([0, 2, 3], kept) { #expect(abs(masked.values[row * 4 + column] - exp(value) / total) < 1e-6) }
                #expect(masked.values[row * 4 + 1] < 1e-6)
            }
        }
        #expect(throws: EngineError.self) { try layer.forward(LayerCall(inputs: [x], keywordInputs: ["mask": [Tensor(zeros: [2, 3])]])) }
    }
}

// MARK: Naive references

/// Keras's `batch_dot` one output element at a time, after optional L2 normalisation along the axes.
private func naiveDot(_ x: Tensor, _ y: Tensor, axes: [Int], normalize: Bool) -> Tensor {
    func normalized(_ t: Tensor, axis: Int) -> Tensor {
        guard normalize else { return t }
        var result = t
        for (flat, index) in multiIndices(t.shape).enumerated() {
            let norm = (0 ..< t.shape[axis]).reduce(Float(0)) { total, k in
                var at = index
                at[axis] = k
                return total + element(t, at: at) * element(t, at: at)
            }.squareRoot()
            result.values[flat] = t.values[flat] / max(norm, 1e-7)
        }
        return result
    }
    let (a, b) = (normalized(x, axis: axes[0]), normalized(y, axis: axes[1]))
    let restX = x.shape.indices.filter { $0 != 0 && $0 != axes[0] }, restY = y.shape.indices.filter { $0 != 0 && $0 != axes[1] }
    let shape = [x.shape[0]] + restX.map { x.shape[$0] } + restY.map { y.shape[$0] }
    var values: [Float] = []
    for index in multiIndices(shape) {
        var (at, bt) = ([Int](repeating: 0, count: x.rank), [Int](repeating: 0, count: y.rank))
        at[0] = index[0]
        bt[0] = index[0]
        for (position, axis) in restX.enumerated() { at[axis] = index[1 + position] }
        for (position, axis) in restY.enumerated() { bt[axis] = index[1 + restX.count + position] }
        values.append((0 ..< x.shape[axes[0]]).reduce(Float(0)) { total, k in
            at[axes[0]] = k
            bt[axes[1]] = k
            return total + element(a, at: at) * element(b, at: bt)
        })
    }
    return Tensor(shape: shape.count == 1 ? shape + [1] : shape, values: values)
}

/// Every multi-index of `shape` in row-major order.
private func multiIndices(_ shape: [Int]) -> [[Int]] {
    var result: [[Int]] = [[]]
    for dim in shape { result = result.flatMap { prefix in (0 ..< dim).map { prefix + [$0] } } }
    return result
}

/// The element a broadcast operand contributes at `index` of the result (trailing axes aligned, size-1 axes repeated).
private func element(_ t: Tensor, at index: [Int]) -> Float {
    let aligned = index.suffix(t.rank)
    var flat = 0
    for (dim, i) in zip(t.shape, aligned) { flat = flat * dim + (dim == 1 ? 0 : i) }
    return t.values[flat]
}

/// `full` with some leading axes dropped and some axes set to 1.
private func randomOperandShape(of full: [Int], _ random: inout SplitMix64) -> [Int] {
    full.dropFirst(random.int(0 ... full.count)).map { random.int(0 ... 2) == 0 ? 1 : $0 }
}

