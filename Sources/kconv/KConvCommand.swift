import ArgumentParser
import Foundation
import KConv
import KConvIO

@main
struct KConvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kconv",
        abstract: "Read, check and convert trained Keras models (Keras 1, 2, 3; .h5, .keras, JSON + weights).",
        version: "kconv \(KConvVersion.current)",
        subcommands: [Inspect.self, Run.self, Verify.self, Bench.self, Convert.self, Diff.self, Layers.self]
    )

    /// Every command runs in a worker process, so that libhdf5 crashing or looping on a corrupted file ends in one
    /// error line instead of a signal (see `WorkerProcess`).
    static func main() {
        SubcommandSuggestion.refuseUnknown(Array(CommandLine.arguments.dropFirst()), among: configuration.subcommands)
        WorkerProcess.runCommandInWorker { message in
            FileHandle.standardError.write(Data("kconv: error: \(terminalSafe(message))\n".utf8))
        }
        main(nil)
    }
}
