import Foundation
import Testing
import Synchronization
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras

/// Reading TensorFlow.js model.json files kconv did not write: binding by the names tfjs-layers accepts,
/// quantized and int32 weights, tfjs-layers' own saves, older multi-group manifests, and a clear error
/// naming the file, layer and weight for each way a file can be broken.
@Suite struct TFJSReaderTests {
    /// Dense(2) on 3 inputs: kernel [3, 2], bias [2].
    static let denseTopology = """
        {"keras_version": "2.15.0", "backend": "tensorflow", "model_config": {"class_name": "Sequential", "config": {"name": "s", "layers": [
          {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 3], "name": "x"}},
          {"class_name": "Dense", "config": {"name": "dense", "units": 2}}]}}}
        """
    static let kernel: [Float] = [1, 2, 3, 4, 5, 6], bias: [Float] = [0.5, -0.5]

    /// One weight of a hand-written manifest.
    struct Weight {
        var name: String
        var shape: [Int]
        var dtype = "float32"
        var quantization: String?

        var json: String {
            #"{"name": "\#(name)", "shape": \#(shape), "dtype": "\#(dtype)""# + (quantization.map { #", "quantization": \#($0)"# } ?? "") + "}"
        }
    }

    /// Writes model.json and its shard files into a fresh directory; `groups` are (shard files, weights).
    static func write(topology: String = denseTopology, groups: [([(name: String, bytes: [UInt8])], [Weight])],
                      listing: [[String]]? = nil) throws -> URL {
        let directory = try ConvertTests.temporaryDirectory()
        var manifest: [String] = []
        for (index, (shards, weights)) in groups.enumerated() {
            for shard in shards { try Data(shard.bytes).write(to: directory.appendingPathComponent(shard.name)) }
            let paths = listing?[index] ?? shards.map(\.name)
            manifest.append(#"{"paths": [\#(paths.map { "\"\($0)\"" }.joined(separator: ", "))], "weights": [\#(weights.map(\.json).joined(separator: ", "))]}"#)
        }
        let json = #"{"format": "layers-model", "modelTopology": \#(topology), "weightsManifest": [\#(manifest.joined(separator: ", "))]}"#
        try json.write(to: directory.appendingPathComponent("model.json"), atomically: true, encoding: .utf8)
        return directory
    }

    static let denseWeights = [Weight(name: "dense/kernel", shape: [3, 2]), Weight(name: "dense/bias", shape: [2])]

    static func values(_ model: KerasModel) throws -> [[Float]] {
        try model.model.layers.flatMap { try $0.weights.map { try $0.values() } }
    }

    static func loadError(_ directory: URL) -> String {
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let model = try KerasModel.load(directory.appendingPathComponent("model.json").path)
            return "loaded, values \(String(describing: try? values(model)))"
        } catch {
            return String(describing: error)
        }
    }

    // MARK: Reading

    @Test func weightsBindByNameInAnyOrder() throws {
        let directory = try Self.write(groups: [([("group1-shard1of1.bin", littleEndianBytes(Self.bias + Self.kernel))],
                                                 Self.denseWeights.reversed())])
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try KerasModel.load(directory.appendingPathComponent("model.json").path)
        #expect(model.format == .tfjs && model.kerasVersion == "2.15.0")
        #expect(try Self.values(model) == [Self.kernel, Self.bias])
    }

