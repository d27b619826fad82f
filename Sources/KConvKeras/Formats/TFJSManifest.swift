import KConvGraph
import Foundation
import KConvIO

/// The `weightsManifest` of a TensorFlow.js model.json, checked against the shard files it lists before
/// any weight is read.
///
/// Each group lists its shard files (`paths`, relative to the model.json) and its weights; a group's
/// weights are stored back to back in its shards taken as one byte stream (tfjs-core `decodeWeights`).
/// tensorflowjs 4.x writes one group; older converters, and `--split_weights_by_layer`, one per layer.
/// Every size is checked against the files' real sizes, so a hostile manifest cannot make kconv allocate
/// more than the shards hold.
package struct TFJSManifest {
    /// How one weight's values are stored.
    package enum Encoding {
        case float32
        /// Rounded to Float32 when read, as kconv keeps every weight.
        case int32
        /// `q · scale + min` with `q` a uint8 or uint16 (tensorflowjs `--quantize_uint8/16`); rounded
        /// (`Math.round`) when the weight is int32.
        case affine(TFJSLayout.ElementType, min: Double, scale: Double, rounded: Bool)
        /// IEEE half precision (`--quantize_float16`).
        case float16

        package var stored: TFJSLayout.ElementType {
            switch self {
            case .float32: .float32
            case .int32: .int32
            case .affine(let type, _, _, _): type
            case .float16: .float16
            }
        }
    }

    package struct Entry {
        package let name: String
        package let shape: [Int]
        package let encoding: Encoding
        /// `"group": "optimizer"`: optimizer state, which tfjs-layers gives to the optimizer, not the model.
        package let isOptimizerState: Bool
        /// Where the manifest lists it: `weightsManifest[0].weights[3]`.
        package let field: String
        package let group: Int
        /// Bytes from the start of its group's stream.
        package let offset: Int
        package let byteCount: Int
    }

    /// One group's shard files, in stream order, each checked to be a regular file inside the model's folder.
    package struct ShardGroup {
        package let files: [ContainedFile]
    }

    package let entries: [Entry]
    package let groups: [ShardGroup]

    /// Every shard file, in manifest order.
    package var shardPaths: [String] { groups.flatMap { $0.files.map(\.path) } }

    package init(_ manifest: JSONValue, directory: URL) throws {
        guard let groupValues = manifest.arrayValue else {
            throw ModelError(field: "weightsManifest", "expected a list of weight groups, found \(ConfigReader.describe(manifest))")
        }
        var entries: [Entry] = []
        var groups: [ShardGroup] = []
        for (groupIndex, group) in groupValues.enumerated() {
            let field = "weightsManifest[\(groupIndex)]"
            guard group.objectValue != nil, let paths = group["paths"]?.arrayValue, let weights = group["weights"]?.arrayValue else {
                throw ModelError(field: field, "expected an object with lists 'paths' and 'weights', found \(ConfigReader.describe(group))")
            }
            let files = try paths.enumerated().map { index, path in
                try Self.shardFile(path, directory: directory, field: "\(field).paths[\(index)]")
            }
            var offset = 0
            for (index, weight) in weights.enumerated() {
                let entry = try Self.entry(weight, field: "\(field).weights[\(index)]", group: groupIndex, offset: offset)
                entries.append(entry)
                offset = entry.offset + entry.byteCount
            }
            let stored = files.reduce(0) { $0 + $1.size }
            guard stored == offset else {
                let listed = files.map { "\(URL(fileURLWithPath: $0.path).lastPathComponent) (\($0.size) bytes)" }.joined(separator: ", ")
                throw ModelError(field: "\(field).paths", stored < offset
                    ? "the shards hold \(stored) bytes but the weights listed need \(offset): a shard is truncated or missing [\(listed)]"
                    : "the shards hold \(stored) bytes, more than the \(offset) the weights listed need: the manifest does not describe these files [\(listed)]")
            }
            groups.append(ShardGroup(files: files))
        }
        self.entries = entries
        self.groups = groups
    }

    /// A shard named relative to the model.json's directory: a regular file inside it, reached without following
    /// a symbolic link (`ContainedFile`), so a manifest cannot make kconv read another file or block on a FIFO.
    private static func shardFile(_ value: JSONValue, directory: URL, field: String) throws -> ContainedFile {
        guard let name = value.stringValue, !name.isEmpty else {
            throw ModelError(field: field, "expected a shard file name, found \(ConfigReader.describe(value))")
        }
        guard !name.hasPrefix("/"), !name.contains("://"), !name.split(separator: "/").contains("..") else {
            throw ModelError(field: field, "expected a file name relative to the model.json's directory, found '\(name)'")
        }
        do {
            return try ContainedFile(name, in: directory.path)
        } catch {
            let path = directory.appendingPathComponent(name).path
            if error.message == "no such file" {
                throw ModelError(field: field, "no shard file '\(name)' beside the model.json (looked for \(path))")
            }
            throw ModelError(field: field, "shard '\(name)': \(error.message)")
        }
    }

    /// One `{"name", "shape", "dtype", "quantization"?, "group"?}` entry.
    private static func entry(_ value: JSONValue, field: String, group: Int, offset: Int) throws -> Entry {
        guard let name = value["name"]?.stringValue else {
            throw ModelError(field: field, "expected an object with a string 'name', found \(ConfigReader.describe(value))")
        }
        let label = "\(field) '\(name)'"
        guard let dims = value["shape"]?.arrayValue, case let shape = dims.compactMap(\.intValue), shape.count == dims.count,
              let count = checkedElementCount(shape), count <= largestTensor else {
            throw ModelError(field: label, "expected a shape of non-negative integers, found \(value["shape"].map(ConfigReader.describe) ?? "none")")
        }
        let encoding = try Self.encoding(value, field: label)
        let (byteCount, tooLarge) = count.multipliedReportingOverflow(by: encoding.stored.size)
        guard !tooLarge, !offset.addingReportingOverflow(byteCount).overflow else {
            throw ModelError(field: label, "shape \(shape) is too large")
        }
        return Entry(name: name, shape: shape, encoding: encoding, isOptimizerState: value["group"]?.stringValue == "optimizer",
                     field: field, group: group, offset: offset, byteCount: byteCount)
    }

    /// The storage of a weight from its `dtype` and `quantization`, as tfjs-core's `decodeWeights` accepts them.
    private static func encoding(_ value: JSONValue, field: String) throws -> Encoding {
        let dtype = value["dtype"]?.stringValue ?? "none"
        guard dtype == "float32" || dtype == "int32" else {
            throw ModelError(field: field, "dtype '\(dtype)' is not a weight type kconv reads: expected float32 or int32 (optionally quantized)")
        }
        guard let quantization = value["quantization"], !quantization.isNull else {
            return dtype == "float32" ? .float32 : .int32
        }
        switch quantization["dtype"]?.stringValue {
        case "uint8", "uint16":
            guard let min = quantization["min"]?.doubleValue, let scale = quantization["scale"]?.doubleValue, min.isFinite, scale.isFinite else {
                throw ModelError(field: "\(field).quantization", "expected numbers 'min' and 'scale', found \(ConfigReader.describe(quantization))")
            }
            let type: TFJSLayout.ElementType = quantization["dtype"]?.stringValue == "uint8" ? .uint8 : .uint16
            return .affine(type, min: min, scale: scale, rounded: dtype == "int32")
        case "float16":
            guard dtype == "float32" else {
                throw ModelError(field: "\(field).quantization", "float16 quantization applies to float32 weights, found dtype \(dtype)")
            }
            return .float16
        default:
            throw ModelError(field: "\(field).quantization", "expected dtype uint8, uint16 or float16, found \(ConfigReader.describe(quantization["dtype"] ?? .null))")
        }
    }

    // MARK: Reading values

    /// The weight array of an entry, read from its shards when asked for.
    package func array(_ entry: Entry) -> WeightArray {
        let group = groups[entry.group]
        return WeightArray(name: entry.name, shape: entry.shape) {
            let bytes = try group.read(offset: entry.offset, count: entry.byteCount, weight: entry.name)
            return Self.decode(bytes, entry.encoding)
        }
    }

    /// Values from little-endian bytes already checked to hold a whole number of elements.
    package static func decode(_ bytes: [UInt8], _ encoding: Encoding) -> [Float] {
        let size = encoding.stored.size
        let count = bytes.count / size
        func word(_ index: Int) -> UInt32 {
            var value: UInt32 = 0
            for byte in (0..<size).reversed() { value = value << 8 | UInt32(bytes[index * size + byte]) }
            return value
        }
        switch encoding {
        case .float32: return (0..<count).map { Float(bitPattern: word($0)) }
        case .int32: return (0..<count).map { Float(Int32(bitPattern: word($0))) }
        case .float16: return (0..<count).map { floatFromHalf(UInt16(truncatingIfNeeded: word($0))) }
        case let .affine(_, min, scale, rounded):
            // tfjs computes in float64 and stores into a Float32Array (or, rounded, an Int32Array).
            return (0..<count).map {
                let value = Double(word($0)) * scale + min
                return Float(rounded ? (value + 0.5).rounded(.down) : value)
            }
        }
    }

    /// IEEE 754 binary16 to Float32, exactly (every half is a float).
    package static func floatFromHalf(_ bits: UInt16) -> Float {
        let sign: Float = bits & 0x8000 == 0 ? 1 : -1
        let exponent = Int(bits >> 10 & 0x1f)
        let fraction = UInt32(bits & 0x3ff)
        switch exponent {
        case 0: return sign * Float(fraction) * 0x1p-24
        case 0x1f: return fraction == 0 ? sign * .infinity : .nan
        default:
            return Float(bitPattern: UInt32(bits & 0x8000) << 16 | UInt32(exponent + 112) << 23 | fraction << 13)
        }
    }
}

extension TFJSManifest.ShardGroup {
    /// `count` bytes of the group's stream from `offset`, reading only the shards that hold them.
    package func read(offset: Int, count: Int, weight: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        var start = 0
        for file in files where bytes.count < count {
            defer { start += file.size }
            let from = offset + bytes.count
            guard from < start + file.size else { continue }
            let wanted = Swift.min(count - bytes.count, start + file.size - from)
            do {
                bytes += try file.read(offset: from - start, count: wanted)
            } catch {
                throw ModelError(file: file.path, field: "weight '\(weight)'", error.message)
            }
        }
        guard bytes.count == count else {
            throw ModelError(field: "weight '\(weight)'", "expected \(count) bytes from the shards, found \(bytes.count)")
        }
        return bytes
    }
}
