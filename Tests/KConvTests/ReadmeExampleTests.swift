import Foundation
import Testing
import KConv

// README example begin
/// Reads a model file of any format and Keras version, lists its layers, runs it on seeded inputs,
/// writes it as a Keras 3 archive and checks that the archive computes the same outputs.
func convertAndCheck(_ path: String, to archive: String) throws -> Bool {
    let model = try LoadedModel(contentsOf: path)  // .h5, .keras, JSON (+ weights:), TF.js model.json
    print(model.summaryText)  // what `kconv inspect` prints
    for layer in model.layers {
        print(layer.name, layer.className, layer.outputShapes, layer.parameterCount)
    }
    let inputs = model.randomInputs(batch: 2, seed: 7)  // one ModelArray per model input
    let outputs = try model.predict(inputs)  // kconv's engine
    print(outputs.map(\.shape))
    let report = try model.convert(to: archive, options: ConversionOptions(format: .keras))
    print(report.files, report.check ?? "not checked")
    let converted = try LoadedModel(contentsOf: archive)
    return try model.compare(with: converted, seed: 7).passed
}
// README example end

/// The README's library example is this file's, verbatim, and it runs.
@Suite struct ReadmeExampleTests {
    @Test func readmeHoldsTheExampleThatCompilesHere() throws {
        let source = try String(contentsOfFile: #filePath, encoding: .utf8)
        let begin = try #require(source.range(of: "// README example begin\n")), end = try #require(source.range(of: "// README example end"))
        let example = source[begin.upperBound..<end.lowerBound]
        let readme = try String(contentsOf: Fixtures.root.appendingPathComponent("../README.md"), encoding: .utf8)
        #expect(readme.contains("import KConv\n\n" + example))
    }

    @Test func exampleRuns() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = Fixtures.cases.appendingPathComponent("seed_td_lstm/keras2.h5").path
        #expect(try convertAndCheck(model, to: directory.appendingPathComponent("m.keras").path))
    }
}
