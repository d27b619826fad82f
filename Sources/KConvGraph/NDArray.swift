/// A dense n-dimensional array in C (row-major) order with its element type: what crosses the boundary of
/// a model (inputs, outputs, NumPy files) and what weights and constants hold. Integers stay exact at any
/// size; 16-bit floats are kept as their widened values with their dtype recorded.
package struct NDArray: Equatable, Sendable {
    package enum Storage: Equatable, Sendable {
        /// float16, bfloat16 and float32 values (widened exactly to Float).
        case float([Float])
        case double([Double])
        /// Every signed and unsigned integer type up to 32 bits, and int64/uint64 within Int64's range.
        case integer([Int64])
        case bool([Bool])
        case string([String])

        package var count: Int {
            switch self {
            case .float(let values): values.count
            case .double(let values): values.count
            case .integer(let values): values.count
            case .bool(let values): values.count
            case .string(let values): values.count
            }
        }
    }

    package let dtype: DType
    package let shape: [Int]
    package let storage: Storage

    /// An array over `storage`, which must hold exactly `shape`'s element count in the representation
    /// `dtype` uses, or nil.
    package init?(dtype: DType, shape: [Int], storage: Storage) {
        guard let count = checkedElementCount(shape), count == storage.count, Self.represents(dtype, storage) else { return nil }
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
    }

    /// A float32 array.
    package init(shape: [Int], floats: [Float]) {
        precondition(checkedElementCount(shape) == floats.count, "shape \(shape) does not match \(floats.count) values")
        dtype = .float32
        self.shape = shape
        storage = .float(floats)
    }

    package var count: Int { storage.count }

    /// The values as Float32, the engine's compute type (integers beyond 2²⁴ round; strings are nil).
    package var floats: [Float]? {
        switch storage {
        case .float(let values): values
        case .double(let values): values.map(Float.init)
        case .integer(let values): values.map(Float.init)
        case .bool(let values): values.map { $0 ? 1 : 0 }
        case .string: nil
        }
    }

    /// The values as exact integers: integer and bool arrays, and float arrays whose every value is whole.
    package var integers: [Int64]? {
        switch storage {
        case .integer(let values): return values
        case .bool(let values): return values.map { $0 ? 1 : 0 }
        case .float(let values):
            guard values.allSatisfy({ $0.rounded(.towardZero) == $0 && abs($0) < 0x1p63 }) else { return nil }
            return values.map { Int64($0) }
        case .double(let values):
            guard values.allSatisfy({ $0.rounded(.towardZero) == $0 && abs($0) < 0x1p63 }) else { return nil }
            return values.map { Int64($0) }
        case .string: return nil
        }
    }

    private static func represents(_ dtype: DType, _ storage: Storage) -> Bool {
        switch storage {
        case .float: [.float16, .bfloat16, .float32].contains(dtype)
        case .double: dtype == .float64
        case .integer: dtype.isInteger
        case .bool: dtype == .bool
        case .string: dtype == .string
        }
    }
}

/// The element count of a shape, or nil for a negative dimension or a product past `Int.max`.
package func checkedElementCount(_ shape: [Int]) -> Int? {
    var total = 1
    for dim in shape {
        guard dim >= 0 else { return nil }
        let (product, overflow) = total.multipliedReportingOverflow(by: dim)
        if overflow { return nil }
        total = product
    }
    return total
}
