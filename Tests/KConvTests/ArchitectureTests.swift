import Foundation
import Testing
@testable import KConv

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

    /// Swift files of the library outside the layers' own files and their base class.
    static func genericFiles() throws -> [URL] {
        let library = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/KConv")
        let files = try #require(FileManager.default.enumerator(at: library, includingPropertiesForKeys: nil))
            .compactMap { $0 as? URL }
            .filter { $0.pathExtension == "swift" && !$0.path.contains("/Layers/") && $0.lastPathComponent != "LayerRegistry.swift" }
        #expect(files.count > 10)
        return files
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
