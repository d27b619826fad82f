import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// `kconv verify`'s report: per-output comparison, and localisation of the first layer that diverges,
/// against per-layer outputs real Keras wrote (Fixtures/cases/seed_attention/<lib>.layers.npz).
@Suite struct VerifyTests {
    static func loaded(_ library: String) throws -> (Model, [(name: String, array: NumPyArray)]) {
        let folder = Fixtures.cases.appendingPathComponent("seed_attention")
        let model = try KerasModel.load(folder.appendingPathComponent("\(library).h5").path).model
        try model.prepareForInference()
        return (model, try NumPy.readNPZ(folder.appendingPathComponent("\(library).layers.npz").path))
    }

    @Test(arguments: ["keras2", "keras3"])
    func everyLayerMatchesKeras(_ library: String) throws {
        let (model, reference) = try Self.loaded(library)
        let report = try Verifier.verify(model, reference: reference, atol: 1e-5, rtol: 1e-4)
        #expect(report.passed)
        #expect(report.layers.map(\.name) == reference.map(\.name).filter { $0.hasPrefix("layer/") })
        #expect(report.firstDivergingLayer == nil)
    }

    /// A wrong bias in the first TimeDistributed Dense: every output after it diverges, and the report
    /// names that layer — the first in graph order — rather than only the final mismatch.
    @Test func namesTheFirstLayerThatDiverges() throws {
        let (model, reference) = try Self.loaded("keras2")
        let wrapper = try #require(model.layers.first { $0.name == "time_distributed" } as? TimeDistributed)
        let bias = wrapper.inner.weights[1]
        var shifted = try bias.values()
        shifted[0] += 0.5
        wrapper.inner.weights[1] = WeightArray(name: bias.name, shape: bias.shape) { shifted }
        try model.prepareForInference()
        let report = try Verifier.verify(model, reference: reference, atol: 1e-5, rtol: 1e-4)
        #expect(!report.passed)
        #expect(report.firstDivergingLayer?.name == "layer/time_distributed")
        #expect(report.table(atol: 1e-5, rtol: 1e-4).contains("first layer out of tolerance (graph order): layer/time_distributed"))
    }

    @Test func comparisonFollowsKerasTolerance() {
        let want = Tensor(shape: [2, 2], values: [1, 100, .nan, -3])
        let close = Tensor(shape: [2, 2], values: [1 + 1e-5, 100.009, .nan, -3])
        let far = Tensor(shape: [2, 2], values: [1, 100.02, .nan, -3])
        #expect(Comparison(name: "x", got: close, want: want, atol: 1e-5, rtol: 1e-4).passed)
        let failing = Comparison(name: "x", got: far, want: want, atol: 1e-5, rtol: 1e-4)
        #expect(!failing.passed)
        #expect(failing.worstIndex == [0, 1])
        #expect(failing.failingElements == 1)
        let wrongShape = Comparison(name: "x", got: Tensor(shape: [4], values: want.values), want: want, atol: 1, rtol: 1)
        #expect(!wrongShape.passed)
        let nanWhereNumber = Comparison(name: "x", got: Tensor(shape: [1], values: [.nan]), want: Tensor(shape: [1], values: [0]), atol: 1, rtol: 1)
        #expect(!nanWhereNumber.passed)
    }
}
