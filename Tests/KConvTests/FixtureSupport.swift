import Foundation
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// Locates the committed fixtures (written by real Keras through Fixtures/generate.py).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fixtures").standardized

    static var cases: URL { root.appendingPathComponent("cases") }
    static var bad: URL { root.appendingPathComponent("bad") }

    /// `../shared/wild` beside the checkout, when present.
    static var wild: URL { root.appendingPathComponent("../../shared/wild").standardized }

    /// One model file of one fixture case, as one Keras library wrote it, with what Keras said about it.
    struct ModelFile: Sendable, CustomStringConvertible {
        let caseName: String
        let library: String
        let format: String
        let path: String
        let weightsPath: String?

        var description: String { "\(caseName)/\(library) \(format)" }

        func load() throws -> KerasModel { try KerasModel.load(path, weights: weightsPath) }

        func expected() throws -> JSONObject {
            let json = try JSONValue.parse(String(contentsOfFile: cases.appendingPathComponent("\(caseName)/expected.json").path, encoding: .utf8))
            guard let section = json[library]?.objectValue else { throw ModelError("no \(library) section in expected.json") }
            return section
        }
    }

    /// Every model file of every case and library: the `.h5`, the `.keras`, and the JSON config with its weights.
    static func modelFiles() -> [ModelFile] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: cases.path).sorted()) ?? []
        return names.flatMap { name -> [ModelFile] in
            let directory = cases.appendingPathComponent(name)
            guard let text = try? String(contentsOfFile: directory.appendingPathComponent("expected.json").path, encoding: .utf8),
                  let json = try? JSONValue.parse(text), let libraries = json.objectValue else { return [] }
            return libraries.flatMap { library, section -> [ModelFile] in
                guard let files = section["files"]?.objectValue else { return [] }
                let path = { (key: String) in files[key]?.stringValue.map { directory.appendingPathComponent($0).path } }
                var result: [ModelFile] = []
                for format in ["h5", "keras"] {
                    if let file = path(format) { result.append(ModelFile(caseName: name, library: library, format: format, path: file, weightsPath: nil)) }
                }
                if let json = path("json") {
                    result.append(ModelFile(caseName: name, library: library, format: "json+weights", path: json, weightsPath: path("weights_h5")))
                }
                return result
            }
        }
    }
}
