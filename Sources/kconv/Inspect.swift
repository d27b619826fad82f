import ArgumentParser
import Foundation
import KConv
import KConvKeras

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a Keras model file holds: layers, shapes, parameter counts, unsupported layers.",
        discussion: "Reads structure and weight shapes only, never weight values, and never runs code from the file."
    )

    @OptionGroup var model: ModelOptions

    @Flag(help: "Print one JSON object instead of the text summary.")
    var json = false

    func run() throws {
        let summary = try withCleanErrors { ModelSummary(try model.load()) }
        print(json ? summary.json.serialized(pretty: true) : summary.text, terminator: json ? "\n" : "")
    }
}

/// Turns library errors into one-line messages and a non-zero exit, instead of a stack of Swift types.
func withCleanErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ValidationError {
        throw error
    } catch {
        FileHandle.standardError.write(Data("kconv: error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}
