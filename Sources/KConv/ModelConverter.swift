import KConvEngine
import KConvKeras
import KConvGraph
import Foundation
import KConvIO
import KConvONNX

/// The files `kconv convert` writes.
public enum ConversionFormat: String, Sendable, CaseIterable {
    /// Keras 2 full-model HDF5, as tf-keras `model.save("x.h5")` writes it.
    case h5
    /// Keras 3 archive, as `model.save("x.keras")` writes it.
    case keras
    /// `model.to_json()` plus `<name>.weights.h5` beside it (Keras 3 object-path layout, which both tf-keras
    /// and Keras 3 `load_weights` read).
    case json
    /// TensorFlow.js layers model: `model.json` (Keras 2 topology and a weights manifest) and binary weight
    /// shards beside it, as `tensorflowjs_converter --input_format keras` writes them.
    case tfjs
    /// ONNX ModelProto, for onnxruntime and the tools of the field; written from the model's graph.
    case onnx

    /// The Keras generations whose configs this format holds: `.h5` and TensorFlow.js Keras 2, `.keras` Keras 3,
    /// a JSON config either, ONNX none.
    package var targets: [KerasDialect] {
        switch self {
        case .h5, .tfjs: [.keras2]
        case .keras: [.keras3]
        case .json: [.keras2, .keras3]
        case .onnx: []
        }
    }

    /// Why a file of this format cannot be written at `path`, when its name says another format (`--format
    /// keras` to `out.h5` would give Keras a zip archive it opens as HDF5), or Keras would not load it there.
    public func refusal(ofPath path: String) -> String? {
        let named = ConversionFormat(path: path)
        if self == .keras, named != .keras {
            return "--format keras writes a Keras 3 zip archive, which keras.models.load_model opens only from a .keras file; name it .keras"
        }
        guard let named, named != self, !(self == .tfjs && named == .json) else { return nil }
        return "\(path) names a .\(named.rawValue) file but --format \(rawValue) writes \(fileDescription); name it \(self == .tfjs ? "as a directory or .json" : "." + rawValue) or drop --format"
    }

    /// What a file of this format is, for messages.
    private var fileDescription: String {
        switch self {
        case .h5: "a Keras 2 HDF5 model"
        case .keras: "a Keras 3 zip archive"
        case .json: "a JSON config and its weights"
        case .tfjs: "a TensorFlow.js model"
        case .onnx: "an ONNX protobuf"
        }
    }

    /// The format an output path's extension names, if any.
    public init?(path: String) {
        let name = path.lowercased()
        if name.hasSuffix(".weights.h5") { return nil }
        if name.hasSuffix(".h5") || name.hasSuffix(".hdf5") { self = .h5 }
        else if name.hasSuffix(".keras") { self = .keras }
        else if name.hasSuffix(".json") { self = .json }
        else if name.hasSuffix(".onnx") { self = .onnx }
        else { return nil }
    }
}

/// The Keras generation whose vocabulary a written config speaks.
public enum KerasGeneration: Sendable {
    /// Keras 2 (tf-keras): what `.h5` files and TensorFlow.js models hold.
    case keras2
    /// Keras 3: what `.keras` archives hold.
    case keras3

    package var dialect: KerasDialect { self == .keras2 ? .keras2 : .keras3 }
}

/// What `LoadedModel.convert` writes, and how.
public struct ConversionOptions: Sendable {
    public var format: ConversionFormat
    /// The vocabulary written: `.h5` is always Keras 2 and `.keras` Keras 3; a JSON config may be either.
    package var target: KerasDialect
    package var export: ExportOptions
    /// Write Keras 1/2 `hard_sigmoid` as Keras 3's (`relu6(x+3)/6`), or the reverse, where the target has
    /// only the other; without it such a model is refused.
    public var approximateHardSigmoid: Bool {
        get { export.approximateHardSigmoid }
        set { export.approximateHardSigmoid = newValue }
    }
    /// Replace existing output files.
    public var force: Bool
    /// Reload what was written and compare it with the source before putting it in place.
    public var check: Bool
    /// Bytes per TensorFlow.js weight shard.
    public var shardSize: Int
    /// The ONNX operator set written (nil: kconv's default).
    public var opset: Int?
    /// ONNX only: store the weights as float16, each cast to float32 where it is read (inputs, outputs and
    /// computation stay float32).
    public var float16: Bool
    /// Told each stage as it starts (`writing`, `checking`), for a progress line.
    public var progress: (@Sendable (String) -> Void)?
    /// tensorflowjs's shard size, 4 MiB.
    public static let defaultShardSize = TFJSLayout.defaultShardSize

