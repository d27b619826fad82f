import Foundation
import KConvGraph
import ONNXProto

/// How a translated value is laid out in the ONNX graph: as Keras holds it, or with its last axis (the
/// channels) moved after the batch axis, as ONNX's Conv and pooling operators want.
enum Layout: Hashable { case keras, channelsFirst }

/// A graph value as the ONNX graph holds it.
struct ONNXValue: Hashable {
    var name: String
    var dtype: DType
    var layout: Layout
    /// The Keras-layout rank, when known.
    var rank: Int?
}

/// Where an initializer's values came from, for the written file's check and for `--float16`.
package enum InitializerSource {
    /// A source weight with its axes permuted (a convolution kernel in ONNX's layout; none: as it is): checked bit for bit.
    case permuted(Constant, [Int])
    /// Source weights in blocks reordered (a recurrent layer's gates, of both directions): checked as holding their
    /// values bit for bit, in some order.
    case rearranged([Constant])
    /// Computed from source weights (a BatchNormalization folded in, a bias padded with ONNX's zero recurrent
    /// bias): weights in substance, stored as float16 with `--float16`, but not comparable bit for bit.
    case derived
    /// kconv's own constants (scalars, scales, lookup tables): always float32, so they keep their exact values.
    case computed

    /// Whether the values are the model's weights, which `--float16` stores as float16.
    var isWeight: Bool { if case .computed = self { false } else { true } }
}

/// Collects ONNX nodes and initializers with fresh, readable names.
struct ONNXGraphBuilder {
    private(set) var nodes: [Onnx_NodeProto] = []
    private(set) var initializers: [Onnx_TensorProto] = []
    private(set) var initializerSources: [String: InitializerSource] = [:]
    private var usedNames: Set<String> = []
    /// Small constants (shapes, axes, scalars) already written, by content.
    private var constantCache: [String: String] = [:]
    /// The node scope: the Keras layer being translated, prefixed to the names of what it adds.
    var scope = "graph"

    /// A name not used yet, from `base`.
    mutating func freshName(_ base: String) -> String {
        var name = base, counter = 1
        while usedNames.contains(name) {
            name = "\(base)_\(counter)"
            counter += 1
        }
        usedNames.insert(name)
        return name
    }

    /// Reserves `name` exactly (a model input or output); false when it is taken.
    mutating func reserve(_ name: String) -> Bool { usedNames.insert(name).inserted }

    /// Adds a node and returns its outputs' names (fresh unless `outputNames` is given).
    @discardableResult
    mutating func add(_ opType: String, _ inputs: [String], outputs count: Int = 1, outputNames: [String]? = nil,
                      _ attributes: [Onnx_AttributeProto] = []) -> [String] {
        var node = Onnx_NodeProto()
        node.opType = opType
        node.name = freshName("\(scope)/\(opType)")
        node.input = inputs
        node.output = outputNames ?? (0 ..< count).map { freshName("\(scope)/\(opType)\(count > 1 ? ":\($0)" : "")") }
        node.attribute = attributes
        nodes.append(node)
        return node.output
    }

    /// Removes and returns the nodes added since there were `count`: a subgraph built with the same helpers.
    mutating func takeNodes(from count: Int) -> [Onnx_NodeProto] {
        defer { nodes.removeSubrange(count...) }
        return Array(nodes[count...])
    }

    /// Adds a one-output node and returns its output's name.
    mutating func add1(_ opType: String, _ inputs: [String], _ attributes: [Onnx_AttributeProto] = []) -> String {
        add(opType, inputs, attributes)[0]
    }

    /// A float32 initializer.
    mutating func floats(_ values: [Float], shape: [Int], name: String? = nil, source: InitializerSource = .computed) -> String {
        floats(bytes: Self.bytes(of: values), shape: shape, name: name, source: source)
    }

