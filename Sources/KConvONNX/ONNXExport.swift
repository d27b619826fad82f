import Foundation
import KConvGraph
import ONNXProto
import SwiftProtobuf

/// What an ONNX file says about the model beyond its graph.
package struct ONNXModelDescription {
    /// The Keras model's name, the graph's name.
    package var name: String
    /// One per graph input: its Keras name and dtype (the layer's `dtype`).
    package var inputs: [(name: String, dtype: DType)]
    /// One per graph output.
    package var outputNames: [String]
    package var producerVersion: String
    /// `metadata_props`: the source file's Keras version and the like.
    package var metadata: [(key: String, value: String)]

    package init(name: String, inputs: [(name: String, dtype: DType)], outputNames: [String], producerVersion: String, metadata: [(key: String, value: String)]) {
        self.name = name
        self.inputs = inputs
        self.outputNames = outputNames
        self.producerVersion = producerVersion
        self.metadata = metadata
    }
}

/// Writes a kconv graph as an ONNX model.
package enum ONNXExporter {
    /// onnxruntime 1.17 and later run opset 21; Keras's layers need at least 13 (Squeeze, Unsqueeze and
    /// ReduceSum with their axes as inputs, Softmax over one axis).
    package static let defaultOpset = 21
    package static let opsets = 13 ... 26

    /// The IR version that goes with an opset, as onnx's own version table pairs them.
    package static func irVersion(forOpset opset: Int) -> Int64 {
        switch opset {
        case ..<15: 7
        case 15 ... 18: 8
        case 19 ... 20: 9
        case 21 ... 22: 10
        case 23: 11
        case 24: 12
        default: 13
        }
    }

    /// The serialized ModelProto of `graph`, with what the check needs to know.
    /// With `float16Weights`, the weights are stored as float16 and cast to float32 where they are read
    /// (`ONNXGraphBuilder.storeWeightsAsFloat16`).
    package static func export(_ graph: Graph, _ description: ONNXModelDescription, opset: Int = defaultOpset,
                               float16Weights: Bool = false) throws -> ONNXExport {
        guard opsets.contains(opset) else {
            throw ModelError("--opset must be from \(opsets.lowerBound) to \(opsets.upperBound) (onnxruntime's range), found \(opset)")
        }
        guard description.inputs.count == graph.inputs.count, description.outputNames.count == graph.outputs.count else {
            throw ModelError("expected \(graph.inputs.count) input and \(graph.outputs.count) output names")
        }
        var translator = ONNXTranslator(graph: graph, opset: opset)
        var inputs: [Onnx_ValueInfoProto] = []
        for (value, input) in zip(graph.inputs, description.inputs) {
            guard translator.builder.reserve(input.name) else { throw ModelError("two model inputs are named '\(input.name)'") }
            translator.bindInput(value, name: input.name, dtype: input.dtype)
            inputs.append(valueInfo(input.name, dtype: input.dtype, shape: graph.type(of: value).shape, prefix: input.name))
        }
        let outputNames = uniqueOutputNames(description.outputNames, taken: Set(description.inputs.map(\.name)))
        for name in outputNames { _ = translator.builder.reserve(name) }
        try translator.translateAll()

        // Each output in Keras's layout and dtype, under its Keras name.
        translator.builder.scope = "outputs"
        var outputs: [Onnx_ValueInfoProto] = []
        for (value, name) in zip(graph.outputs, outputNames) {
            let dtype = graph.type(of: value).dtype
            let source = try translator.name(value, dtype: dtype)
            translator.builder.add("Identity", [source], outputNames: [name])
            outputs.append(valueInfo(name, dtype: dtype, shape: graph.type(of: value).shape, prefix: name))
        }
        if float16Weights { try translator.builder.storeWeightsAsFloat16() }

        var model = Onnx_ModelProto()
        model.irVersion = irVersion(forOpset: opset)
        model.producerName = "kconv"
        model.producerVersion = description.producerVersion
        var opsetID = Onnx_OperatorSetIdProto()
        opsetID.domain = ""
        opsetID.version = Int64(opset)
        model.opsetImport = [opsetID]
        model.metadataProps = description.metadata.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        var onnxGraph = Onnx_GraphProto()
        onnxGraph.name = description.name
        onnxGraph.node = removingIdentities(translator.builder.nodes, keeping: Set(description.inputs.map(\.name)))
        onnxGraph.initializer = translator.builder.initializers
        onnxGraph.input = inputs
        onnxGraph.output = outputs
        model.graph = onnxGraph
        return ONNXExport(parts: try fileParts(of: model), model: model, initializerSources: translator.builder.initializerSources,
                          maskedLayers: translator.maskedLayers)
    }

    /// The model's serialized bytes as parts to write one after another, each initializer's raw data being the
    /// very `Data` the model holds (VGG16: 553 MB written from where the weights lie, where serializing the whole
    /// model first copied them into one fresh buffer). A protobuf reader merges a message's fields in whatever
    /// order they come, so each message is written with its bulk last: the model without its graph, then the
    /// graph without its initializers, then each initializer without its raw data, then that raw data.
    static func fileParts(of model: Onnx_ModelProto) throws -> [Data] {
        var shell = model
        shell.clearGraph()
        var graph = model.graph
        let initializers = graph.initializer
        graph.initializer = []
        let graphFields = try graph.serializedData()
        var initializerParts: [Data] = []
        var graphSize = graphFields.count
        for tensor in initializers {
            var fields = tensor
            fields.clearRawData()
            var head = try fields.serializedData()
            if tensor.hasRawData { head += ProtobufField.header(9, size: tensor.rawData.count) }
            let tensorSize = head.count + tensor.rawData.count
            let field = ProtobufField.header(5, size: tensorSize)
            initializerParts += [field + head, tensor.rawData]
            graphSize += field.count + tensorSize
        }
        let parts = [try shell.serializedData()] + (model.hasGraph ? [ProtobufField.header(7, size: graphSize), graphFields] : [])
        return parts + initializerParts.filter { !$0.isEmpty }
    }

    /// Keras output names made unique (a layer with several outputs repeats its name) and distinct from inputs.
    private static func uniqueOutputNames(_ names: [String], taken: Set<String>) -> [String] {
        var used = taken
        return names.map { base in
            var name = base, counter = 1
            while used.contains(name) {
                name = "\(base)_\(counter)"
                counter += 1
            }
            used.insert(name)
            return name
        }
    }

    /// The graph without Identity nodes: each output Identity's source node writes the output directly, when
    /// that source is a node's output read by nothing else.
    private static func removingIdentities(_ nodes: [Onnx_NodeProto], keeping inputs: Set<String>) -> [Onnx_NodeProto] {
        var nodes = nodes
        var readers: [String: Int] = [:]
        for node in nodes { for input in node.input { readers[input, default: 0] += 1 } }
        var producer: [String: Int] = [:]
        for (index, node) in nodes.enumerated() { for output in node.output { producer[output] = index } }
        var removed = Set<Int>()
        for (index, node) in nodes.enumerated() where node.opType == "Identity" {
            let source = node.input[0]
            guard !inputs.contains(source), readers[source] == 1, let from = producer[source],
                  nodes[from].opType != "Identity" || !removed.contains(from) else { continue }
            nodes[from].output = nodes[from].output.map { $0 == source ? node.output[0] : $0 }
            removed.insert(index)
        }
        return nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    /// A graph input's or output's type: dtype and shape, the batch axis named `batch` and other unknown
    /// sizes named after the value (`prefix`); without a shape, the element type only.
    static func valueInfo(_ name: String, dtype: DType, shape: [Dim]? = nil, prefix: String = "") -> Onnx_ValueInfoProto {
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(dtype.onnx.rawValue)
        if let shape {
            var onnxShape = Onnx_TensorShapeProto()
            onnxShape.dim = shape.enumerated().map { axis, dim in
                var dimension = Onnx_TensorShapeProto.Dimension()
                switch dim {
                case .size(let size): dimension.dimValue = Int64(size)
                case .symbol: dimension.dimParam = axis == 0 ? "batch" : "\(prefix)_dim\(axis)"
                }
                return dimension
            }
            tensor.shape = onnxShape
        }
        var type = Onnx_TypeProto()
        type.tensorType = tensor
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.type = type
        return info
    }
}

/// A written ONNX model: its bytes, and where each initializer came from.
package struct ONNXExport {
    /// The file's bytes: its parts written one after another (`ONNXExporter.fileParts`).
    package let parts: [Data]
    package let model: Onnx_ModelProto
    package let initializerSources: [String: InitializerSource]
    /// Recurrent layers whose Keras mask became sequence lengths.
    package let maskedLayers: [String]

    /// Compares `written` with what was exported: every byte the serialized model's (`parts`, which read back as
    /// the model: `fileParts`), and each initializer that rearranges source weights holding exactly their values
    /// (read again from the source). Returns a one-line summary. The bytes are compared where they lie: parsing
    /// them again would copy every weight into fresh memory (VGG16: 553 MB, a second and a half).
    package func check(_ written: Data) throws -> String {
        let expected = parts.reduce(0) { $0 + $1.count }
        guard written.count == expected else {
            throw ModelError("the written ONNX file is \(written.count) bytes, expected \(expected): it is not the model kconv wrote")
        }
        var offset = 0
        for part in parts {
            guard written[written.startIndex + offset ..< written.startIndex + offset + part.count].withUnsafeBytes(part.holdsBytes) else {
                throw ModelError("the written ONNX file differs from the model kconv wrote in bytes \(offset) to \(offset + part.count)")
            }
            offset += part.count
        }
        var arrays = 0, values = 0, halves = 0
        for initializer in model.graph.initializer {
            // A float16 initializer (--float16) must hold each source value rounded to float16.
            let isHalf = initializer.dataType == Int32(Onnx_TensorProto.DataType.float16.rawValue)
            let constants: [Constant], holds: Bool
            switch initializerSources[initializer.name] {
            case .permuted(let constant, let permutation)?:
                constants = [constant]
                // The values where they lie: reading them copies (VGG16's 411 MB dense kernel into fresh memory).
                holds = try constant.withValues { lent in
                    values += lent.count
                    guard permutation != Array(permutation.indices) else { return initializer.rawData.holds(lent, asHalves: isHalf) }
                    return permuted(Array(lent), shape: constant.shape, permutation).withUnsafeBufferPointer {
                        initializer.rawData.holds($0, asHalves: isHalf)
                    }
                }
            case .rearranged(let sources)?:
                constants = sources
                let joined = try sources.flatMap { try $0.read() }
                values += joined.count
                holds = isHalf ? joined.map { Float16($0).bitPattern }.withUnsafeBufferPointer(initializer.rawData.holdsInSomeOrder)
                    : joined.map(\.bitPattern).withUnsafeBufferPointer(initializer.rawData.holdsInSomeOrder)
            default: continue
            }
            guard holds else {
                throw ModelError("initializer '\(initializer.name)' does not hold the values of \(constants.map { "\($0.origin) \($0.name)" }.joined(separator: ", "))\(isHalf ? " rounded to float16" : "")")
            }
            halves += isHalf ? 1 : 0
            arrays += 1
        }
        let rounding = halves == 0 ? "" : halves == arrays ? " rounded to float16" : " (\(halves) of them rounded to float16)"
        return "\(model.graph.node.count) nodes, every byte as serialized; \(arrays) weight arrays (\(values) values) hold the source's values\(rounding) bit for bit"
    }
}

/// Protobuf's wire format for a length-delimited field (a message, bytes or a string).
private enum ProtobufField {
    /// The field's key (its number, wire type 2) and its size as a varint.
    static func header(_ number: UInt64, size: Int) -> Data {
        var bytes = Data()
        for var value in [number << 3 | 2, UInt64(size)] {
            while value >= 0x80 {
                bytes.append(UInt8(value & 0x7F | 0x80))
                value >>= 7
            }
            bytes.append(UInt8(value))
        }
        return bytes
    }
}

extension Data {
    /// Whether these bytes are `other`'s.
    func holdsBytes(_ other: UnsafeRawBufferPointer) -> Bool {
        count == other.count && withUnsafeBytes { mine in
            guard let mine = mine.baseAddress, let other = other.baseAddress else { return count == 0 }
            return memcmp(mine, other, count) == 0
        }
    }

    /// Whether these bytes are `values` in order, as little-endian float32 or, `asHalves`, rounded to float16.
    func holds(_ values: UnsafeBufferPointer<Float>, asHalves: Bool) -> Bool {
        asHalves ? values.map { Float16($0).bitPattern }.withUnsafeBytes(holdsBytes) : holdsBytes(UnsafeRawBufferPointer(values))
    }

    /// Whether these bytes are `words` (little-endian) in some order: in the same order, else once both are
    /// sorted (a recurrent layer's gate blocks reordered).
    func holdsInSomeOrder<Word: FixedWidthInteger & UnsignedInteger>(_ words: UnsafeBufferPointer<Word>) -> Bool {
        holdsBytes(UnsafeRawBufferPointer(words))
            || count == words.count * MemoryLayout<Word>.size && self.words(as: Word.self).map(UInt32.init).radixSorted() == words.map(UInt32.init).radixSorted()
    }
}

extension Array where Element == UInt32 {
    /// The words in ascending order, by a least-significant-digit radix sort (three passes of 11 bits): linear
    /// time, where `sorted()` took 85% of checking VGG16's ONNX file when its kernels were checked this way (138 M weights, ~100 s).
    func radixSorted() -> [UInt32] {
        var words = self, scratch = [UInt32](repeating: 0, count: count)
        for shift in stride(from: 0, to: 32, by: 11) {
            var starts = [Int](repeating: 0, count: 2049)  // starts[d + 1] counts digit d, then prefix sums
            for word in words { starts[Int(word >> shift & 0x7FF) + 1] += 1 }
            for digit in 1 ..< starts.count { starts[digit] += starts[digit - 1] }
            words.withUnsafeBufferPointer { from in
                scratch.withUnsafeMutableBufferPointer { to in
                    for word in from {
                        let digit = Int(word >> shift & 0x7FF)
                        to[starts[digit]] = word
                        starts[digit] += 1
                    }
                }
            }
            swap(&words, &scratch)
        }
        return words
    }
}