    /// Options for writing `format`; `keras` picks the vocabulary of a JSON config (Keras 2 unless told); the
    /// other formats have one.
    public init(format: ConversionFormat, keras: KerasGeneration? = nil, approximateHardSigmoid: Bool = false,
                force: Bool = false, check: Bool = true, shardSize: Int = ConversionOptions.defaultShardSize, opset: Int? = nil,
                float16: Bool = false) {
        self.init(format: format, target: keras?.dialect, export: ExportOptions(approximateHardSigmoid: approximateHardSigmoid),
                  force: force, check: check, shardSize: shardSize, opset: opset, float16: float16)
    }

    package init(format: ConversionFormat, target: KerasDialect?, export: ExportOptions = ExportOptions(),
                force: Bool = false, check: Bool = true, shardSize: Int = ConversionOptions.defaultShardSize, opset: Int? = nil,
                float16: Bool = false) {
        self.format = format
        self.target = target ?? format.targets.first ?? .keras3
        self.export = export
        self.force = force
        self.check = check
        self.shardSize = shardSize
        self.opset = opset
        self.float16 = float16
    }
}

/// What a conversion did.
public struct ConversionReport: Sendable {
    /// The files written, in place.
    public var files: [String]
    package var target: KerasDialect
    /// Approximations and other changes the conversion made.
    public var notes: [String]
    /// What the user must do for the written model to load: classes Keras finds only in its custom objects.
    public var warnings: [String] = []
    /// What the check compared, or nil when skipped.
    public var check: String?
}

