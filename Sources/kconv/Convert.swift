import ArgumentParser
import Foundation
import KConv

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model as another Keras file: Keras 2 .h5, Keras 3 .keras, or JSON config + weights.",
        discussion: """
        The format comes from OUT's extension or --format: .h5 is a Keras 2 full model (tf_keras.models.load_model), \
        .keras a Keras 3 archive (keras.models.load_model), .json a model.to_json() config (Keras 2 vocabulary, or \
        Keras 3 with --keras 3) with its weights in <name>.weights.h5 beside it (model_from_json + load_weights). \
        Configs are translated between Keras versions; a setting the target cannot express is an error. OUT is \
        written to a temporary file, reloaded and compared with the source (layers, shapes, bit-identical weights, \
        outputs), and only then moved into place. Optimizer state is not carried over.
        """
    )

    @OptionGroup var model: ModelOptions

    @Argument(help: "The file to write (.h5, .keras or .json).")
    var out: String

    @Option(help: "Output format: h5, keras or json (default: from OUT's extension).")
    var format: String?

    @Option(help: "Keras version of a JSON config's vocabulary: 2 or 3 (.h5 is always 2, .keras always 3).")
    var keras: Int?

    @Flag(help: "Replace OUT if it exists.")
    var force = false

    @Flag(help: "Do not reload OUT and compare it with the source.")
    var noCheck = false

    @Flag(help: "Accept writing Keras 1/2 hard_sigmoid (clip(0.2x+0.5, 0, 1)) as Keras 3's (relu6(x+3)/6), or the reverse; they differ by up to 0.067.")
    var approximateHardSigmoid = false

    func validate() throws {
        if let format, ConversionFormat(rawValue: format) == nil {
            throw ValidationError("--format must be h5, keras or json, found \(format)")
        }
        if format == nil, ConversionFormat(path: out) == nil {
            throw ValidationError("cannot tell the format from \(out): name it .h5, .keras or .json, or pass --format")
        }
        if let keras, ![2, 3].contains(keras) { throw ValidationError("--keras must be 2 or 3, found \(keras)") }
    }

    func run() throws {
        try withCleanErrors {
            guard let kind = format.flatMap(ConversionFormat.init(rawValue:)) ?? ConversionFormat(path: out) else {
                throw ValidationError("cannot tell the format of \(out)")
            }
            let options = ConversionOptions(format: kind, target: keras.map { $0 == 3 ? .keras3 : .keras2 },
                                            export: ExportOptions(approximateHardSigmoid: approximateHardSigmoid),
                                            force: force, check: !noCheck)
            let source = try model.load()
            let report = try ModelConverter.convert(source, to: out, options: options)
            print("\(source.path) (\(source.format.rawValue), \(source.dialect)) -> \(report.target) \(kind.rawValue)")
            for file in report.files { print("wrote \(file)") }
            if let check = report.check { print("checked: \(check)") }
            for note in report.notes { print("note: \(note)") }
        }
    }
}
