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
}
