import ArgumentParser
import Foundation
import KConv
import KConvKeras
import KConvIO
import KConvGraph

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on inputs from NumPy files, or on seeded random inputs, and write its outputs.",
        discussion: """
        Inputs: one .npz with in_0, in_1, ... in the model's input order (input layer names also work), or one \
        .npy per input, in order; or --random: seeded inputs drawn from the model's input spec (token ids within \
        the vocabulary of the Embedding or inverted lookup an input feeds, as int32; string inputs words of the \
        lookups they feed and one unknown word, a few per string for text inputs of one string per sample; \
        other inputs uniform in [-1, 1)), the same ones `verify --against` uses, kept with --save-inputs for \
        Keras (np.load). String inputs and outputs are NumPy unicode arrays. Outputs are written as out_0, \
        out_1, ... to an .npz.
        """
    )

    @OptionGroup var model: ModelOptions

    @OptionGroup var threads: ThreadOptions

    @Option(name: .long, help: "An .npz holding every input, or an .npy per input (repeat the option).")
    var input: [String] = []

    @Flag(help: "Draw seeded inputs from the model's input spec instead of reading them.")
    var random = false

    @Option(help: "Seed of the --random inputs.")
    var seed: UInt64 = 42

    @Option(help: "Samples per batch of the --random inputs.")
    var batch = 2

    @Option(help: "Length given to unknown (None) dimensions of the --random inputs.")
    var length = 7

    @Option(help: "Write the --random inputs to this .npz (in_0, in_1, ...).")
    var saveInputs: String?

    @Option(help: "Where to write the outputs (.npz).")
    var output: String

    @Flag(help: "Overwrite the output files if they exist.")
    var force = false

    func validate() throws {
        guard input.isEmpty == random else { throw ValidationError("give --input or --random (one of them)") }
        try requireNPZ(output, option: "--output")
        if let saveInputs {
            guard random else { throw ValidationError("--save-inputs keeps --random inputs; pass --random") }
            try requireNPZ(saveInputs, option: "--save-inputs")
        }
        try requirePositive(["--batch": batch, "--length": length])
    }

    func run() throws {
        try withCleanErrors(file: model.model) {
            for path in [output] + (saveInputs.map { [$0] } ?? []) where !force && FileManager.default.fileExists(atPath: path) {
                throw ModelError(file: path, "exists; pass --force to overwrite it")
            }
            let loaded = try model.loadForInference()
            let arrays: [NumPyArray]
            if random {
                arrays = InputGenerator(batch: batch, unknownLength: length, seed: seed).arrays(for: loaded)
                if let saveInputs {
                    try NumPy.writeNPZ(arrays.enumerated().map { ("in_\($0)", $1) }, to: saveInputs, replace: force)
                }
            } else if input.count == 1, input[0].hasSuffix(".npz") {
                arrays = try ModelInputs.arrays(for: loaded, from: NumPy.readNPZ(input[0]))
            } else {
                arrays = try input.map { try NumPy.readNPY($0) }
            }
            let outputs = try loaded.predictArrays(arrays)
            try NumPy.writeNPZ(outputs.enumerated().map { ("out_\($0)", $1) }, to: output, replace: force)
            if let saveInputs { print("wrote \(saveInputs): " + arrays.enumerated().map { "in_\($0) \($1.shape)" }.joined(separator: ", ")) }
            for (index, tensor) in outputs.enumerated() { print("out_\(index): \(tensor.shape)") }
        }
    }
}
