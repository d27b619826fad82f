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
        let summary = try withCleanErrors(file: model.model) { ModelSummary(try model.load()) }
        print(json ? summary.json.serialized(pretty: true) : terminalSafe(summary.text), terminator: json ? "\n" : "")
    }
}

/// `text` with the control characters a file's names may hold (escape sequences that would recolour or
/// clear the terminal) written as `\u{1B}`; line breaks are kept (summaries and some errors are tables).
func terminalSafe(_ text: String) -> String {
    var result = ""
    for scalar in text.unicodeScalars {
        let isControl = scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
        if isControl, scalar != "\n" {
            result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        } else {
            result.unicodeScalars.append(scalar)
        }
    }
    return result
}
