import ArgumentParser
import Foundation
import KConv
import KConvKeras
import KConvIO
import KConvGraph

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a model's outputs against reference outputs from Keras, or against another model.",
        discussion: """
        With --reference, runs the reference's in_* through the model and compares with its out_* (and, if the \
        reference holds layer/<name> outputs from keras_reference.py --layers, names the first layer that \
        diverges). With --against, feeds both models the same seeded inputs drawn from the first one's input \
        spec. Exits 0 only if every element satisfies |got - want| <= atol + rtol·|want|.
        """
    )

    @OptionGroup var model: ModelOptions

    @Option(help: "Reference inputs and outputs (.npz with in_*, out_*), e.g. from Scripts/keras_reference.py.")
    var reference: String?

    @Option(help: "Another model file to compare with (for example the source of a conversion).")
    var against: String?

    @Option(help: "Weights file for the --against model, if it is a JSON config.")
    var againstWeights: String?

    @Option(help: "Absolute tolerance.")
    var atol: Float = 1e-5

    @Option(help: "Relative tolerance.")
    var rtol: Float = 1e-4

    @Option(help: "Batch size of generated inputs (with --against).")
    var batch = 2

    func validate() throws {
        guard (reference == nil) != (against == nil) else {
            throw ValidationError("give exactly one of --reference and --against")
        }
        try requirePositive(["--batch": batch])
        try requireTolerances(["--atol": atol, "--rtol": rtol])
    }

    func run() throws {
        let report = try withCleanErrors(file: model.model) { () -> VerificationReport in
            let loaded = try model.loadForInference()
            if let reference {
                let arrays = try NumPy.readNPZ(reference)
                // Inputs that do not fit the model are the reference's fault as much as the model's: name both.
                return try locating(file: "\(reference) (reference for \(model.model))") {
                    try Verifier.verify(loaded, reference: arrays, atol: atol, rtol: rtol)
                }
            }
            let againstPath = against ?? ""
            let other = try locating(file: againstPath) {
                let other = try KerasModel.load(againstPath, weights: againstWeights).model
                try other.prepareForInference()
                return other
            }
            return try Verifier.compare(loaded, against: other, inputs: InputGenerator(batch: batch), atol: atol, rtol: rtol)
        }
        print(report.table(atol: atol, rtol: rtol), terminator: "")
        if !report.passed { throw ExitCode.failure }
    }
}