    /// A float32 initializer of these little-endian bytes.
    mutating func floats(bytes: Data, shape: [Int], name: String? = nil, source: InitializerSource = .computed) -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = freshName(name ?? "\(scope)/const")
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.dims = shape.map(Int64.init)
        tensor.rawData = bytes
        initializers.append(tensor)
        initializerSources[tensor.name] = source
        return tensor.name
    }

    /// The array's bytes as Data without copying them (VGG16's weights: 553 MB of fresh memory): the Data holds the
    /// array, which nothing mutates, so its storage stays where it is until the Data goes.
    static func bytes(of values: [Float]) -> Data {
        guard let start = values.withUnsafeBytes({ $0.baseAddress }) else { return Data() }
        return Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: start), count: values.count * MemoryLayout<Float>.size,
                    deallocator: .custom { _, _ in withExtendedLifetime(values) {} })
    }

    /// Stores every weight initializer (`InitializerSource.isWeight`) as float16 under a new name, read through
    /// a Cast to float32 under its old name: every node still computes in float32 (onnxruntime's CPU kernels
    /// lack float16 versions of most operators) and the graph's inputs and outputs keep their dtypes. Throws
    /// when a weight is beyond float16's range, where rounding would make it infinite.
    mutating func storeWeightsAsFloat16() throws {
        var casts: [Onnx_NodeProto] = []
        for index in initializers.indices {
            let tensor = initializers[index]
            guard tensor.dataType == Int32(Onnx_TensorProto.DataType.float.rawValue),
                  let source = initializerSources[tensor.name], source.isWeight else { continue }
            let values = tensor.rawData.words(as: UInt32.self).map(Float.init(bitPattern:))
            let halves = values.map(Float16.init)
            if let beyond = zip(values, halves).first(where: { $0.0.isFinite && !$0.1.isFinite }) {
                throw ModelError("--float16: weight '\(tensor.name)' holds \(beyond.0), beyond float16's range (±65504); write float32 weights (without --float16)")
            }
            var half = tensor
            half.name = freshName("\(tensor.name)/float16")
            half.dataType = Int32(Onnx_TensorProto.DataType.float16.rawValue)
            half.rawData = halves.map(\.bitPattern).withUnsafeBufferPointer { Data(buffer: $0) }
            initializers[index] = half
            initializerSources[half.name] = source
            initializerSources[tensor.name] = nil
            var cast = Onnx_NodeProto()
            cast.opType = "Cast"
            cast.name = freshName("\(tensor.name)/Cast")
            cast.input = [half.name]
            cast.output = [tensor.name]
            cast.attribute = [Self.attribute("to", int: Int(Onnx_TensorProto.DataType.float.rawValue))]
            casts.append(cast)
        }
        nodes.insert(contentsOf: casts, at: 0)
    }

    /// A small constant, shared by every node that needs the same values.
    private mutating func cached(_ key: String, make: (inout ONNXGraphBuilder) -> String) -> String {
        if let name = constantCache[key] { return name }
        let name = make(&self)
        constantCache[key] = name
        return name
    }

    /// A 1-D int64 initializer (shapes, axes, indices).
    mutating func int64s(_ values: [Int]) -> String { int64Tensor(values, dims: [values.count]) }

    /// An int64 scalar (rank 0).
    mutating func int64Scalar(_ value: Int) -> String { int64Tensor([value], dims: []) }

    private mutating func int64Tensor(_ values: [Int], dims: [Int]) -> String {
        cached("i64 \(dims):\(values)") { builder in
            var tensor = Onnx_TensorProto()
            tensor.name = builder.freshName("const_i64")
            tensor.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
            tensor.dims = dims.map(Int64.init)
            tensor.int64Data = values.map(Int64.init)
            builder.initializers.append(tensor)
            builder.initializerSources[tensor.name] = .computed
            return tensor.name
        }
    }

    /// A string initializer of shape `dims` (a vocabulary, a token), as UTF-8.
    mutating func strings(_ values: [String], dims: [Int]) -> String {
        cached("str \(dims):\(values.map(\.debugDescription))") { builder in
            var tensor = Onnx_TensorProto()
            tensor.name = builder.freshName("const_str")
            tensor.dataType = Int32(Onnx_TensorProto.DataType.string.rawValue)
            tensor.dims = dims.map(Int64.init)
            tensor.stringData = values.map { Data($0.utf8) }
            builder.initializers.append(tensor)
            builder.initializerSources[tensor.name] = .computed
            return tensor.name
        }
    }

    /// A float32 scalar (rank 0), for broadcasting.
    mutating func scalar(_ value: Float) -> String {
        cached("f32:\(value.bitPattern)") { builder in
            let previous = builder.scope
            builder.scope = "const"
            defer { builder.scope = previous }
            return builder.floats([value], shape: [])
        }
    }

    // MARK: Attributes

    static func attribute(_ name: String, int value: Int) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .int
        attribute.i = Int64(value)
        return attribute
    }

    static func attribute(_ name: String, ints values: [Int]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .ints
        attribute.ints = values.map(Int64.init)
        return attribute
    }

    static func attribute(_ name: String, float value: Float) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .float
        attribute.f = value
        return attribute
    }

    static func attribute(_ name: String, floats values: [Float]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .floats
        attribute.floats = values
        return attribute
    }

    static func attribute(_ name: String, graph: Onnx_GraphProto) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .graph
        attribute.g = graph
        return attribute
    }

    static func attribute(_ name: String, string value: String) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .string
        attribute.s = Data(value.utf8)
        return attribute
    }

    static func attribute(_ name: String, strings values: [String]) -> Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        attribute.type = .strings
        attribute.strings = values.map { Data($0.utf8) }
        return attribute
    }
}

extension DType {
    /// ONNX's TensorProto.DataType for this dtype.
    var onnx: Onnx_TensorProto.DataType {
        switch self {
        case .float16: .float16
        case .bfloat16: .bfloat16
        case .float32: .float
        case .float64: .double
        case .int8: .int8
        case .int16: .int16
        case .int32: .int32
        case .int64: .int64
        case .uint8: .uint8
        case .uint16: .uint16
        case .uint32: .uint32
        case .uint64: .uint64
        case .bool: .bool
        case .string: .string
        }
    }
}

extension Data {
    /// The bytes read as little-endian words of `type` (ONNX's raw_data is little-endian, as this machine).
    func words<Word: FixedWidthInteger>(as type: Word.Type) -> [Word] {
        withUnsafeBytes { raw in
            (0 ..< raw.count / MemoryLayout<Word>.size).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<Word>.size, as: Word.self) }
        }
    }
}

/// Permutations between Keras's channels-last layout and ONNX's channels-first one, for a rank.
enum ChannelPermutation {
    /// `[0, r-1, 1, …, r-2]`: channels-last → channels-first.
    static func toFirst(rank: Int) -> [Int] { [0, rank - 1] + Array(1 ..< rank - 1) }
    /// `[0, 2, …, r-1, 1]`: channels-first → channels-last.
    static func toLast(rank: Int) -> [Int] { [0] + Array(2 ..< rank) + [1] }
}
