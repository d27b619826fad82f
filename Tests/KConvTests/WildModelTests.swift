import Foundation
import Testing
@testable import KConv

/// Model files people published (../shared/wild, when present): every Keras model inspects, or fails
/// with a one-line message naming what is missing; where Keras counted the parameters, kconv agrees.
@Suite struct WildModelTests {
    struct Entry: Sendable, CustomStringConvertible {
        let name: String
        let kind: String
        let params: Int?
        let pairedConfig: String?
        var description: String { name }
    }

    static let entries: [Entry] = {
        let manifest = Fixtures.wild.appendingPathComponent("MANIFEST.tsv").path
        guard let text = try? String(contentsOfFile: manifest, encoding: .utf8) else { return [] }
        let rows = text.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        guard let header = rows.first else { return [] }
        let column = { (name: String) in header.firstIndex(of: name) ?? 0 }
        return rows.dropFirst().map { row in
            let field = { (name: String) in column(name) < row.count ? row[column(name)] : "" }
            return Entry(name: field("name"), kind: field("kind"), params: Int(field("params")),
                         pairedConfig: field("paired_config").isEmpty ? nil : field("paired_config"))
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
}
