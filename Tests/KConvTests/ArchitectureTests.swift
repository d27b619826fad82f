import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras

/// What a Keras class means lives in that class's file under `Layers/`: readers, writers, binders and the
/// engine are generic over the layer declarations. These tests fail when code elsewhere tests for a layer
/// class or names one, so adding a layer stays one file (plus its line in the registry and its fixture).
@Suite struct ArchitectureTests {
    /// Kinds of graph node every part of kconv may tell apart: models, their inputs, recorded operations and
    /// classes kconv does not know.
    static let structuralTypes: Set<String> = ["Model", "InputLayer", "KerasOperation", "UnsupportedLayer", "Layer"]
    static let structuralClassNames: Set<String> = ["InputLayer", "Sequential", "Functional", "Model"]

    static var layerTypeNames: Set<String> {
        Set(LayerRegistry.layerTypes.map { String(describing: $0) }).subtracting(structuralTypes)
    }

    static var classNames: Set<String> {
        Set(LayerRegistry.types.keys).union(LayerRegistry.legacyClassNames.keys).subtracting(structuralClassNames)
    }

    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    /// The Swift files of one target.
    static func files(of target: String) throws -> [URL] {
        try #require(FileManager.default.enumerator(at: sources.appendingPathComponent(target), includingPropertiesForKeys: nil))
            .compactMap { $0 as? URL }
            .filter { $0.pathExtension == "swift" }
    }

    /// Swift files of kconv outside the layers' own files and the registry. KConvONNX is not among them: it
    /// cannot see a Keras layer (it imports none), and its strings are ONNX operator names, several of which
    /// ("LSTM", "Conv", "Softmax") are spelt like Keras classes.
    static func genericFiles() throws -> [URL] {
        let files = try ["KConvGraph", "KConvIO", "KConvKeras", "KConvEngine", "KConv", "kconv"].flatMap(files(of:))
            .filter { !$0.path.contains("/Layers/") && $0.lastPathComponent != "LayerRegistry.swift" }
        #expect(files.count > 40)
        return files
    }

    /// The library's public surface is the few types a user needs (README's Library section lists them); every
    /// other declaration of the package is `package` or narrower, so that a user imports `KConv` alone and
    /// internals can change without breaking anyone.
    @Test func onlyTheLibraryAPIIsPublic() throws {
        let targets = ["KConvGraph", "KConvIO", "KConvKeras", "KConvEngine", "KConvONNX", "ONNXProto", "KConv", "kconv"]
        let keywords: Set<Substring> = ["struct", "class", "enum", "protocol", "extension", "func", "let", "var", "typealias"]
        var publicTypes: Set<String> = []
        for target in targets {
            for file in try Self.files(of: target) {
                for line in try String(contentsOf: file, encoding: .utf8).split(separator: "\n") {
                    guard line.contains("public"), !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") else { continue }
                    #expect(target == "KConv", "\(file.lastPathComponent) declares something public: \(line)")
                    // A top-level declaration: the name after its keyword.
                    let words = line.split(separator: " ")
                    if line.hasPrefix("public "), let keyword = words.firstIndex(where: keywords.contains), keyword + 1 < words.count {
                        publicTypes.insert(String(words[keyword + 1].prefix { $0.isLetter || $0.isNumber }))
                    }
                }
            }
        }
        #expect(publicTypes == ["LoadedModel", "ModelArray", "ConversionFormat", "KerasGeneration", "ConversionOptions",
                                "ConversionReport", "VerificationReport", "Comparison", "KConvVersion"])
    }

    /// The targets stack one way: the graph and the I/O wrappers at the bottom, the Keras front end and the
    /// engine side by side above them (neither knows the other), the library API on top. Package.swift's
    /// dependencies enforce it; this keeps an import from quietly widening them.
    @Test(arguments: [("KConvGraph", ["KConvIO", "KConvKeras", "KConvEngine", "KConvONNX", "KConv"]),
                      ("KConvIO", ["KConvKeras", "KConvEngine", "KConvONNX", "KConv"]),
                      ("KConvKeras", ["KConvEngine", "KConvONNX", "KConv"]),
                      ("KConvEngine", ["KConvIO", "KConvKeras", "KConvONNX", "KConv"]),
                      ("KConvONNX", ["KConvIO", "KConvKeras", "KConvEngine", "KConv"])])
    func targetsImportOnlyWhatIsBelowThem(_ target: String, _ forbidden: [String]) throws {
        for file in try Self.files(of: target) {
            let text = try String(contentsOf: file, encoding: .utf8)
            for module in forbidden {
                #expect(text.range(of: "(?m)^import \(module)$", options: .regularExpression) == nil, "\(file.lastPathComponent) imports \(module)")
            }
        }
    }

    @Test func noLayerClassTestsOutsideTheLayers() throws {
        for file in try Self.genericFiles() {
            let text = try String(contentsOf: file, encoding: .utf8)
            for type in Self.layerTypeNames {
                for pattern in [" is \(type)\\b", " as\\?? \(type)\\b", "case is \(type)\\b", "\\b\(type)\\.self\\b"] {
                    #expect(text.range(of: pattern, options: .regularExpression) == nil,
                            "\(file.lastPathComponent) tests for layer type \(type)")
                }
            }
        }
    }

    @Test func noLayerClassNamesOutsideTheLayers() throws {
        for file in try Self.genericFiles() {
            let text = try String(contentsOf: file, encoding: .utf8)
            for name in Self.classNames {
                #expect(!text.contains("\"\(name)\""), "\(file.lastPathComponent) names Keras class \(name)")
            }
        }
    }

    /// Every registered type names at least one Keras class, and no class is claimed twice.
    @Test func registryClaimsEachClassOnce() {
        var seen: [String: String] = [:]
        for type in LayerRegistry.layerTypes {
            #expect(!type.kerasClassNames.isEmpty, "\(type) names no Keras class")
            for name in type.kerasClassNames {
                #expect(seen[name] == nil, "\(name) is claimed by \(seen[name] ?? "") and \(type)")
                seen[name] = String(describing: type)
            }
            for (legacy, current) in type.legacyClassNames {
                #expect(type.kerasClassNames.contains(current), "\(type) maps \(legacy) to \(current), which it does not implement")
            }
        }
    }
}