    /// uint8 and uint16 affine quantization (`q·scale + min`), float16, and int32, as tfjs-core decodes them.
    @Test func quantizedWeightsAreDequantized() throws {
        let kernelQ: [UInt8] = [0, 1, 2, 3, 4, 255]
        let biasHalf: [UInt16] = [0x3C00, 0xC000] // 1, -2
        let directory = try Self.write(groups: [([("group1-shard1of1.bin", kernelQ + biasHalf.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] })], [
            Weight(name: "dense/kernel", shape: [3, 2], quantization: #"{"dtype": "uint8", "min": -1.0, "scale": 0.5, "original_dtype": "float32"}"#),
            Weight(name: "dense/bias", shape: [2], quantization: #"{"dtype": "float16"}"#),
        ])])
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try KerasModel.load(directory.appendingPathComponent("model.json").path)
        #expect(try Self.values(model) == [[-1, -0.5, 0, 0.5, 1, 126.5], [1, -2]])

        let uint16: [UInt16] = [0, 1, 1000, 65535, 2, 3]
        let ints: [Int32] = [7, -3]
        let other = try Self.write(groups: [([("w.bin", uint16.flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }
                                                         + ints.flatMap { v in (0..<4).map { UInt8(truncatingIfNeeded: v >> ($0 * 8)) } })], [
            Weight(name: "dense/kernel", shape: [3, 2], quantization: #"{"dtype": "uint16", "min": 0.25, "scale": 0.001}"#),
            Weight(name: "dense/bias", shape: [2], dtype: "int32"),
        ])])
        defer { try? FileManager.default.removeItem(at: other) }
        let values = try Self.values(KerasModel.load(other.appendingPathComponent("model.json").path))
        #expect(values == [uint16.map { Float(Double($0) * 0.001 + 0.25) }, [7, -3]])
    }

