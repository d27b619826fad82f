/// An element type, as Keras configs, NumPy headers, HDF5 datasets and ONNX tensors name them.
package enum DType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float16, bfloat16, float32, float64
    case int8, int16, int32, int64
    case uint8, uint16, uint32, uint64
    case bool, string

    /// Bytes per element (strings: none fixed).
    package var itemSize: Int {
        switch self {
        case .bool, .int8, .uint8: 1
        case .float16, .bfloat16, .int16, .uint16: 2
        case .float32, .int32, .uint32: 4
        case .float64, .int64, .uint64: 8
        case .string: 0
        }
    }

    package var isFloatingPoint: Bool { [.float16, .bfloat16, .float32, .float64].contains(self) }
    package var isInteger: Bool { [.int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64].contains(self) }

    /// A Keras dtype name or mixed-precision policy name: `"float32"`, `"int64"`, `"mixed_float16"` (whose
    /// variables are float32 and whose computations float16: the compute dtype is returned). `"float"` and
    /// `"double"` are the older spellings; nil for a name no Keras writes.
    package init?(kerasName name: String) {
        let compute = name.hasPrefix("mixed_") ? String(name.dropFirst(6)) : name
        switch compute {
        case "float", "float_": self = .float32
        case "double": self = .float64
        case "half": self = .float16
        default:
            guard let dtype = DType(rawValue: compute) else { return nil }
            self = dtype
        }
    }

    package var description: String { rawValue }
}
