import ArgumentParser
import Foundation
import KConv
import KConvKeras

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two model files, in any formats and Keras versions: layers, configs, weights, outputs.",
        discussion: """
        Layers are matched by name (an unmatched pair of the same class and weight shapes is a rename); configs \
        are compared once both are written in Keras 3's vocabulary, so a Keras 2 file and its Keras 3 conversion \
        show no difference; weights by shape and largest absolute and relative difference; then both models run \
        on the same seeded inputs. Exits 0 only when the models are equivalent, 1 when they differ.
        """
    )

    @Argument(help: "The first model file (any format kconv reads).")
    var a: String

    @Argument(help: "The second model file.")
    var b: String

    @Option(help: "Weights file for A, if it is a JSON config.")
    var weightsA: String?

    @Option(help: "Weights file for B, if it is a JSON config.")
    var weightsB: String?

    @Option(help: "Largest absolute difference between two weights' elements that still counts as the same.")
    var weightsTolerance: Float = 0

    @Option(help: "Absolute tolerance of the outputs.")
    var atol: Float = 1e-5

    @Option(help: "Relative tolerance of the outputs.")
    var rtol: Float = 1e-4

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        try requireTolerances(["--weights-tolerance": weightsTolerance, "--atol": atol, "--rtol": rtol])
    }

    func run() throws {
        let diff = try withCleanErrors(file: a) {
            let first = try KerasModel.load(a, weights: weightsA)
            let second = try KerasModel.load(b, weights: weightsB)
            return try ModelDiff.compare(first, second, weightsTolerance: weightsTolerance, atol: atol, rtol: rtol)
        }
        print(json ? diff.json.serialized(pretty: true) : terminalSafe(diff.text), terminator: json ? "\n" : "")
        if !diff.isEquivalent { throw ExitCode.failure }
    }
}
