import Foundation
import SwiftProtobuf
import Testing
import ONNXProto

/// The generated ONNX types (Sources/ONNXProto) with the SwiftProtobuf runtime: a small but complete model
/// survives serialization and parsing unchanged.
@Suite struct ONNXProtoTests {
    static let slope: [Float] = [0.25, -1.5, 3]

    /// y = PRelu(x, slope) for x of shape [N, 3], N symbolic, slope an initializer stored as raw data.
    static func model() -> Onnx_ModelProto {
        func value(_ name: String) -> Onnx_ValueInfoProto {
            var batch = Onnx_TensorShapeProto.Dimension()
            batch.dimParam = "N"
            var width = Onnx_TensorShapeProto.Dimension()
            width.dimValue = 3
            var info = Onnx_ValueInfoProto()
            info.name = name
            info.type.tensorType.elemType = Int32(Onnx_TensorProto.DataType.float.rawValue)
            info.type.tensorType.shape.dim = [batch, width]
            return info
        }
        var slope = Onnx_TensorProto()
        slope.name = "slope"
        slope.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        slope.dims = [3]
        slope.rawData = Data(Self.slope.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })

        var node = Onnx_NodeProto()
        node.opType = "PRelu"
        node.name = "prelu"
        node.input = ["x", "slope"]
        node.output = ["y"]

        var model = Onnx_ModelProto()
        model.irVersion = Int64(Onnx_Version.irVersion.rawValue)
        model.producerName = "kconv"
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = 21
        model.opsetImport = [opset]
        model.graph.name = "prelu"
        model.graph.node = [node]
        model.graph.initializer = [slope]
        model.graph.input = [value("x")]
        model.graph.output = [value("y")]
        return model
    }

    @Test func modelRoundTripsThroughTheWireFormat() throws {
        let model = Self.model()
        let bytes: [UInt8] = try model.serializedBytes()
        let parsed = try Onnx_ModelProto(serializedBytes: bytes)
        #expect(parsed == model)
        #expect(try parsed.serializedData() == Data(bytes))

        // The same, field by field, for a readable failure.
        #expect(parsed.irVersion == Int64(Onnx_Version.irVersion.rawValue))
        #expect(parsed.producerName == "kconv")
        let opset = try #require(parsed.opsetImport.first)
        #expect(parsed.opsetImport.count == 1)
        #expect(opset.hasDomain && opset.domain == "" && opset.version == 21)  // proto2: a set "" stays set
        let graph = parsed.graph
        #expect(graph.name == "prelu")
        let node = try #require(graph.node.first)
        #expect(graph.node.count == 1)
        #expect([node.opType, node.name] == ["PRelu", "prelu"] && node.input == ["x", "slope"] && node.output == ["y"])
        #expect(graph.input.map(\.name) == ["x"] && graph.output.map(\.name) == ["y"])
        for info in graph.input + graph.output {
            #expect(info.type.tensorType.elemType == Int32(Onnx_TensorProto.DataType.float.rawValue))
            #expect(info.type.tensorType.shape.dim.map(\.value) == [.dimParam("N"), .dimValue(3)])
        }
        let slope = try #require(graph.initializer.first)
        #expect(graph.initializer.count == 1)
        #expect(slope.name == "slope" && slope.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue))
        #expect(slope.dims == [3] && slope.rawData.count == 12)
        let values = slope.rawData.withUnsafeBytes { raw in
            (0..<3).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        #expect(values == Self.slope)
    }
}
