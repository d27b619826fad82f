import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// For every fixture, library and format: kconv's engine, fed the reference inputs, reproduces the
/// outputs real Keras computed, within |got − want| ≤ 1e-5 + 1e-4·|want| (kconv verify's defaults).
@Suite struct EngineFixtureTests {
    static let files = Fixtures.modelFiles()

    @Test(arguments: files)
    func outputsMatchKeras(_ file: Fixtures.ModelFile) throws {
        let expected = try file.expected()
        guard let reference = expected["files"]?["ref"]?.stringValue else { return }
        let arrays = try NumPy.readNPZ(Fixtures.cases.appendingPathComponent("\(file.caseName)/\(reference)").path)
        let named = Dictionary(arrays.map { ($0.name, $0.array.tensor) }, uniquingKeysWith: { first, _ in first })
        let wanted = (0..<arrays.count).compactMap { named["out_\($0)"] }
        let model = try file.load().model
        if let unsupported = expected["unsupported"]?.arrayValue?.first?.stringValue {
            // A model with a layer kconv cannot compute fails, naming that layer.
            let error = #expect(throws: (any Error).self) {
                try model.prepareForInference()
                _ = try model.predict(ModelInputs.tensors(for: model, from: arrays))
            }
            #expect(String(describing: error).contains("'\(unsupported)'"), "\(String(describing: error))")
            return
        }
        try model.prepareForInference()
        let outputs = try model.predict(arrays: ModelInputs.arrays(for: model, from: arrays))
        #expect(outputs.count == wanted.count, "\(file): \(outputs.count) outputs, Keras \(wanted.count)")
        for (index, (got, want)) in zip(outputs, wanted).enumerated() {
            let comparison = Comparison(name: "out_\(index)", got: got, want: want, atol: 1e-5, rtol: 1e-4)
            #expect(comparison.passed, "\(file) out_\(index): shape \(got.shape) vs \(want.shape), max abs error \(comparison.maxAbsoluteError) at \(comparison.worstIndex), \(comparison.failingElements) elements out of tolerance")
        }
    }
}
