import Foundation
import Testing
import KConv
import KConvIO
import KConvKeras

// README example begin
/// Reads a model file of any format and Keras version, prints its summary, runs it on seeded inputs,
/// writes it as a Keras 3 archive and checks that the archive computes the same outputs.
func convertAndCheck(_ path: String, to archive: String) throws -> Bool {
    let source = try KerasModel.load(path)  // .h5, .keras, JSON (+ weights:), TF.js model.json
    print(ModelSummary(source).text)  // what `kconv inspect` prints
    let inputs = InputGenerator(batch: 2, seed: 7).arrays(for: source.model)  // NumPyArray per input
    let outputs = try source.model.predict(arrays: inputs)  // kconv's engine, float32
    print(outputs.map(\.shape))
    let report = try ModelConverter.convert(source, to: archive, options: ConversionOptions(format: .keras))
    print(report.files, report.check ?? "not checked")
    let converted = try KerasModel.load(archive)
    let comparison = try Verifier.compare(source.model, against: converted.model, inputs: InputGenerator(seed: 7),
                                          atol: 1e-5, rtol: 1e-4)
    return comparison.passed
}
// README example end

/// The README's library example is this file's, verbatim, and it runs.
@Suite struct ReadmeExampleTests {
    @Test func readmeHoldsTheExampleThatCompilesHere() throws {
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let begin = try #require(source.range(of: "// README example begin\n")), end = try #require(source.range(of: "// README example end"))
        let example = source[begin.upperBound..<end.lowerBound]
        let readme = try String(contentsOf: Fixtures.root.appendingPathComponent("../README.md"), encoding: .utf8)
        #expect(readme.contains("import KConv\nimport KConvIO\nimport KConvKeras\n\n" + example))
    }

    @Test func exampleRuns() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = Fixtures.cases.appendingPathComponent("seed_td_lstm/keras2.h5").path
        #expect(try convertAndCheck(model, to: directory.appendingPathComponent("m.keras").path))
    }
}
