import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// Legacy HDF5 weight layouts written by hand, for the variants the fixtures cannot produce cheaply.
@Suite struct WeightsLayoutTests {
    /// A JSON config for Dense(2) on 3 features, in the Keras 2 vocabulary.
    static let denseConfig = """
    {"class_name": "Sequential", "keras_version": "2.13.1", "config": {"name": "s", "layers": [
      {"class_name": "Dense", "config": {"name": "dense", "units": 2, "batch_input_shape": [null, 3]}}]}}
    """

    /// Loads `config` with a weights file that `writeWeights` fills, both in a temporary directory.
    func load(_ config: String, writeWeights: (HDF5Group) throws -> Void) throws -> KerasModel {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let configPath = directory.appendingPathComponent("model.json").path
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let weightsPath = directory.appendingPathComponent("weights.h5").path
        try writeWeights(HDF5File.create(weightsPath).root)  // the file closes when the handle goes
        return try KerasModel.load(configPath, weights: weightsPath)
    }

    /// Name lists over 64 KiB are split by Keras into `layer_names0`, `layer_names1`, ...
    @Test func chunkedNameAttributesAreJoined() throws {
        let loaded = try load(Self.denseConfig) { root in
            try root.setAttribute("keras_version", .string("2.13.1"))
            try root.setAttribute("layer_names0", .strings(["dense"]))
            try root.setAttribute("layer_names1", .strings(["unused"]))
            let group = try root.createGroup("dense")
            try group.setAttribute("weight_names0", .strings(["dense/kernel:0"]))
            try group.setAttribute("weight_names1", .strings(["dense/bias:0"]))
            try group.createGroup("dense").createDataset("kernel:0", shape: [3, 2], floats: [1, 2, 3, 4, 5, 6])
            try group.group("dense").createDataset("bias:0", shape: [2], floats: [7, 8])
            try root.createGroup("unused").setAttribute("weight_names", .strings([]))
        }
        let dense = try #require(loaded.model.layers.first)
        #expect(dense.weights.map(\.name) == ["dense/kernel:0", "dense/bias:0"])
        #expect(try dense.weights[0].values() == [1, 2, 3, 4, 5, 6])
        #expect(try dense.weights[1].values() == [7, 8])
        #expect(loaded.weightsLayout == .legacy)
    }

    /// Keras binds legacy weights by order when names differ (e.g. a config paired with another run's weights).
    @Test func weightsBindByOrderWhenNamesDiffer() throws {
        let loaded = try load(Self.denseConfig) { root in
            try root.setAttribute("keras_version", .string("2.13.1"))
            try root.setAttribute("layer_names", .strings(["dense_7"]))
            let group = try root.createGroup("dense_7")
            try group.setAttribute("weight_names", .strings(["kernel:0", "bias:0"]))
            try group.createDataset("kernel:0", shape: [3, 2], floats: [1, 2, 3, 4, 5, 6])
            try group.createDataset("bias:0", shape: [2], floats: [7, 8])
        }
        #expect(try loaded.model.layers[0].weights[1].values() == [7, 8])
    }

    /// Keras 1 LSTMs store 12 per-gate arrays in i, c, f, o order; they bind as Keras 2's three, gates i, f, c, o.
    @Test func keras1LSTMGatesAreConcatenatedInKeras2Order() throws {
        let config = """
        {"class_name": "Sequential", "config": [{"class_name": "LSTM", "config": {"name": "lstm_1", "output_dim": 1,
          "inner_activation": "hard_sigmoid", "batch_input_shape": [null, 4, 1]}}]}
        """
        let loaded = try load(config) { root in
            try root.setAttribute("layer_names", .strings(["lstm_1"]))
            let group = try root.createGroup("lstm_1")
            var names: [String] = []
            for (gateIndex, gate) in ["i", "c", "f", "o"].enumerated() {
                for part in ["W", "U", "b"] {
                    let name = "lstm_1_\(part)_\(gate)"
                    names.append(name)
                    try group.createDataset(name, shape: part == "b" ? [1] : [1, 1], floats: [Float(gateIndex)])
                }
            }
            try group.setAttribute("weight_names", .strings(names))
        }
        #expect(loaded.dialect == .keras1)
        let lstm = try #require(loaded.model.layers.first as? Recurrent)
        #expect(lstm.recurrentActivation == .hardSigmoidLinear)
        #expect(lstm.weights.map(\.shape) == [[1, 4], [1, 4], [4]])
        // Keras 1 gate order i, c, f, o was stored as 0, 1, 2, 3; Keras 2 wants i, f, c, o.
        #expect(try lstm.weights[0].values() == [0, 2, 1, 3])
        #expect(try lstm.weights[2].values() == [0, 2, 1, 3])
    }
}

extension WeightsLayoutTests {
    /// Theano convolved where TensorFlow correlates: Keras flips the spatial axes of kernels written
    /// under Theano when loading them.
    @Test func theanoKernelsAreFlipped() throws {
        let kernel = WeightArray(name: "k", shape: [2, 3, 1, 2]) { (0..<12).map(Float.init) }
        let flipped = try kernel.flippedSpatialAxes().values()
        // Position (r, c) takes (1 - r, 2 - c); each position holds 2 channel values.
        #expect(flipped == [10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1])
    }
}
