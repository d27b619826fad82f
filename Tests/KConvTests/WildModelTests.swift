import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// Model files people published (../shared/wild, when present): every Keras model inspects, or fails
/// with a one-line message naming what is missing; where Keras counted the parameters, kconv agrees.
@Suite struct WildModelTests {
    struct Entry: Sendable, CustomStringConvertible {
        let name: String
        let kind: String
        let params: Int?
        let pairedConfig: String?
        let hasReference: Bool
        var description: String { name }
    }

    static let entries: [Entry] = {
        let manifest = Fixtures.wild.appendingPathComponent("MANIFEST.tsv").path
        guard let text = try? String(contentsOfFile: manifest, encoding: .utf8) else { return [] }
        // Split on any line ending: the manifest may use CRLF, which Swift treats as one Character.
        let rows = text.split(whereSeparator: \.isNewline).map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        guard let header = rows.first else { return [] }
        let column = { (name: String) in header.firstIndex(of: name) ?? 0 }
        return rows.dropFirst().map { row in
            let field = { (name: String) in column(name) < row.count ? row[column(name)] : "" }
            return Entry(name: field("name"), kind: field("kind"), params: Int(field("params")),
                         pairedConfig: field("paired_config").isEmpty ? nil : field("paired_config"),
                         hasReference: field("has_ref") == "yes")
        }
    }()

    @Test(arguments: entries)
    func inspects(_ entry: Entry) throws {
        let folder = Fixtures.wild
        let path = folder.appendingPathComponent(entry.name).path
        do {
            let loaded: KerasModel
            if entry.kind == "weights" {
                // A weights file is a model only together with its config.
                guard let config = entry.pairedConfig else {
                    #expect(throws: ModelError.self) { try KerasModel.load(path) }
                    return
                }
                loaded = try KerasModel.load(folder.appendingPathComponent(config).path, weights: path)
            } else {
                loaded = try KerasModel.load(path)
            }
            let summary = ModelSummary(loaded)
            if let params = entry.params {
                #expect(summary.totalParams == params, "\(entry.name): kconv counts \(summary.totalParams) params, Keras \(params)")
            }
            #expect(!summary.text.isEmpty)
        } catch let error as ModelError {
            let message = error.description
            #expect(!message.contains("\n"), "\(message)")
            Issue.record("\(entry.name) does not inspect: \(message)")
        }
    }

    /// Where Keras ran the model on seeded inputs (`NAME.ref.npz`), kconv reproduces its outputs — or, for a
    /// model with a layer kconv does not implement, fails naming that layer.
    @Test(arguments: entries.filter(\.hasReference))
    func reproducesKerasOutputs(_ entry: Entry) throws {
        let folder = Fixtures.wild
        let model = try KerasModel.load(folder.appendingPathComponent(entry.name).path).model
        let reference = try NumPy.readNPZ(folder.appendingPathComponent(entry.name + ".ref.npz").path)
        if let unsupported = ModelSummary.unsupported(in: model).first {
            let error = #expect(throws: (any Error).self) {
                try model.prepareForInference()
                _ = try Verifier.verify(model, reference: reference, atol: 1e-5, rtol: 1e-4)
            }
            #expect(String(describing: error).contains(unsupported), "\(String(describing: error))")
            return
        }
        try model.prepareForInference()
        let report = try Verifier.verify(model, reference: reference, atol: 1e-5, rtol: 1e-4)
        #expect(report.passed, "\(entry.name):\n\(report.table(atol: 1e-5, rtol: 1e-4))")
    }
}
