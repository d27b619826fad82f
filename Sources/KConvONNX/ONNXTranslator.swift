import Foundation
import KConvGraph
import ONNXProto

/// Translates a kconv `Graph` into ONNX nodes: each operation becomes the ONNX operators that compute the
/// same thing. Values are translated on demand in the layout and dtype their readers ask for, so a stack of
/// convolutions stays channels-first between one Transpose in and one out.
struct ONNXTranslator {
    let graph: Graph
    let opset: Int
    var builder = ONNXGraphBuilder()
    /// Each translated value as produced.
    private var produced: [ValueID: ONNXValue] = [:]
    /// Layers whose Keras mask became ONNX sequence lengths, for the conversion's notes.
    var maskedLayers: [String] = []
    /// Optional values that turned out absent when translated (see `produceNothing`).
    private(set) var absent: Set<ValueID> = []
    /// The values some graph output depends on.
    private(set) var neededValues: Set<ValueID> = []
    /// BatchNormalizations folded into the layer before them, by that layer's output (see `batchNormFolds`).
    private(set) var folds: [ValueID: BatchNormFold] = [:]
    /// Each value's views in other layouts or dtypes, made once.
    private var views: [ViewKey: String] = [:]

    private struct ViewKey: Hashable {
        var value: ValueID
        var layout: Layout
        var dtype: DType
    }

    init(graph: Graph, opset: Int) {
        self.graph = graph
        self.opset = opset
    }

    /// Names a model input: `name` holding `dtype` values, in Keras's layout.
    mutating func bindInput(_ value: ValueID, name: String, dtype: DType) {
        produced[value] = ONNXValue(name: name, dtype: dtype, layout: .keras, rank: rank(of: value))
    }

    /// Translates every node some output depends on, in order.
    mutating func translateAll() throws {
        let needed = neededNodes()
        neededValues = needed.values
        folds = batchNormFolds()
        for (index, node) in graph.nodes.enumerated() where needed.nodes[index] {
            builder.scope = Self.scopeName(node.origin)
            try locating(layer: node.origin) { try translate(node) }
        }
    }

    // MARK: Values

    /// The value's Keras rank: as translated (a mask's rank is known only then), else from its type.
    func rank(of value: ValueID) -> Int? { produced[value]?.rank ?? graph.type(of: value).shape?.count }

    /// The value's Keras rank, which the translation of `node` needs.
    func knownRank(of value: ValueID) throws -> Int {
        guard let rank = rank(of: value) else { throw ModelError("ONNX export needs the rank of every tensor, and this one depends on a layer kconv cannot compute") }
        return rank
    }

    /// The value's static shape (symbolic dimensions as nil), when its rank is known.
    func staticShape(of value: ValueID) -> [Int?]? {
        graph.type(of: value).shape?.map { if case .size(let size) = $0 { size } else { nil } }
    }

    /// The value's sizes from `axis` on, when they are all known.
    func knownSizes(of value: ValueID, from axis: Int) -> [Int]? {
        guard let sizes = staticShape(of: value)?.dropFirst(axis), !sizes.contains(nil) else { return nil }
        return sizes.compactMap { $0 }
    }

    /// Whether `value` is a constant (a weight) of the graph.
    func constant(_ value: ValueID) -> Constant? { graph.constants[value] }

    /// The produced form of `value`: translated already, or a weight written now as an initializer.
    mutating func producedValue(_ value: ValueID) throws -> ONNXValue {
        if let known = produced[value] { return known }
        guard let constant = graph.constants[value] else {
            throw ModelError("ONNX export reached a value no operation produced (value \(value.index))")
        }
        let bytes = try constant.lentBytes() ?? ONNXGraphBuilder.bytes(of: constant.read())
        let name = builder.floats(bytes: bytes, shape: constant.shape, name: "\(Self.scopeName(constant.origin))/\(constant.name)",
                                  source: .permuted(constant, Array(constant.shape.indices)))
        let translated = ONNXValue(name: name, dtype: .float32, layout: .keras, rank: constant.shape.count)
        produced[value] = translated
        return translated
    }

    /// The layout `value` was produced in.
    mutating func layout(of value: ValueID) throws -> Layout { try producedValue(value).layout }

    /// `value`'s ONNX name in `layout` and `dtype`, with a Transpose or Cast added the first time one is needed.
    mutating func name(_ value: ValueID, layout: Layout = .keras, dtype: DType = .float32) throws -> String {
        let source = try producedValue(value)
        if source.layout == layout, source.dtype == dtype { return source.name }
        let key = ViewKey(value: value, layout: layout, dtype: dtype)
        if let view = views[key] { return view }
        var name = source.name
        if source.layout != layout {
            guard let rank = source.rank, rank > 2 else { throw ModelError("cannot change the layout of a tensor of rank \(source.rank.map(String.init) ?? "unknown")") }
            let permutation = layout == .channelsFirst ? ChannelPermutation.toFirst(rank: rank) : ChannelPermutation.toLast(rank: rank)
            name = views[ViewKey(value: value, layout: layout, dtype: source.dtype)] ?? transpose(name, permutation)
            views[ViewKey(value: value, layout: layout, dtype: source.dtype)] = name
        }
        if source.dtype != dtype { name = cast(name, to: dtype) }
        views[key] = name
        return name
    }

