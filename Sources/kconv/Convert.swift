import ArgumentParser
import Foundation
import KConv
import KConvKeras

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model as another file: Keras 2 .h5, Keras 3 .keras, JSON config + weights, TensorFlow.js, or ONNX.",
        discussion: """
        The format comes from OUT's extension or --format: .h5 is a Keras 2 full model (tf_keras.models.load_model), \
        .keras a Keras 3 archive (keras.models.load_model), .json a model.to_json() config (Keras 2 vocabulary, or \
        Keras 3 with --keras 3) with its weights in <name>.weights.h5 beside it (model_from_json + load_weights). \
        --format tfjs (the default when OUT is a directory) writes a TensorFlow.js layers model as \
        tensorflowjs_converter does: OUT/model.json (or OUT, a .json file) with the Keras 2 topology and a weights \
        manifest, and float32 weight shards group1-shard<i>of<n>.bin beside it (tf.loadLayersModel). .onnx writes \
        an ONNX model (opset 21 unless --opset) for onnxruntime and other ONNX tools, from any Keras dialect; \
        with --float16 its weights are stored as float16 (half the file) and cast to float32 where they are read, \
        so the inputs and outputs stay float32 and the results differ from float32's by the weights' rounding. \
        Configs are translated between Keras versions; a setting the target cannot express is an error. OUT is \
        written to a staging directory beside it, reloaded and compared with the source (Keras files: layers, \
        shapes, bit-identical weights, outputs; ONNX: the bytes read back, every weight's values bit for bit, \
        rounded to float16 with --float16), and only then moved into place. Optimizer state is not carried over.
        """
    )

    @OptionGroup var model: ModelOptions

    @Argument(help: "The file to write (.h5, .keras, .json or .onnx), or a directory for a TensorFlow.js model.")
    var out: String

    @Option(help: "Output format: h5, keras, json, tfjs or onnx (default: from OUT's extension; tfjs for a directory).")
    var format: String?

    @Option(help: "ONNX operator set version, 13 to 26 (default: 21).")
    var opset: Int?

    @Flag(help: "ONNX only: store the weights as float16, cast to float32 where read; inputs and outputs stay float32.")
    var float16 = false

    @Option(help: "Bytes per TensorFlow.js weight shard (default: 4 MiB, 4194304).")
    var shardSize: Int?

    @Option(help: "Keras version of a JSON config's vocabulary: 2 or 3 (.h5 is always 2, .keras always 3).")
    var keras: Int?

    @Flag(help: "Replace OUT if it exists (for tfjs: the model.json and its shards).")
    var force = false

    @Flag(help: "Do not reload OUT and compare it with the source.")
    var noCheck = false

    @Flag(help: "Accept writing Keras 1/2 hard_sigmoid (clip(0.2x+0.5, 0, 1)) as Keras 3's (relu6(x+3)/6), or the reverse; they differ by up to 0.067.")
    var approximateHardSigmoid = false

    func validate() throws {
        if let format, ConversionFormat(rawValue: format) == nil {
            throw ValidationError("--format must be h5, keras, json, tfjs or onnx, found \(format)")
        }
        if let format, let kind = ConversionFormat(rawValue: format), let refusal = kind.refusal(ofPath: out) {
            throw ValidationError(refusal)
        }
        guard let kind = outputFormat else {
            throw ValidationError("cannot tell the format from \(out): name it .h5, .keras, .json or .onnx, give a directory, or pass --format")
        }
        if let keras, ![2, 3].contains(keras) { throw ValidationError("--keras must be 2 or 3, found \(keras)") }
        if opset != nil, kind != .onnx { throw ValidationError("--opset applies to ONNX output only") }
        if float16, kind != .onnx {
            throw ValidationError("--float16 applies to ONNX output only: Keras and TensorFlow.js files keep the model's own weight dtypes")
        }
        if let shardSize {
            guard kind == .tfjs else { throw ValidationError("--shard-size applies to --format tfjs only") }
            guard shardSize > 0 else { throw ValidationError("--shard-size must be a positive number of bytes, found \(shardSize)") }
        }
    }

    /// --format, else OUT's extension, else tfjs for an existing directory.
    private var outputFormat: ConversionFormat? {
        if let format { return ConversionFormat(rawValue: format) }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory), isDirectory.boolValue { return .tfjs }
        return ConversionFormat(path: out)
    }

    func run() throws {
        try withCleanErrors(file: model.model) {
            guard let kind = outputFormat else { throw ValidationError("cannot tell the format of \(out)") }
            var options = ConversionOptions(format: kind, target: keras.map { $0 == 3 ? .keras3 : .keras2 },
                                            export: ExportOptions(approximateHardSigmoid: approximateHardSigmoid),
                                            force: force, check: !noCheck,
                                            shardSize: shardSize ?? ConversionOptions.defaultShardSize, opset: opset,
                                            float16: float16)
            // The stages of a long conversion, on a terminal only.
            let progress = Progress(label: "convert")
            options.progress = { progress.show($0) }
            defer { progress.clear() }  // before an error's message
            progress.show("reading \(model.model)")
            let source = try model.load()
            let report = try ModelConverter.convert(source, to: out, options: options)
            progress.clear()
            print("\(source.path) (\(source.format.rawValue), \(source.dialect)) -> " + (kind == .onnx ? "onnx" : "\(report.target) \(kind.rawValue)"))
            for file in report.files { print("wrote \(file)") }
            if let check = report.check { print("checked: \(check)") }
            for note in report.notes { print("note: \(note)") }
            for warning in report.warnings { FileHandle.standardError.write(Data("kconv: warning: \(terminalSafe(warning))\n".utf8)) }
        }
    }
}
