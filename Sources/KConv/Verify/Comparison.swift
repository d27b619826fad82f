import KConvEngine
import KConvKeras
import KConvIO
import KConvGraph
/// How one computed tensor compares with a reference, element by element, under Keras-style tolerances.
public struct Comparison: Sendable {
    /// The output (`out_0`) or layer (`layer/<name>`) compared.
    public var name: String
    /// The computed tensor's shape.
    public var shape: [Int]
    public var referenceShape: [Int]
    public var maxAbsoluteError: Float
    public var maxRelativeError: Float
    /// Multi-index of the element furthest outside tolerance (or with the largest error when all pass).
    public var worstIndex: [Int]
    public var failingElements: Int
    public var atol: Float
    public var rtol: Float

    public var shapesMatch: Bool { shape == referenceShape }
    /// Every element satisfies |got − want| ≤ atol + rtol·|want| (NaN only where the reference has NaN).
    public var passed: Bool { shapesMatch && failingElements == 0 }

    package init(name: String, got: Tensor, want: Tensor, atol: Float, rtol: Float) {
        self.name = name
        shape = got.shape
        referenceShape = want.shape
        self.atol = atol
        self.rtol = rtol
        maxAbsoluteError = 0
        maxRelativeError = 0
        worstIndex = []
        failingElements = 0
        guard got.shape == want.shape else {
            failingElements = max(got.count, want.count)
            return
        }
        var worstExcess = -Float.infinity
        var worstFlat = 0
        for (flat, (value, reference)) in zip(got.values, want.values).enumerated() {
            let error = abs(value - reference)
            let bothNaN = value.isNaN && reference.isNaN
            let sameInfinity = value.isInfinite && value == reference
            let excess = bothNaN || sameInfinity ? -Float.infinity : error.isNaN ? Float.infinity : error - (atol + rtol * abs(reference))
            if excess > 0 { failingElements += 1 }
            if !bothNaN && !sameInfinity {
                maxAbsoluteError = max(maxAbsoluteError, error.isNaN ? .infinity : error)
                if reference != 0 { maxRelativeError = max(maxRelativeError, error / abs(reference)) }
            }
            if excess > worstExcess {
                worstExcess = excess
                worstFlat = flat
            }
        }
        worstIndex = Self.multiIndex(worstFlat, in: shape)
    }

    /// Arrays compare as tensors, unless either holds text, which compares exactly: every string that differs
    /// from the reference's (all of them, when only one side holds text) fails; the errors are 0 or infinite.
    package init(name: String, got: NumPyArray, want: NumPyArray, atol: Float, rtol: Float) {
        guard got.strings != nil || want.strings != nil else {
            self.init(name: name, got: got.tensor, want: want.tensor, atol: atol, rtol: rtol)
            return
        }
        self.init(name: name, got: Tensor(shape: [0], values: []), want: Tensor(shape: [0], values: []), atol: atol, rtol: rtol)
        (shape, referenceShape) = (got.shape, want.shape)
        let differing = got.shape == want.shape && got.strings != nil && want.strings != nil
            ? zip(got.strings ?? [], want.strings ?? []).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
            : Array(0..<max(got.values.count, want.values.count))
        failingElements = differing.count
        maxAbsoluteError = differing.isEmpty ? 0 : .infinity
        maxRelativeError = maxAbsoluteError
        worstIndex = Self.multiIndex(differing.first ?? 0, in: shape)
    }

    package static func multiIndex(_ flat: Int, in shape: [Int]) -> [Int] {
        var remainder = flat
        var index = Array(repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() where shape[axis] > 0 {
            index[axis] = remainder % shape[axis]
            remainder /= shape[axis]
        }
        return index
    }
}
