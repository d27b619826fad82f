import Foundation
import Testing
import KConv

/// The library's public API, used as a program outside the package would use it (this file imports `KConv`
/// only), on fixtures written by real Keras.
@Suite struct LibraryAPITests {
    static func fixture(_ path: String) -> String { Fixtures.cases.appendingPathComponent(path).path }

    /// A reference Keras computed verifies, and a run on its inputs gives what `verify` compared.
    @Test func verifiesAgainstAKerasReference() throws {
        let model = try LoadedModel(contentsOf: Self.fixture("seed_td_lstm/keras2.h5"))
        let report = try model.verify(reference: Self.fixture("seed_td_lstm/keras2.ref.npz"))
        #expect(report.passed && report.outputs.count == 1)
        let reference = Dictionary(try ModelArray.readNPZ(Self.fixture("seed_td_lstm/keras2.ref.npz")).map { ($0.name, $0.array) },
                                   uniquingKeysWith: { first, _ in first })
        let outputs = try model.predict([try #require(reference["in_0"])])
        #expect(outputs.map(\.shape) == [[3, 10, 1]] && outputs.map(\.dtype) == ["float32"])
        let want = try #require(reference["out_0"])
        #expect(zip(outputs[0].values, want.values).allSatisfy { abs($0 - $1) <= 1e-5 + 1e-4 * abs($1) })
    }

    /// Inspecting gives Keras's own counts and shapes (Fixtures/cases/lambda_layer/expected.json), and running a
    /// layer kconv cannot compute fails naming it.
    @Test func inspectsWhatItCannotRun() throws {
        let model = try LoadedModel(contentsOf: Self.fixture("lambda_layer/keras2.h5"))
        #expect(model.layers.map(\.name) == ["dense", "lambda", "dense_1"])
        #expect(model.layers.map(\.parameterCount) == [16, 0, 10] && model.parameterCount == 26)
        let shapes: [[[[Int?]?]]] = [[[[nil, 4]]], [[[nil, 4]]], [[[nil, 2]]]]  // per layer, per call, per output
        #expect(model.layers.map(\.outputShapes) == shapes)
        #expect(model.layers.map { $0.unsupportedReason != nil } == [false, true, false])
        #expect(model.inputs.map(\.shape) == [[nil, 3] as [Int?]] && model.outputs.map(\.shape) == [[nil, 2] as [Int?]])
        #expect(model.summaryText.contains("Total params: 26"))
        let error = try #require(#expect(throws: (any Error).self) { try model.predict(model.randomInputs()) })
        #expect("\(error)".contains("layer 'lambda' (Lambda)"), "\(error)")
    }

    @Test func arraysMustFillTheirShape() throws {
        #expect(throws: (any Error).self) { try ModelArray(shape: [2, 3], values: [1, 2]) }
        let tokens = try ModelArray(shape: [1, 2], integers: [3, 1 << 40])
        #expect(tokens.dtype == "int64" && tokens.integers == [3, 1 << 40])
    }
}
