import Foundation
import Testing
@testable import KConv
@testable import KConvKeras

@Suite struct SummaryTests {
    /// A layer with thousands of inbound tensors: the summary grows linearly (every row used to be padded
    /// to the width of that layer's connection list, 300 MB for 5,000 inputs).
    @Test func wideFanInKeepsTheSummaryLinear() throws {
        let count = 5000
        let inputs = (0 ..< count).map { #"{"class_name": "InputLayer", "name": "in\#($0)", "inbound_nodes": [], "config": {"name": "in\#($0)", "batch_input_shape": [null, 1], "dtype": "float32"}}"# }
        let inbound = (0 ..< count).map { #"["in\#($0)", 0, 0, {}]"# }.joined(separator: ", ")
        let concatenate = #"{"class_name": "Concatenate", "name": "cat", "config": {"name": "cat", "axis": -1}, "inbound_nodes": [[\#(inbound)]]}"#
        let inputList = (0 ..< count).map { #"["in\#($0)", 0, 0]"# }.joined(separator: ", ")
        let config = #"{"class_name": "Functional", "keras_version": "2.21.0", "config": {"name": "m", "layers": [\#((inputs + [concatenate]).joined(separator: ", "))], "input_layers": [\#(inputList)], "output_layers": [["cat", 0, 0]]}}"#
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-fan-in-\(UUID().uuidString).json")
        try Data(config.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let summary = ModelSummary(try KerasModel.load(file.path))
        #expect(summary.rows.count == count + 1)
        #expect(summary.text.utf8.count < 2_000_000)
        #expect(summary.text.contains("(None, \(count))  0        in0[0][0], in1[0][0]"))
    }

    /// tf-keras records `activations.elu(x, alpha=0.71)` as TFOpLambda calls, one of them on a constant first
    /// argument (`tf.math.multiply(0.71, y=elu)`, written `["_CONSTANT_VALUE", -1, 0.71, kwargs]`, as tf-keras
    /// 2.21 wrote it): the file inspects, the call connected to its keyword tensor.
    @Test func constantFirstArgumentOfATFOpLambdaInspects() throws {
        let config = #"""
        {"class_name": "Functional", "keras_version": "2.21.0", "config": {"name": "m", "layers": [
          {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [], "config": {"name": "input_1", "batch_input_shape": [null, 4], "dtype": "float32"}},
          {"class_name": "TFOpLambda", "name": "tf.nn.elu", "config": {"name": "tf.nn.elu", "function": "nn.elu", "trainable": true, "dtype": "float32"},
           "inbound_nodes": [["input_1", 0, 0, {"name": null}]]},
          {"class_name": "TFOpLambda", "name": "tf.math.multiply", "config": {"name": "tf.math.multiply", "function": "math.multiply", "trainable": true, "dtype": "float32"},
           "inbound_nodes": [["_CONSTANT_VALUE", -1, 0.7099999785423279, {"y": ["tf.nn.elu", 0, 0], "name": null}]]}],
          "input_layers": [["input_1", 0, 0]], "output_layers": [["tf.math.multiply", 0, 0]]}}
        """#
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-constant-\(UUID().uuidString).json")
        try Data(config.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let summary = ModelSummary(try KerasModel.load(file.path))
        #expect(summary.rows.count == 3)
        #expect(summary.text.contains("tf.math.multiply (TFOpLambda)"))
        #expect(summary.text.contains("tf.nn.elu[0][0]"))
        #expect(summary.text.contains("kconv does not implement TFOpLambda operation tf.nn.elu"))
    }
}
