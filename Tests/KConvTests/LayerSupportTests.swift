import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// `kconv layers`: every class the registry claims has what it claims — an example that builds, lowers to the
/// engine's operations and runs, and a config each Keras generation kconv writes can hold unless the class
/// declares that generation has no such class — and README.md's table is what the code prints.
@Suite struct LayerSupportTests {
    static let rows = LayerSupport.all()

    /// Each registered type gives one example per Keras class it names, and none for others.
    @Test func everyClassHasAnExample() {
        for type in LayerRegistry.layerTypes {
            #expect(type.examples.map(\.className).sorted() == type.kerasClassNames.sorted(), "\(type)")
        }
    }

    @Test func everyRegisteredClassIsListedOnce() {
        let claimed = LayerRegistry.layerTypes.flatMap(\.kerasClassNames)
        #expect(Self.rows.map(\.className) == claimed)
    }

    /// Builds from its minimal config, lowers with no `unsupported` operation and computes outputs of the
    /// shapes shape inference gives.
    @Test(arguments: LayerRegistry.layerTypes.flatMap { type in type.kerasClassNames.map { ClassName(type: type, name: $0) } })
    func everyClassBuildsLowersAndRuns(_ entry: ClassName) throws {
        let row = try #require(Self.rows.first { $0.className == entry.name })
        #expect(row.runFailure == nil, "\(entry.name): \(row.runFailure ?? "")")
        // Built the way the table builds it, the layer's lowered graph holds operations of its own.
        let example = try #require(entry.type.examples.first { $0.className == entry.name })
        let dialect = LayerSupport.writtenGenerations.first { entry.type.absentIn[$0] == nil } ?? .keras2
        let layer = try LayerSupport.build(example, as: entry.type, dialect: dialect)
        #expect(layer.className == entry.name)
        #expect(try LayerSupport.run(layer, example) == nil)
    }

    /// Written for every generation kconv writes, except those the class declares it is absent from, and
    /// (read from one generation) those it declares computing differently, which refuse it with the declared
    /// reason.
    @Test(arguments: LayerRegistry.layerTypes.flatMap { type in type.kerasClassNames.map { ClassName(type: type, name: $0) } })
    func everyClassIsWrittenUnlessDeclaredAbsent(_ entry: ClassName) throws {
        let row = try #require(Self.rows.first { $0.className == entry.name })
        let dialect = LayerSupport.writtenGenerations.first { entry.type.absentIn[$0] == nil } ?? .keras2
        for target in LayerSupport.writtenGenerations {
            let refusal = row.refusals.first { $0.target == target }
            if let declared = entry.type.absentIn[target] {
                #expect(refusal?.reason == declared, "\(entry.name) → \(target)")
                #expect(!row.formats.contains { $0.targets == [target] }, "\(entry.name) → \(target)")
            } else if let differs = entry.type.inferenceDiffersBetweenGenerations, target != dialect {
                #expect(refusal?.reason == differs, "\(entry.name) → \(target)")
            } else {
                #expect(refusal == nil, "\(entry.name) → \(target): \(refusal?.reason ?? "")")
            }
        }
    }

    /// Older names are read as the class they name, and listed under it.
    @Test func legacyNamesBuildTheirClass() throws {
        for type in LayerRegistry.layerTypes {
            for (legacy, current) in type.legacyClassNames {
                let example = try #require(type.examples.first { $0.className == current })
                var renamed = example
                renamed.className = legacy
                let layer = try LayerSupport.build(renamed, as: type, dialect: .keras2)
                #expect(layer.className == current, "\(legacy)")
                #expect(Self.rows.first { $0.className == current }?.legacyNames.contains(legacy) == true, "\(legacy)")
            }
        }
    }

    /// A declared absence is what conversions refuse with, not a claim beside the code.
    @Test func conversionRefusesAClassAbsentFromTheTarget() throws {
        for type in LayerRegistry.layerTypes {
            for (target, reason) in type.absentIn {
                let example = try #require(type.examples.first)
                let dialect = LayerSupport.writtenGenerations.first { type.absentIn[$0] == nil } ?? .keras2
                let layer = try LayerSupport.build(example, as: type, dialect: dialect)
                let error = #expect(throws: ModelError.self) {
                    try ConfigExport(target: target, options: ExportOptions()).layerEntry(layer)
                }
                #expect(error?.message == reason)
            }
        }
    }

    @Test func renderingsHaveOneRowPerClass() throws {
        let table = LayerSupportTable(Self.rows)
        #expect(table.text.split(separator: "\n").count == Self.rows.count + 1)
        #expect(table.markdown.split(separator: "\n").count == Self.rows.count + 2)
        let json = try #require(table.json.arrayValue)
        #expect(json.map { $0["class_name"]?.stringValue } == Self.rows.map(\.className))
        #expect(json.allSatisfy { $0["runs"]?.boolValue == true })
    }

    /// README.md's "Supported layers" table is exactly what `kconv layers --markdown` prints.
    @Test func readmeTableIsWhatTheCodePrints() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let sections = text.components(separatedBy: "\n## ")
        let section = try #require(sections.first { $0.hasPrefix("Supported layers\n") }, "README.md has no '## Supported layers' section")
        // The section's first table (the catalogue's coverage tables follow it).
        let table = section.split(separator: "\n", omittingEmptySubsequences: false)
            .drop { !$0.hasPrefix("|") }.prefix { $0.hasPrefix("|") }.joined(separator: "\n") + "\n"
        #expect(table == LayerSupportTable(Self.rows).markdown,
                "README.md's Supported layers table is out of date: replace it with the output of `swift run kconv layers --markdown`")
    }
}

/// A Keras class name and the registered type that implements it, as a test argument.
struct ClassName: CustomStringConvertible, Sendable {
    let type: Layer.Type
    let name: String
    var description: String { name }
}
