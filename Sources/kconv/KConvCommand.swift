import ArgumentParser
import KConv

@main
struct KConvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kconv",
        abstract: "Read, check and convert trained Keras models (Keras 1, 2, 3; .h5, .keras, JSON + weights).",
        version: "kconv \(KConvVersion.current)",
        subcommands: [Inspect.self, Run.self, Verify.self, Bench.self, Convert.self, Diff.self, Layers.self]
    )

    static func main() {
        SubcommandSuggestion.refuseUnknown(Array(CommandLine.arguments.dropFirst()), among: configuration.subcommands)
        main(nil)
    }
}