/// Converts a loaded model into another Keras file or an ONNX model. Output goes to a hidden staging directory in
/// the destination's directory, under the final file names; it is reloaded from there and compared with the source
/// (layers, shapes, bit-identical weights, outputs on seeded inputs), and only then put in place as one
/// `OutputTransaction`; any failure leaves the old files and nothing else. Inputs are never written.
package enum ModelConverter {
    /// Writes `source` at `path`; for `.tfjs`, `path` may be a directory, which gets a `model.json`.
    package static func convert(_ source: KerasModel, to path: String, options: ConversionOptions) throws -> ConversionReport {
        try locating(file: source.path) { try source.model.requireGraph() }
        if options.format == .onnx { return try convertToONNX(source, to: path, options: options) }
        guard !options.float16 else { throw ModelError(file: path, "float16 weights are written to ONNX only") }
        if options.format == .tfjs, let created = try makeDirectory(forTFJS: path) {
            // As tensorflowjs_converter does; removed again when the conversion fails.
            do { return try convert(source, to: path, options: options) } catch {
                try? FileManager.default.removeItem(atPath: created)
                throw error
            }
        }
        let path = options.format == .tfjs ? try TFJSWriter.modelJSONPath(for: path) : path
        let original = source.model
        // A config read without weights converts to a config alone.
        let hasWeights = source.weightsLayout != .none
        guard hasWeights || options.format == .json else {
            throw ModelError(file: source.path, "has no weights: give its weights file with --weights, or convert to .json for the config alone")
        }
        guard options.format != .tfjs || options.shardSize > 0 else {
            throw ModelError(file: path, "the shard size must be a positive number of bytes, found \(options.shardSize)")
        }
        let outputs = outputFiles(path, model: original, hasWeights: hasWeights, options: options)
        if options.format == .json, source.weightsLayout == .legacy, let layer = unknownWeightedLayer(in: original) {
            // Read by name from layer_names/weight_names, their object paths (.weights.h5) are unknown.
            throw ModelError(file: source.path, layer: layer.label, "kconv does not know where Keras keeps the variables of class \(layer.className) in a .weights.h5 file; convert to .h5, which keeps the layer_names/weight_names layout they were read from")
        }
        try checkDestinations(outputs, source: source, force: options.force)
        guard options.format.targets.contains(options.target) else {
            throw ModelError(file: path, "kconv writes .h5 files and TensorFlow.js models in Keras 2 form and .keras archives in Keras 3 form, not \(options.format) in \(options.target) form")
        }
        let export = try ConfigExport(target: options.target, options: options.export)
        // Layers the target computes only as several layers are written as those (`Layer.expansion`).
        let (model, expansionNotes) = try locating(file: source.path) { try original.expanded(for: options.target) }
        var config = try locating(file: source.path) { try export.modelEntry(model) }
        // Names Keras 3 refuses are written by `Keras3Names`' rule; a .keras archive keeps the map to undo it.
        let renames = options.target == .keras3 ? Keras3Names.renames(model) : []
        let renaming = Dictionary(renames, uniquingKeysWith: { first, _ in first })
        config = Keras3Names.renamed(.object(config), renaming).objectValue ?? config
        if options.format == .json, options.target == .keras2 {
            config["keras_version"] = .string(KerasH5Writer.kerasVersion)
            config["backend"] = "tensorflow"
        }

        // Shards a replaced model.json listed and this one does not: removed once the new files are in place.
        let staleShards = options.format == .tfjs && options.force
            ? TFJSWriter.listedShards(of: path).filter { !outputs.contains($0) && !inputFiles(of: source).contains(resolved($0)) } : []

        var checkSummary: String?
        let recoveries = try stage(outputs, replace: options.force, remove: staleShards) { staged in
            // Checked, each weight is read from its file once, to write and to compare.
            try WeightArray.readingEachOnce(options.check) {
                options.progress?("writing \(path)")
                try locating(file: path) {
                    switch options.format {
                    case .h5: try KerasH5Writer.write(model, config: config, rewrites: export.weightRewrites, to: staged[0])
                    case .keras: try KerasArchiveWriter.write(model, config: config, rewrites: export.weightRewrites, renames: renames, to: staged[0])
                    case .json:
                        try Data(JSONValue.object(config).serialized().utf8).write(to: URL(fileURLWithPath: staged[0]))
                        if hasWeights { try KerasArchiveWriter.writeWeights(model, rewrites: export.weightRewrites, renames: renames, to: staged[1], target: options.target) }
                    case .tfjs: try TFJSWriter.write(model, config: config, rewrites: export.weightRewrites, to: staged[0], shardSize: options.shardSize)
                    case .onnx: throw ModelError("ONNX is written from the graph")
                    }
                }
                if options.check {
                    options.progress?("checking \(path) against \(source.path)")
                    let reloaded = try locating(file: path) {
                        try KerasModel.load(staged[0], weights: options.format == .json && hasWeights ? staged[1] : nil)
                    }
                    checkSummary = try locating(file: path, field: "check against \(source.path)") {
                        try ConversionCheck.compare(model, reloaded.model, weights: hasWeights ? export.weightRewrites : nil, outputs: !export.approximated,
                                                     // A .keras archive reads back under the original names; a JSON config keeps the new ones.
                                                     renamed: options.format == .json ? renaming : [:], reference: original)
                    }
                }
            }
        }
        var notes = recoveries + expansionNotes + export.notes
        if !renames.isEmpty {
            let kept = options.format == .keras ? "; metadata.json keeps the map (\(Keras3Names.metadataKey)), so kconv converting it back restores them" : ""
            notes.append("renamed \(renames.count) layer(s) whose names Keras 3 refuses ('/' becomes '_')\(kept): "
                + renames.map { "\($0.original) → \($0.written)" }.joined(separator: ", "))
        }
        if let removed = describeRemoved(staleShards) { notes.append(removed) }
        notes.append("optimizer state and training config are not carried over: the converted model is for inference (compile it again to train)")
        if !hasWeights { notes.append("the source has no weights, so only the config was written") }
        if !options.check { notes.append("not checked (--no-check)") }
        var report = ConversionReport(files: outputs, target: options.target, notes: notes, check: checkSummary)
        let custom = customClasses(in: model)
        if !custom.isEmpty {
            report.warnings.append("\(options.target) loads \(path) only with custom_objects holding "
                + custom.map { "\($0.className) (layer '\($0.name)')" }.joined(separator: ", ") + ": its Keras has no such class")
        }
        return report
    }

    /// The layers, at any depth, of classes the written model's Keras does not have (a user's own, which kconv
    /// writes as they were).
    private static func customClasses(in layer: Layer) -> [Layer] {
        (layer.needsCustomObject ? [layer] : []) + layer.sublayers.flatMap(customClasses)
    }

    /// Writes an ONNX model from the source's graph; the check reads the written bytes back and compares
    /// them with what was meant, every weight with the source's values.
    private static func convertToONNX(_ source: KerasModel, to path: String, options: ConversionOptions) throws -> ConversionReport {
        let model = source.model
        guard source.weightsLayout != .none else {
            throw ModelError(file: source.path, "has no weights: give its weights file with --weights")
        }
        try checkDestinations([path], source: source, force: options.force)
        // Checked, each weight is read from its file once, to write and to compare.
        let (export, checkSummary, recoveries) = try WeightArray.readingEachOnce(options.check) {
            options.progress?("writing \(path)")
            let export = try locating(file: source.path) {
                let graph = try model.lowered().graph
                let description = ONNXModelDescription(
                    name: model.name,
                    inputs: model.inputLayers.map { ($0.name, DType(kerasName: $0.dtype) ?? .float32) },
                    outputNames: model.outputs.map { model.nodes[$0.node].layer.name },
                    producerVersion: KConvVersion.current,
                    metadata: [("source_file", URL(fileURLWithPath: source.path).lastPathComponent),
                               ("source_keras_version", source.kerasVersion ?? "unknown"),
                               ("source_dialect", String(describing: source.dialect)),
                               ("converter", "kconv \(KConvVersion.current)")])
                return try ONNXExporter.export(graph, description, opset: options.opset ?? ONNXExporter.defaultOpset,
                                               float16Weights: options.float16)
            }
            var checkSummary: String?
            let recoveries = try stage([path], replace: options.force) { staged in
                try locating(file: path) {
                    let output = try FileOutput(creating: staged[0])
                    for part in export.parts { try output.write(part) }
                    try output.close()
                }
                if options.check {
                    options.progress?("checking \(path)")
                    checkSummary = try locating(file: path, field: "check against \(source.path)") {
                        // Mapped: the bytes just written are in the page cache, and a copy would take fresh memory.
                        try export.check(Data(contentsOf: URL(fileURLWithPath: staged[0]), options: .alwaysMapped))
                    }
                }
            }
            return (export, checkSummary, recoveries)
        }
        var notes = recoveries
        if options.float16 {
            notes.append("weights stored as float16 (rounded to nearest), each cast to float32 where it is read: the inputs, outputs and arithmetic stay float32, the results differ from the float32 model's by the weights' rounding")
        }
        if !export.maskedLayers.isEmpty {
            notes.append("the Keras masks into \(export.maskedLayers.joined(separator: ", ")) became ONNX sequence lengths: they give Keras's outputs when each sequence's padding comes at its end")
        }
        if !options.check { notes.append("not checked (--no-check)") }
        return ConversionReport(files: [path], target: source.dialect, notes: notes, check: checkSummary)
    }

    /// Puts `outputs` (all in one directory) in place as one `OutputTransaction`: `write` writes them at the staged
    /// paths it is given (under their final names) and checks them; then they go in place weights first, so even a
    /// reader between two renames never finds a config without its weights, and `remove` (the shards a replaced
    /// model.json listed) goes in the same change. Any failure leaves the old files and nothing else. Returns what
    /// recovering the staging folders of earlier, killed conversions there did.
    private static func stage(_ outputs: [String], replace: Bool, remove: [String] = [], _ write: ([String]) throws -> Void) throws -> [String] {
        let directory = URL(fileURLWithPath: outputs[0]).deletingLastPathComponent()
        let transaction = try locating(file: outputs[0]) { try OutputTransaction(directory: directory) }
        try write(outputs.map(transaction.stagedPath))
        do {
            try transaction.commit(outputs.reversed(), replace: replace, remove: remove)
        } catch {
            throw ModelError(file: error.path, error.message)
        }
        return transaction.recoveries
    }

    /// Creates the directory a TensorFlow.js model is written into when `path` does not exist and is no
    /// `.json` file name; returns it, or nil when there was nothing to create. Its parent must exist.
    private static func makeDirectory(forTFJS path: String) throws -> String? {
        guard !FileManager.default.fileExists(atPath: path), !path.lowercased().hasSuffix(".json") else { return nil }
        try locating(file: path) {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        }
        return path
    }

    /// The files a conversion writes: the model file, then a JSON config's weights file or a TensorFlow.js
    /// model's shards.
    private static func outputFiles(_ path: String, model: Model, hasWeights: Bool, options: ConversionOptions) -> [String] {
        switch options.format {
        case .json where hasWeights: return [path, weightsPath(forJSON: path)]
        case .tfjs:
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            return [path] + TFJSWriter.shardFileNames(model, shardSize: options.shardSize).map { directory.appendingPathComponent($0).path }
        default: return [path]
        }
    }

    /// Says which of the shards a replaced model.json listed were removed.
    private static func describeRemoved(_ staleShards: [String]) -> String? {
        let names = staleShards.map { URL(fileURLWithPath: $0).lastPathComponent }
        guard let first = names.first, let last = names.last else { return nil }
        let listed = names.count > 3 ? "\(first) ... \(last)" : names.joined(separator: ", ")
        return "removed \(names.count) weight shard(s) that the replaced model.json listed: \(listed)"
    }

    /// A layer of a class kconv does not know that holds weights, at any depth.
    private static func unknownWeightedLayer(in layer: Layer) -> Layer? {
        if layer is UnsupportedLayer, !layer.weightSpecs.isEmpty { return layer }
        return layer.sublayers.lazy.compactMap(unknownWeightedLayer).first
    }

    /// Where a JSON config's weights go: `model.json` → `model.weights.h5`.
    package static func weightsPath(forJSON path: String) -> String {
        let url = URL(fileURLWithPath: path)
        let stem = url.pathExtension.lowercased() == "json" ? url.deletingPathExtension().lastPathComponent : url.lastPathComponent
        return url.deletingLastPathComponent().appendingPathComponent(stem + ".weights.h5").path
    }

    /// A path with symbolic links and `.`/`..` resolved, to compare files.
    private static func resolved(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    /// Every file the source was read from, resolved.
    private static func inputFiles(of source: KerasModel) -> Set<String> {
        Set(([source.path] + (source.weightsPath.map { [$0] } ?? []) + source.dataFiles).map(resolved))
    }

    /// Refuses to write over an input, into a missing directory, or over an existing file without `force`.
    private static func checkDestinations(_ outputs: [String], source: KerasModel, force: Bool) throws {
        let inputs = inputFiles(of: source)
        for output in outputs {
            if inputs.contains(resolved(output)) {
                throw ModelError(file: output, "is an input of this conversion; kconv never writes over its inputs")
            }
            var isDirectory: ObjCBool = false
            let directory = URL(fileURLWithPath: output).deletingLastPathComponent().path
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ModelError(file: output, "no such directory \(directory)")
            }
            if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) {
                guard force, !isDirectory.boolValue else {
                    throw ModelError(file: output, isDirectory.boolValue ? "is a directory" : "exists; pass --force to replace it")
                }
            }
        }
    }
}

