import ArgumentParser
import Foundation
import KConv
import KConvKeras
import KConvIO

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on inputs from NumPy files and write its outputs.",
        discussion: """
        Inputs: one .npz with in_0, in_1, ... in the model's input order (input layer names also work), or one \
        .npy per input, in order. Outputs are written as out_0, out_1, ... to an .npz.
        """
    )

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "An .npz holding every input, or an .npy per input (repeat the option).")
    var input: [String]

    @Option(help: "Where to write the outputs (.npz).")
    var output: String

    @Flag(help: "Overwrite the output file if it exists.")
    var force = false

    func run() throws {
        try withCleanErrors {
            guard force || !FileManager.default.fileExists(atPath: output) else {
                throw ValidationError("\(output) exists; pass --force to overwrite it")
            }
            let loaded = try model.loadForInference()
            let arrays: [(name: String, array: NumPyArray)]
            if input.count == 1, input[0].hasSuffix(".npz") {
                arrays = try NumPy.readNPZ(input[0])
            } else {
                arrays = try input.enumerated().map { index, path in ("in_\(index)", try NumPy.readNPY(path)) }
            }
            let outputs = try loaded.predict(arrays: ModelInputs.arrays(for: loaded, from: arrays))
            try NumPy.writeNPZ(outputs.enumerated().map { index, tensor in
                ("out_\(index)", NumPyArray(shape: tensor.shape, values: tensor.values))
            }, to: output, replace: force)
            for (index, tensor) in outputs.enumerated() { print("out_\(index): \(tensor.shape)") }
        }
    }
}
