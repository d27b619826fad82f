import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine

/// The attention kernels against naive versions: einsums as GEMMs against a sum over every index, the
/// causal mask, and the softmax masking modes on a fully masked row (where the Kerases differ).
/// Layers are checked against Keras itself by the fixtures (attention_masks, multi_head_attention_masks,
/// keras3_attention) and the catalogue.
@Suite struct AttentionEngineTests {
    /// Equations Keras builds (EinsumDense, MultiHeadAttention's scores and combination, GroupedQueryAttention,
    /// additive scores) and ones that need the operands swapped, the output permuted, or a letter summed out.
    @Test(arguments: [
        "ab,bc->ac", "abc,cde->abde", "abcd,cde->abe", "aecd,abcd->acbe", "acbe,aecd->abcd", "bquh,bkuh->buqk",
        "buqk,bkuh->bquh", "Atsc,c->Ats", "Atsc,->Ats", "abc,cd->dba", "ab,cb->ca", "abc,c->a", "ab,b->ab",
    ])
    func einsumMatchesNaive(_ equation: String) throws {
        var random = SplitMix64(seed: 21)
        let op = EinsumOp(equation: equation)
        let terms = try #require(op.terms)
        var sizes: [Character: Int] = [:]
        for letter in terms.a + terms.b + terms.output where sizes[letter] == nil { sizes[letter] = random.int(1 ... 4) }
        let a = random.tensor(terms.a.map { sizes[$0] ?? 1 }), b = random.tensor(terms.b.map { sizes[$0] ?? 1 })
        let bias = random.tensor(terms.output.suffix(1).map { sizes[$0] ?? 1 })
        let got = try op.run(a, b, bias: bias)
        #expect(got.shape == terms.output.map { sizes[$0] ?? 1 })
        let letters = Array(sizes.keys)
        for (flat, index) in Self.indices(got.shape).enumerated() {
            var fixed = Dictionary(uniqueKeysWithValues: zip(terms.output, index))
            let free = letters.filter { fixed[$0] == nil }
            var total: Float = 0
            for rest in Self.indices(free.map { sizes[$0] ?? 1 }) {
                for (letter, value) in zip(free, rest) { fixed[letter] = value }
                total += Self.element(a, terms.a, fixed) * Self.element(b, terms.b, fixed)
            }
            let want = total + bias.values[index.last ?? 0]
            #expect(abs(got.values[flat] - want) <= 1e-5 + 1e-5 * abs(want), "\(equation) at \(index)")
        }
    }

    @Test func einsumRefusesWhatItCannotCompute() {
        #expect(EinsumOp(equation: "aa,ab->b").terms == nil)
        #expect(EinsumOp(equation: "...a,ab->...b").terms == nil)
        #expect(throws: EngineError.self) { try EinsumOp(equation: "ab,bc->ac").run(Tensor(zeros: [2, 3]), Tensor(zeros: [4, 2]), bias: nil) }
        #expect(throws: EngineError.self) { try EinsumOp(equation: "ab,bc->ad").run(Tensor(zeros: [2, 3]), Tensor(zeros: [3, 2]), bias: nil) }
    }

    /// Row i keeps columns j ≤ i, on non-square shapes too.
    @Test(arguments: [(3, 3), (2, 4), (4, 2), (1, 0)])
    func causalMaskKeepsTheLowerTriangle(_ rows: Int, _ columns: Int) {
        let mask = causalMask(rows: rows, columns: columns)
        #expect(mask.shape == [1, rows, columns])
        for i in 0 ..< rows { for j in 0 ..< columns { #expect(mask.values[i * columns + j] == (j <= i)) } }
    }

    /// Partly masked rows agree in every mode; a fully masked row is uniform unless masked weights are zeroed.
    @Test func softmaxMaskingModes() throws {
        let scores = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        let keep = Tensor(shape: [2, 3], values: [1, 0, 1, 0, 0, 0])
        let e = [Float(exp(1.0)), Float(exp(3.0))]
        for masking in [SoftmaxOp.Masking.offset, .replace, .replaceAndZero] {
            let got = try SoftmaxOp(axes: [-1], masking: masking).run(scores, inputMask: nil, givenMask: keep)
            let row0 = [e[0] / (e[0] + e[1]), 0, e[1] / (e[0] + e[1])]
            for (x, y) in zip(got.values.prefix(3), row0) { #expect(abs(x - y) < 1e-6, "\(masking)") }
            let row1: [Float] = masking == .replaceAndZero ? [0, 0, 0] : [1.0 / 3, 1.0 / 3, 1.0 / 3]
            for (x, y) in zip(got.values.suffix(3), row1) { #expect(abs(x - y) < 1e-6, "\(masking)") }
        }
    }

    private static func indices(_ shape: [Int]) -> [[Int]] {
        shape.reduce([[]]) { result, dim in result.flatMap { prefix in (0 ..< dim).map { prefix + [$0] } } }
    }

    private static func element(_ t: Tensor, _ term: [Character], _ index: [Character: Int]) -> Float {
        t.values[zip(term, t.shape).reduce(0) { $0 * $1.1 + (index[$1.0] ?? 0) }]
    }
}