    @Test func halfPrecisionDecodesExactly() {
        let cases: [(UInt16, Float)] = [(0x0000, 0), (0x3C00, 1), (0xC000, -2), (0x7BFF, 65504), (0x0001, 0x1p-24),
                                        (0x03FF, 0x1.ff8p-15), (0x3555, 0x1.554p-2), (0xFC00, -.infinity)]
        for (bits, value) in cases { #expect(TFJSManifest.floatFromHalf(bits) == value, "\(bits)") }
        #expect(TFJSManifest.floatFromHalf(0x7E00).isNaN)
    }

    /// tfjs-layers' own save: the bare model config as topology, weights named without the RNN cell, one
    /// weights.bin; and TF 2.2-style names with a numbered cell, which tfjs-layers also accepts.
    @Test(arguments: [("lstm/kernel", "lstm/recurrent_kernel", "lstm/bias"),
                      ("lstm/lstm_cell_1/kernel", "lstm/lstm_cell_1/recurrent_kernel", "lstm/lstm_cell_1/bias")])
    func tfjsLayersNamesBind(_ names: (String, String, String)) throws {
        let topology = """
            {"class_name": "Sequential", "keras_version": "tfjs-layers 4.22.0", "backend": "tensor_flow.js", "config": {"name": "s", "layers": [
              {"class_name": "LSTM", "config": {"name": "lstm", "units": 1, "batch_input_shape": [null, 2, 1]}}]}}
            """
        let values: [[Float]] = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
        let directory = try Self.write(topology: topology, groups: [([("weights.bin", littleEndianBytes(values.flatMap { $0 }))], [
            Weight(name: names.2, shape: [4]), Weight(name: names.0, shape: [1, 4]), Weight(name: names.1, shape: [1, 4]),
        ])])
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try KerasModel.load(directory.appendingPathComponent("model.json").path)
        #expect(model.kerasVersion == "tfjs-layers 4.22.0" && model.dialect == .keras2)
        #expect(try Self.values(model) == [values[1], values[2], values[0]])
    }

    /// tensorflowjs converts a Keras 3 `.keras` file with the Keras 3 config (minus `module` and
    /// `registered_name`) and its weights named by object path.
    @Test func keras3ObjectPathsBind() throws {
        let topology = """
            {"keras_version": "3.15.1", "model_config": {"class_name": "Sequential", "config": {"name": "s", "trainable": true, "dtype": "float32", "layers": [
              {"class_name": "InputLayer", "config": {"batch_shape": [null, 3], "dtype": "float32", "name": "x"}},
              {"class_name": "Dense", "config": {"name": "dense", "trainable": true, "dtype": "float32", "units": 2}}]}}}
            """
        let directory = try Self.write(topology: topology, groups: [([("group1-shard1of1.bin", littleEndianBytes(Self.kernel + Self.bias))], [
            Weight(name: "layers/dense/vars/0", shape: [3, 2]), Weight(name: "layers/dense/vars/1", shape: [2]),
        ])])
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try KerasModel.load(directory.appendingPathComponent("model.json").path)
        #expect(model.dialect == .keras3)
        #expect(try Self.values(model) == [Self.kernel, Self.bias])
    }

    /// Older converters wrote one group per layer, each with its own shards and byte stream.
    @Test func groupsHaveTheirOwnShards() throws {
        let directory = try Self.write(groups: [
            ([("group1-shard1of2", littleEndianBytes(Array(Self.kernel.prefix(5)))), ("group1-shard2of2", littleEndianBytes([Self.kernel[5]]))],
             [Self.denseWeights[0]]),
            ([("group2-shard1of1", littleEndianBytes(Self.bias))], [Self.denseWeights[1]]),
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try Self.values(KerasModel.load(directory.appendingPathComponent("model.json").path)) == [Self.kernel, Self.bias])
    }

    // MARK: Broken files

    static let shard = [("group1-shard1of1.bin", littleEndianBytes(kernel + bias))]

    /// (what is wrong, the files, words the error must contain)
    static let brokenFiles: [(String, @Sendable () throws -> URL, [String])] = [
        ("truncated shard", { try write(groups: [([("group1-shard1of1.bin", Array(littleEndianBytes(kernel + bias).dropLast(3)))], denseWeights)]) },
         ["model.json", "weightsManifest[0].paths", "hold 29 bytes but the weights listed need 32", "truncated"]),
        ("long shard", { try write(groups: [([("group1-shard1of1.bin", littleEndianBytes(kernel + bias + [0]))], denseWeights)]) },
         ["model.json", "hold 36 bytes, more than the 32"]),
        ("missing shard", { try write(groups: [(shard, denseWeights)], listing: [["group1-shard1of2.bin", "group1-shard2of2.bin"]]) },
         ["model.json", "weightsManifest[0].paths[0]", "no shard file 'group1-shard1of2.bin'"]),
        ("wrong shape", { try write(groups: [(shard, [Weight(name: "dense/kernel", shape: [2, 3]), denseWeights[1]])]) },
         ["model.json", "layer 'dense' (Dense)", "weight 'dense/kernel'", "expected shape [3, 2] for kernel, found [2, 3]"]),
        ("missing weight", { try write(groups: [([("group1-shard1of1.bin", littleEndianBytes(kernel))], [denseWeights[0]])]) },
         ["model.json", "layer 'dense' (Dense)", "weight 'dense/bias'", "not in the weights manifest"]),
        ("unknown weight", { try write(groups: [(shard, [denseWeights[0], Weight(name: "dense_9/bias", shape: [2])])]) },
         ["model.json", "weightsManifest[0].weights[1] 'dense_9/bias'", "matches no weight", "'dense/kernel'"]),
        ("bad dtype", { try write(groups: [(shard, [Weight(name: "dense/kernel", shape: [3, 2], dtype: "float64"), denseWeights[1]])]) },
         ["model.json", "weightsManifest[0].weights[0] 'dense/kernel'", "dtype 'float64'"]),
        ("bad quantization", { try write(groups: [(shard, [Weight(name: "dense/kernel", shape: [3, 2], quantization: #"{"dtype": "uint8"}"#), denseWeights[1]])]) },
         ["weightsManifest[0].weights[0] 'dense/kernel'.quantization", "'min' and 'scale'"]),
        ("absurd shape", { try write(groups: [(shard, [Weight(name: "dense/kernel", shape: [1 << 40, 1 << 40]), denseWeights[1]])]) },
         ["weightsManifest[0].weights[0] 'dense/kernel'", "expected a shape"]),
        ("huge shape", { try write(groups: [(shard, [Weight(name: "dense/kernel", shape: [1 << 20, 1 << 12]), denseWeights[1]])]) },
         ["hold 32 bytes but the weights listed need 17179869192"]),
        ("path outside", { try write(groups: [(shard, denseWeights)], listing: [["../group1-shard1of1.bin"]]) },
         ["weightsManifest[0].paths[0]", "relative to the model.json's directory"]),
        ("graph model", { try write(topology: #"{"node": []}"#, groups: []).rewriting("layers-model", "graph-model") },
         ["model.json", "format", "not graph models"]),
    ]

    @Test(arguments: brokenFiles.indices)
    func brokenFileIsAClearError(_ index: Int) throws {
        let (what, make, words) = Self.brokenFiles[index]
        let message = Self.loadError(try make())
        for word in words { #expect(message.contains(word), "\(what): \(message)") }
    }

    /// The --weights option has nothing to add to a model.json.
    @Test func weightsOptionIsRefused() throws {
        let directory = try Self.write(groups: [(Self.shard, Self.denseWeights)])
        defer { try? FileManager.default.removeItem(at: directory) }
        let json = directory.appendingPathComponent("model.json").path
        let error = #expect(throws: ModelError.self) { try KerasModel.load(json, weights: json) }
        #expect(error?.description.contains("without --weights") == true)
    }
}

private extension URL {
    /// Replaces text in this directory's model.json.
    func rewriting(_ old: String, _ new: String) throws -> URL {
        let file = appendingPathComponent("model.json")
        try String(contentsOf: file, encoding: .utf8).replacingOccurrences(of: old, with: new).write(to: file, atomically: true, encoding: .utf8)
        return self
    }
}

/// A shard must be a regular file inside the model's folder, reached without following a link: a symbolic link
/// passed the old size check (the link's own length is no guide, and a link to a file of the right size passed it
/// outright) and its target was read; a FIFO blocked the load forever.
extension TFJSReaderTests {
    @Test(arguments: ["symbolic link", "FIFO", "folder", "linked folder", "dot"])
    func shardMustBeARegularFileInside(_ kind: String) throws {
        let bytes = littleEndianBytes(Self.kernel + Self.bias)
        let outside = try ConvertTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: outside) }
        let secret = outside.appendingPathComponent("secret.bin")
        try Data(bytes).write(to: secret)  // the right size: only where it is gives it away
        let name = kind == "linked folder" ? "sub/group1-shard1of1.bin" : kind == "dot" ? "./group1-shard1of1.bin" : "group1-shard1of1.bin"
        let directory = try Self.write(groups: [([("group1-shard1of1.bin", bytes)], Self.denseWeights)], listing: [[name]])
        let shard = directory.appendingPathComponent("group1-shard1of1.bin")
        try FileManager.default.removeItem(at: shard)
        switch kind {
        case "symbolic link": try FileManager.default.createSymbolicLink(at: shard, withDestinationURL: secret)
        case "FIFO": #expect(mkfifo(shard.path, 0o600) == 0)
        case "folder": try FileManager.default.createDirectory(at: shard, withIntermediateDirectories: false)
        case "linked folder":
            try FileManager.default.createSymbolicLink(at: directory.appendingPathComponent("sub"), withDestinationURL: outside)
            try FileManager.default.copyItem(at: secret, to: outside.appendingPathComponent("group1-shard1of1.bin"))
        default: try Data(bytes).write(to: shard)
        }
        let expected = [
            "symbolic link": "shard 'group1-shard1of1.bin': expected a regular file inside the model's folder, found a symbolic link",
            "FIFO": "shard 'group1-shard1of1.bin': expected a regular file inside the model's folder, found a FIFO",
            "folder": "shard 'group1-shard1of1.bin': expected a regular file inside the model's folder, found a folder",
            "linked folder": "shard 'sub/group1-shard1of1.bin': expected a folder inside the model's folder, found a symbolic link",
            "dot": "shard './group1-shard1of1.bin': expected a name relative to its folder, without '.', '..' or empty parts",
        ]
        // A FIFO opened for reading would block: load on another thread, and fail rather than hang.
        let outcome = Mutex<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let message = Self.loadError(directory)
            outcome.withLock { $0 = message }
            done.signal()
        }.start()
        guard done.wait(timeout: .now() + 20) == .success else {
            Issue.record("loading a model whose shard is a \(kind) blocked")
            if let writer = Optional(open(shard.path, O_WRONLY | O_NONBLOCK)), writer >= 0 { close(writer) }
            return
        }
        let message = outcome.withLock { $0 } ?? ""
        #expect(message.contains("weightsManifest[0].paths[0]"), "\(message)")
        #expect(message.contains(expected[kind] ?? "?"), "\(kind): \(message)")
    }
}