/// Compares a converted model, as kconv reads it back, with its source.
package enum ConversionCheck {
    package static let atol: Float = 1e-5
    package static let rtol: Float = 1e-4

    /// Same layers (names, classes, weight shapes), same input and output shapes, weights bit-identical to
    /// the source's as `rewrites` changed them (nil: weights not compared), and — when kconv can compute the
    /// model and no approximation was asked for — the same outputs: by construction when both lower to the
    /// same graph (`Graph.computesTheSame`), else run on seeded inputs. Returns a one-line
    /// summary; throws a ModelError naming the first difference. `renamed` holds the names the written model
    /// gives source layers (`Keras3Names`); outputs are compared with `reference`'s when given (the model
    /// `source` is an expansion of: `Model.expanded`).
    package static func compare(_ source: Model, _ written: Model, weights rewrites: WeightRewrites?, outputs compareOutputs: Bool,
                                renamed: [String: String] = [:], reference: Model? = nil) throws -> String {
        let sourceLayers = source.layers.filter { !$0.recordsCallOnly }, writtenLayers = written.layers.filter { !$0.recordsCallOnly }
        guard sourceLayers.count == writtenLayers.count else {
            throw ModelError("expected \(sourceLayers.count) layers, found \(writtenLayers.count): \(writtenLayers.map(\.name))")
        }
        var weightCount = 0, valueCount = 0
        for (original, copy) in zip(sourceLayers, writtenLayers) {
            // A class written under another name (CuDNNLSTM as LSTM) reads back as that class.
            let writtenClass = type(of: original).writtenClassNames[copy.dialect] ?? original.className
            guard (renamed[original.name] ?? original.name) == copy.name, [original.className, writtenClass].contains(copy.className) else {
                throw ModelError("expected \(original.label), found \(copy.label)")
            }
            try locating(layer: original.label) {
                let shapes = original.weightSpecs.map(\.shape), copyShapes = copy.weightSpecs.map(\.shape)
                guard shapes == copyShapes else { throw ModelError("expected weight shapes \(shapes), found \(copyShapes)") }
                guard let rewrites else { return }
                for (index, (a, b)) in zip(try boundWeights(original, rewrites), try boundWeights(copy)).enumerated() {
                    let difference = try a.withValues { want in
                        try b.withValues { got in
                            bitIdentical(want, got) ? nil : zip(want, got).enumerated().first { $1.0.bitPattern != $1.1.bitPattern }
                                .map { " first at element \($0.offset): expected \($0.element.0), found \($0.element.1)" } ?? " in count"
                        }
                    }
                    if let difference {
                        throw ModelError(field: "weight \(index) '\(original.weightSpecs[index].name)'", "values differ" + difference)
                    }
                    weightCount += 1
                    valueCount += a.shape.reduce(1, *)
                }
            }
        }
        guard source.inputShapes == written.inputShapes else {
            throw ModelError("expected input shapes \(source.inputShapes.map(\.kerasDescription)), found \(written.inputShapes.map(\.kerasDescription))")
        }
        let describe = { (shapes: [TensorShape?]) in shapes.map { $0?.kerasDescription ?? "unknown" } }
        // Past a layer kconv cannot compute, shapes are known only from Keras 3's build records, which a Keras 2
        // file does not hold: an unknown shape on one side is not a difference.
        let (sourceShapes, writtenShapes) = (source.outputShapesOfModel, written.outputShapesOfModel)
        let outputShapesAgree = sourceShapes.count == writtenShapes.count
            && zip(sourceShapes, writtenShapes).allSatisfy { $0 == nil || $1 == nil || $0 == $1 }
        guard outputShapesAgree else {
            throw ModelError("expected output shapes \(describe(source.outputShapesOfModel)), found \(describe(written.outputShapesOfModel))")
        }
        var summary = "\(source.layers.count) layers, \(weightCount) weight arrays (\(valueCount) values) bit-identical to what was meant"
        if rewrites == nil {
            summary = "\(source.layers.count) layers and their weight shapes (no weights to compare)"
        } else if !compareOutputs {
            summary += "; outputs not compared (an approximation was asked for)"
        } else if let reason = source.unsupportedReason ?? written.unsupportedReason {
            summary += "; outputs not compared (kconv cannot compute the model: \(reason))"
        } else {
            let reference = reference ?? source
            // Equal graphs compute equal outputs: no need to run them (a rewrite or an expansion still runs both).
            let graph = try reference.lowered().graph
            if try graph.computesTheSame(as: written.lowered().graph) {
                return summary + "; graphs identical: \(graph.nodes.count) ops, outputs equal by construction"
            }
            try reference.prepareForInference()
            try written.prepareForInference()
            let report = try Verifier.compare(written, against: reference, inputs: InputGenerator(), atol: atol, rtol: rtol)
            guard report.passed else {
                // Keras 3's MultiHeadAttention takes the masks off the tensors it reads; tf-keras leaves them.
                let maskClearing = zip(source.layers, written.layers).first { $0.clearsInputMasks != $1.clearsInputMasks }
                let why = maskClearing.map { original, _ in
                    "; the likely cause: \(original.label) takes the Keras masks off the tensors it reads in one Keras version and not in the other, so layers reading them afterwards mask differently"
                } ?? ""
                throw ModelError("outputs on seeded inputs differ\(why):\n" + report.table(atol: atol, rtol: rtol))
            }
            let worst = report.outputs.map(\.maxAbsoluteError).max() ?? 0
            summary += "; outputs on seeded inputs match (max abs error \(VerificationReport.format(worst)))"
        }
        return summary
    }
}
