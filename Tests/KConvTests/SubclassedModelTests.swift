import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvKeras
import KConvIO

/// A user's `Model` subclass (`Fixtures/cases/subclassed_model`: Decoder holding an LSTM and a Dense) as
/// every file Keras 2 and 3 wrote it in: `inspect` shows its class, constructor arguments and weights tree
/// with Keras's count, and says why it cannot be run or converted; `run`, `verify`, `convert` and `diff`
/// refuse with that reason.
@Suite struct SubclassedModelTests {
    static let folder = Fixtures.cases.appendingPathComponent("subclassed_model")
    static let reason = "a subclassed model computes in its Python call() method, which the file does not hold"

    static func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// The legacy `.h5` Keras 3 writes: weights under their tf-keras names, in Keras's order.
    @Test func inspectShowsTheClassArgumentsAndWeightsTree() throws {
        let result = try CommandLineTests.run(["inspect", Self.path("keras3.h5")])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { String($0).trimmingTrailingSpaces() }
        #expect(lines.contains("Model:    \"decoder\" (Decoder, a subclassed model)"))
        #expect(lines.contains("Arguments: units=4, vocab=6, name=\"decoder\""))
        let tree = lines.drop { !$0.hasPrefix("Weight ") }.prefix { !$0.hasPrefix("Total params") }
        #expect(Array(tree) == [
            "Weight                Shape    Param #",
            "======================================",
            "decoder/                       158",
            "  lstm/lstm_cell/              128",
            "    kernel            (3, 16)  48",
            "    recurrent_kernel  (4, 16)  64",
            "    bias              (16,)    16",
            "  dense/                       30",
            "    kernel            (4, 6)   24",
            "    bias              (6,)     6",
            "======================================",
        ])
        #expect(lines.contains("Total params: 158 (632.00 B)"))
        #expect(lines.last == "Model \"decoder\" (Decoder): \(Self.reason) (only its constructor arguments and weights), so kconv cannot run or convert it")
    }

    @Test func inspectJSONCarriesTheSameFacts() throws {
        let result = try CommandLineTests.run(["inspect", "--json", Self.path("keras3.keras")])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try JSONValue.parse(result.stdout)
        let subclassed = json["subclassed"]
        #expect(json["class_name"]?.stringValue == "Decoder")
        #expect(json["total_params"]?.intValue == 158)
        #expect(subclassed?["constructor_arguments"]?["units"]?.intValue == 4)
        #expect(subclassed?["constructor_arguments"]?["vocab"]?.intValue == 6)
        #expect(subclassed?["reason"]?.stringValue?.hasPrefix(Self.reason) == true)
        let weights = subclassed?["weights"]?.arrayValue ?? []
        #expect(weights.compactMap { $0["params"]?.intValue }.reduce(0, +) == 158)
        let paths = weights.compactMap { $0["path"]?.stringValue }
        #expect(paths.contains("layers/lstm/cell/vars/1"), "\(paths)")
        #expect(json["unsupported_layers"]?.arrayValue?.first?["name"]?.stringValue == "decoder")
    }

    static let refusedCommands: [[String]] = [
        ["run", "keras3.h5", "--random", "--output", "OUT/out.npz"],
        ["verify", "keras3.keras", "--reference", "keras3.ref.npz"],
        ["verify", "keras2.keras", "--against", "keras3.h5"],
        ["convert", "keras3.h5", "OUT/model.keras"],
        ["convert", "keras2.keras", "OUT/model.onnx"],
        ["convert", "keras2.json", "OUT/model.h5", "--weights", "keras2_weights.h5"],
        ["diff", "keras3.h5", "keras3.keras"],
    ]

    /// Each command fails in the standard form, naming the file and the reason, and writes nothing.
    @Test(arguments: refusedCommands)
    func commandsRefuseWithTheReason(_ command: [String]) throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-subclassed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        let arguments = [command[0]] + command.dropFirst().map { argument in
            argument.hasPrefix("OUT/") ? out.path + argument.dropFirst(3) : argument.hasPrefix("--") ? argument : Self.path(argument)
        }
        let result = try CommandLineTests.run(arguments)
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("kconv: error: \(Self.path(command[1])): layer 'decoder' (Decoder): \(Self.reason)"), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).isEmpty)
    }

    /// A custom layer inside a Functional model counts the parameters the file holds for it, in every file.
    @Test(arguments: ["keras2.h5", "keras2.keras", "keras3.h5", "keras3.keras"])
    func customLayerCountsTheWeightsTheFileHolds(_ name: String) throws {
        let loaded = try KerasModel.load(Fixtures.cases.appendingPathComponent("custom_layer_functional/\(name)").path)
        let row = ModelSummary(loaded).rows.first { $0.name == "channel_scale" }
        #expect(row?.params == 6)
        #expect(row?.unsupportedReason == "kconv does not implement class ChannelScale")
        // Keras counts 3 of them non-trainable; the file does not say which, and the summary says so.
        #expect(ModelSummary(loaded).text.contains("(6 of them in channel_scale, of a class kconv does not know: the file does not record which of those train)"))
    }
}
