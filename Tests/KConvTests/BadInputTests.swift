import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// Broken files (Fixtures/bad, made from real Keras files by generate.py) must fail with one clear
/// error naming the file and what is wrong — never a crash, a hang or a huge allocation.
@Suite struct BadInputTests {
    struct Case: Sendable, CustomStringConvertible {
        let file: String
        /// Every fragment must appear in the error message.
        let fragments: [String]
        var description: String { file }
    }

    static let cases: [Case] = [
        Case(file: "not_a_model.h5", fragments: ["not a Keras model file", "binary data"]),
        Case(file: "truncated.h5", fragments: ["truncated"]),
        Case(file: "truncated.keras", fragments: ["zip", "truncated"]),
        Case(file: "empty.json", fragments: ["empty file"]),
        Case(file: "garbage.json", fragments: ["invalid JSON", "line 1"]),
        Case(file: "missing_weight.h5", fragments: ["layer 'lstm'", "lstm/lstm_cell/kernel:0", "no dataset"]),
        Case(file: "wrong_shape.h5", fragments: ["layer 'lstm' (LSTM)", "lstm/lstm_cell/kernel:0", "expected shape [1, 20]", "found [2, 20]"]),
        Case(file: "bad_dtype.h5", fragments: ["lstm/lstm_cell/kernel:0", "expected a numeric dataset", "string"]),
        Case(file: "bad_dtype_complex.h5", fragments: ["lstm/lstm_cell/kernel:0", "expected a numeric dataset"]),
        Case(file: "absurd_size.h5", fragments: ["lstm/lstm_cell/kernel:0", "expected shape [1, 20]", "1099511627776"]),
        Case(file: "no_model_config.h5", fragments: ["no model_config"]),
        Case(file: "config_wrong_type.json", fragments: ["layer 'lstm' (LSTM)", "config.units", "expected an integer", "\"5\""]),
    ]

    @Test(arguments: cases)
    func failsWithAClearError(_ bad: Case) {
        let path = Fixtures.bad.appendingPathComponent(bad.file).path
        #expect(FileManager.default.fileExists(atPath: path))
        do {
            _ = try KerasModel.load(path)
            Issue.record("\(bad.file) loaded, but it is broken")
        } catch {
            let message = String(describing: error)
            #expect(message.hasPrefix(path + ": "), "the error must start with the file: \(message)")
            #expect(!message.contains("\n"), "the error must be one line: \(message)")
            for fragment in bad.fragments {
                #expect(message.contains(fragment), "\(bad.file): '\(fragment)' missing from: \(message)")
            }
        }
    }

    @Test func missingFileIsNamed() {
        #expect(throws: ModelError(file: "/nonexistent/model.h5", "no such file")) {
            try KerasModel.load("/nonexistent/model.h5")
        }
    }

    @Test func weightsOnlyFileAsksForItsConfig() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("weights.h5").path
        let root = try HDF5File.create(path).root
        try root.setAttribute("layer_names", .strings(["dense"]))
        let message = (try? KerasModel.load(path)).map { _ in "" } ?? {
            do { _ = try KerasModel.load(path); return "" } catch { return String(describing: error) }
        }()
        #expect(message.contains("weights-only file"), "\(message)")
        #expect(message.contains("--weights"), "\(message)")
    }

    /// Configs that declare absurd sizes fail at load time naming the layer, before any arithmetic overflows
    /// or anything is allocated.
    @Test(arguments: [
        (#"{"class_name": "Dense", "config": {"name": "huge", "units": 1099511627776, "batch_input_shape": [null, 1099511627776]}}"#, "weight 'kernel'"),
        (#"{"class_name": "RepeatVector", "config": {"name": "huge", "n": 1099511627776, "batch_input_shape": [null, 1099511627776]}}"#, "output of shape"),
        (#"{"class_name": "Reshape", "config": {"name": "huge", "target_shape": [4294967296, 4294967296, 4294967296], "batch_input_shape": [null, 4]}}"#, "config.target_shape"),
        // Window sizes, strides and dilations of zero or less (a zero stride used to divide by zero).
        (#"{"class_name": "Conv2D", "config": {"name": "huge", "filters": 4, "kernel_size": 3, "strides": [0, 1], "batch_input_shape": [null, 8, 8, 3]}}"#, "config.strides: expected 2 positive integers"),
        (#"{"class_name": "Conv1D", "config": {"name": "huge", "filters": 4, "kernel_size": 3, "dilation_rate": -1, "batch_input_shape": [null, 8, 3]}}"#, "config.dilation_rate"),
        (#"{"class_name": "MaxPooling2D", "config": {"name": "huge", "pool_size": [2, 0], "batch_input_shape": [null, 8, 8, 3]}}"#, "config.pool_size"),
        (#"{"class_name": "UpSampling2D", "config": {"name": "huge", "size": [0, 2], "batch_input_shape": [null, 8, 8, 3]}}"#, "config.size"),
    ])
    func absurdSizesInConfigsAreRefused(_ layer: String, _ fragment: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.json").path
        try #"{"class_name": "Sequential", "keras_version": "2.13.1", "config": {"name": "s", "layers": [\#(layer)]}}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try KerasModel.load(path)
            Issue.record("a config with absurd sizes loaded: \(layer)")
        } catch {
            let message = String(describing: error)
            #expect(message.contains("layer 'huge'") && message.contains(fragment), "\(message)")
        }
    }
}
