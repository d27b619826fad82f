import Foundation

/// A dimension of a value's shape: a size, or a name for a size known only at run time (`batch`, `time`).
package enum Dim: Hashable, Sendable, CustomStringConvertible {
    case size(Int)
    case symbol(String)

    package var description: String {
        switch self {
        case .size(let size): String(size)
        case .symbol(let name): name
        }
    }
}

/// What a graph value holds: its element type and its shape, where known. Masks are bool values.
package struct ValueType: Hashable, Sendable {
    package var dtype: DType
    /// nil when the shape cannot be known before running (downstream of a layer kconv cannot compute).
    package var shape: [Dim]?

    package init(dtype: DType, shape: [Dim]?) {
        self.dtype = dtype
        self.shape = shape
    }
}

/// One value of a graph: produced by a node, fed as a model input, or a constant.
package struct ValueID: Hashable, Sendable, Comparable {
    package let index: Int
    package static func < (a: ValueID, b: ValueID) -> Bool { a.index < b.index }
}

/// A weight a graph reads: its values are read when a plan is built, never while building the graph.
package struct Constant {
    /// The layer that owns it and its name there, for messages.
    package let origin: String
    package let name: String
    package let shape: [Int]
    package let read: () throws -> [Float]
    /// Its values' little-endian float32 bytes where they lie in the source file, when they can be lent from there
    /// (a writer copies them on without an array of its own); nil when not.
    package let lentBytes: () throws -> Data?

    package init(origin: String, name: String, shape: [Int], read: @escaping () throws -> [Float],
                 lentBytes: @escaping () throws -> Data? = { nil }) {
        self.origin = origin
        self.name = name
        self.shape = shape
        self.read = read
        self.lentBytes = lentBytes
    }

    /// Calls `body` with the values, lent where they lie in the source file when they can be, else read.
    package func withValues<T>(_ body: (UnsafeBufferPointer<Float>) throws -> T) throws -> T {
        try withFloats(lent: lentBytes, read: read, body)
    }
}

/// Calls `body` with floats lent as little-endian float32 bytes when `lent` gives them, else as `read` gives them.
package func withFloats<T>(lent: () throws -> Data?, read: () throws -> [Float], _ body: (UnsafeBufferPointer<Float>) throws -> T) throws -> T {
    if let bytes = try lent() {
        return try bytes.withUnsafeBytes { try body($0.bindMemory(to: Float.self)) }
    }
    return try read().withUnsafeBufferPointer(body)
}

/// One operation of a graph: what it computes, which values it reads (nil: an optional input left out, such
/// as an absent mask) and which it produces, and the Keras layer call it came from.
package struct GraphNode {
    package var op: Op
    package var inputs: [ValueID?]
    package var outputs: [ValueID]
    /// `layer 'dense' (Dense)`, for messages.
    package var origin: String
}

/// A model lowered to operations on typed values: the form the engine plans and runs, and the ONNX writer
/// translates. Nodes are in a valid execution order; values are numbered as they are created.
package struct Graph {
    package private(set) var types: [ValueType] = []
    package private(set) var nodes: [GraphNode] = []
    package private(set) var constants: [ValueID: Constant] = [:]
    package var inputs: [ValueID] = []
    package var outputs: [ValueID] = []

    package init() {}

    /// A new value of `type`, not yet produced by anything.
    package mutating func newValue(_ type: ValueType) -> ValueID {
        types.append(type)
        return ValueID(index: types.count - 1)
    }

    package mutating func constant(_ constant: Constant) -> ValueID {
        let id = newValue(ValueType(dtype: .float32, shape: constant.shape.map(Dim.size)))
        constants[id] = constant
        return id
    }

    /// Adds `op` reading `inputs`; returns the values it produces, one per type in `outputs`.
    @discardableResult
    package mutating func add(_ op: Op, inputs: [ValueID?], outputs: [ValueType], origin: String) -> [ValueID] {
        let ids = outputs.map { newValue($0) }
        nodes.append(GraphNode(op: op, inputs: inputs, outputs: ids, origin: origin))
        return ids
    }

    package func type(of value: ValueID) -> ValueType { types[value.index] }
}

extension Graph {
    /// Whether `other` computes exactly what this graph computes, so the two give equal outputs on any input
    /// without running either: the same value types, inputs and outputs, the same ops with equal attributes
    /// wired alike (origins, which only name layers, aside), and constants of the same shapes whose values
    /// are bit-identical. The structure is compared first; constants are read only when it matches.
    package func computesTheSame(as other: Graph) throws -> Bool {
        guard types == other.types, inputs == other.inputs, outputs == other.outputs, nodes.count == other.nodes.count,
              zip(nodes, other.nodes).allSatisfy({ $0.op == $1.op && $0.inputs == $1.inputs && $0.outputs == $1.outputs }),
              Set(constants.keys) == Set(other.constants.keys),
              constants.allSatisfy({ id, constant in other.constants[id]?.shape == constant.shape })
        else { return false }
        for (id, constant) in constants {
            guard let theirs = other.constants[id],
                  try constant.withValues({ mine in try theirs.withValues { bitIdentical(mine, $0) } }) else { return false }
        }
        return true
    }
}

/// Whether two arrays hold the same float bit patterns (NaNs and signed zeros included).
package func bitIdentical(_ a: [Float], _ b: [Float]) -> Bool {
    a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { bitIdentical(a, $0) } }
}

/// Whether two buffers hold the same float bit patterns. The words' differences are ORed a block at a time,
/// which vectorises, where comparing float by float did not.
package func bitIdentical(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Bool {
    guard a.count == b.count else { return false }
    return a.withMemoryRebound(to: UInt32.self) { a in
        b.withMemoryRebound(to: UInt32.self) { b in
            stride(from: 0, to: a.count, by: 4096).allSatisfy { start in
                var difference: UInt32 = 0
                for index in start ..< min(start + 4096, a.count) { difference |= a[index] ^ b[index] }
                return difference == 0
            }
        }
    }
}