    /// An optional input's name, nil when absent.
    mutating func optionalName(_ value: ValueID?, layout: Layout = .keras, dtype: DType = .float32) throws -> String? {
        try value.map { try name($0, layout: layout, dtype: dtype) }
    }

    /// Records what a node's output became.
    mutating func produce(_ value: ValueID, _ name: String, layout: Layout = .keras, dtype: DType = .float32, rank: Int? = nil) {
        produced[value] = ONNXValue(name: name, dtype: dtype, layout: layout, rank: rank ?? self.rank(of: value))
    }

    /// Records that `output` is `input` as translated (a BatchNormalization folded into the layer before it).
    mutating func alias(_ output: ValueID, to input: ValueID) throws { produced[output] = try producedValue(input) }

    /// Records that a node's output is absent (an optional mask the operation does not make): its readers
    /// see no value there.
    mutating func produceNothing(_ value: ValueID) { absent.insert(value) }

    /// The produced form of every value that was translated, for the graph's outputs.
    func translated(_ value: ValueID) -> ONNXValue? { produced[value] }

    // MARK: Common node shapes

    mutating func transpose(_ input: String, _ permutation: [Int]) -> String {
        builder.add1("Transpose", [input], [ONNXGraphBuilder.attribute("perm", ints: permutation)])
    }

    mutating func cast(_ input: String, to dtype: DType) -> String {
        builder.add1("Cast", [input], [ONNXGraphBuilder.attribute("to", int: dtype.onnx.rawValue)])
    }

    mutating func reshape(_ input: String, _ shape: [Int]) -> String {
        builder.add1("Reshape", [input, builder.int64s(shape)])
    }

    mutating func unsqueeze(_ input: String, axes: [Int]) -> String {
        builder.add1("Unsqueeze", [input, builder.int64s(axes)])
    }

    mutating func squeeze(_ input: String, axes: [Int]) -> String {
        builder.add1("Squeeze", [input, builder.int64s(axes)])
    }

    /// `Slice(input, starts, ends, axes)` with constant bounds.
    mutating func slice(_ input: String, starts: [Int], ends: [Int], axes: [Int], steps: [Int]? = nil) -> String {
        var inputs = [input, builder.int64s(starts), builder.int64s(ends), builder.int64s(axes)]
        if let steps { inputs.append(builder.int64s(steps)) }
        return builder.add1("Slice", inputs)
    }

    /// A reduction over `axes`: the axes are an attribute before opset 18 (13 for ReduceSum), an input since.
    mutating func reduce(_ opType: String, _ input: String, axes: [Int], keepDims: Bool) -> String {
        let keep = ONNXGraphBuilder.attribute("keepdims", int: keepDims ? 1 : 0)
        let axesAsInput = opType == "ReduceSum" ? opset >= 13 : opset >= 18
        if axesAsInput { return builder.add1(opType, [input, builder.int64s(axes)], [keep]) }
        return builder.add1(opType, [input], [ONNXGraphBuilder.attribute("axes", ints: axes), keep])
    }

    /// The layer name in an origin such as `layer 'dense_1' (Dense)`, for node names.
    static func scopeName(_ origin: String) -> String {
        guard let open = origin.firstIndex(of: "'"), let close = origin[origin.index(after: open)...].firstIndex(of: "'") else { return origin }
        return String(origin[origin.index(after: open) ..< close])
    }

    // MARK: Which nodes to translate

    /// The nodes some graph output depends on. A merge's mask inputs count only when its mask is read.
    private func neededNodes() -> (nodes: [Bool], values: Set<ValueID>) {
        var neededValues = Set(graph.outputs)
        var needed = Array(repeating: false, count: graph.nodes.count)
        for (index, node) in graph.nodes.enumerated().reversed() {
            let wanted = node.outputs.indices.filter { neededValues.contains(node.outputs[$0]) }
            guard !wanted.isEmpty else { continue }
            needed[index] = true
            for input in Self.inputsRead(by: node, forOutputs: wanted) { neededValues.insert(input) }
        }
        return (needed, neededValues)
    }

    /// The inputs `node` reads to compute the outputs at `wanted`.
    static func inputsRead(by node: GraphNode, forOutputs wanted: [Int]) -> [ValueID] {
        let tensorsOnly: Bool
        switch node.op {
        case .merge, .concatenate, .dot: tensorsOnly = !wanted.contains { $0 >= node.outputs.count / 2 }
        default: tensorsOnly = false
        }
        let inputs = tensorsOnly ? Array(node.inputs.prefix(node.inputs.count / 2)) : node.inputs
        return inputs.compactMap { $0 }
    }
}
