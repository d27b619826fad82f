import ArgumentParser
import KConv

struct Layers: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the Keras layer classes kconv implements: the names it reads, whether it runs them, which files can hold them.",
        discussion: """
        Found out from the code, not from a list: each class's example is built, run in kconv's engine, and its \
        config written in each Keras version kconv writes (.h5 and TensorFlow.js hold Keras 2 configs, .keras \
        Keras 3, a JSON config either). A class not listed is read and shown by inspect, but not computed.
        """
    )

    @Flag(help: "Print one JSON array instead of the table.")
    var json = false

    @Flag(help: "Print the table in Markdown, as README.md's \"Supported layers\" holds it.")
    var markdown = false

    func validate() throws {
        if json && markdown { throw ValidationError("--json and --markdown cannot be combined") }
    }

    func run() throws {
        let table = LayerSupportTable()
        if json {
            print(table.json.serialized(pretty: true))
        } else {
            print(markdown ? table.markdown : table.text, terminator: "")
        }
    }
}
