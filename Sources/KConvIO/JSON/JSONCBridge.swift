// The only code that touches json-c: parse text into a json-c tree, copy it into `JSONValue` at
// once and free the tree; and build a json-c tree from a `JSONValue` to serialise it.
import CJSONC

/// A document that is not valid JSON (Python's dialect, with `NaN`/`Infinity`).
package struct JSONError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, from json-c (`json_tokener_error_desc`) or kconv.
    package let message: String
    /// Byte offset into the input where parsing stopped.
    package let offset: Int
    /// 1-based line and column (in bytes) of `offset`.
    package let line: Int
    package let column: Int

    package var description: String { "invalid JSON at line \(line), column \(column): \(message)" }

    package init(_ message: String, offset: Int, in bytes: [UInt8]) {
        self.message = message
        self.offset = offset
        let before = bytes.prefix(offset)
        line = before.count { $0 == UInt8(ascii: "\n") } + 1
        column = offset - (before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0) + 1
    }
}

extension JSONValue {
    /// Deepest nesting of arrays and objects accepted. json-c's default (32) rejects real Keras
    /// configs (nested models, wrappers, Keras 3 tensor descriptions); a bound is still needed so a
    /// hostile file cannot exhaust the stack in the conversion below.
    package static let maximumNestingDepth = 512

    /// Parses a complete JSON document. Accepts exactly one value surrounded by optional whitespace
    /// (so `""` and trailing garbage are errors), in json-c's strict mode: standard JSON plus
    /// Python's `NaN`, `Infinity`, `-Infinity` (and, json-c being lenient there, single-quoted strings).
    /// Integers that do not fit `Int64` (Python ints are unbounded) become `.double`, rounded.
    package static func parse(_ text: String) throws -> JSONValue {
        try parse(utf8: Array(text.utf8))
    }

    /// Parses a complete JSON document from UTF-8 bytes; see `parse(_:)`.
    package static func parse(utf8 input: [UInt8]) throws -> JSONValue {
        if let nul = input.firstIndex(of: 0) {
            throw JSONError("unexpected NUL byte", offset: nul, in: input)
        }
        guard input.count < Int(Int32.max) - 1 else {
            throw JSONError("document larger than 2 GiB", offset: 0, in: input)
        }
        let (bytes, insertions) = widenOversizedIntegers(input)
        // An offset in `bytes` as an offset in `input`: each insertion before it added 2 bytes.
        func inputOffset(_ offset: Int) -> Int { offset - 2 * insertions.count { $0 < offset } }

        guard let tokener = json_tokener_new_ex(Int32(maximumNestingDepth)) else {
            throw JSONError("out of memory", offset: 0, in: input)
        }
        defer { json_tokener_free(tokener) }
        // Strict: no comments, trailing commas or trailing characters; json-c still accepts NaN
        // and ±Infinity in this mode.
        json_tokener_set_flags(tokener, JSON_TOKENER_STRICT)
        // The terminating NUL is passed too, so that a number at the very end is complete.
        let tree = (bytes + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { json_tokener_parse_ex(tokener, $0.baseAddress, Int32($0.count)) }
        }
        defer { json_object_put(tree) }
        let end = min(json_tokener_get_parse_end(tokener), bytes.count)
        let status = json_tokener_get_error(tokener)
        guard status == json_tokener_success else {
            throw JSONError(String(cString: json_tokener_error_desc(status)), offset: inputOffset(end), in: input)
        }
        if let garbage = bytes[end...].firstIndex(where: { !isJSONWhitespace($0) }) {
            throw JSONError("unexpected characters after the JSON value", offset: inputOffset(garbage), in: input)
        }
        return try JSONValue(copying: tree, depth: 0)
    }

    /// Copies a json-c value (NULL is JSON null). Recursion depth is bounded by json-c's nesting
    /// limit; the explicit check keeps that bound here too.
    private init(copying object: OpaquePointer?, depth: Int) throws {
        guard depth <= JSONValue.maximumNestingDepth else {
            throw JSONError("nesting deeper than \(JSONValue.maximumNestingDepth) levels", offset: 0, in: [])
        }
        guard let object else {
            self = .null
            return
        }
        switch json_object_get_type(object) {
        case json_type_boolean:
            self = .bool(json_object_get_boolean(object) != 0)
        case json_type_double:
            self = .double(json_object_get_double(object))
        case json_type_int:
            // json-c keeps 0...UInt64.max; widenOversizedIntegers already made anything past
            // Int64.max a double, this is a backstop.
            let value = json_object_get_int64(object)
            let unsigned = json_object_get_uint64(object)
            self = value == .max && unsigned > UInt64(Int64.max) ? .double(Double(unsigned)) : .int(value)
        case json_type_string:
            let length = Int(json_object_get_string_len(object))
            let bytes = UnsafeRawBufferPointer(start: json_object_get_string(object), count: length)
            self = .string(String(decoding: bytes, as: UTF8.self))  // length-based: keeps "\u0000"
        case json_type_array:
            let count = json_object_array_length(object)
            self = .array(try (0..<count).map { try JSONValue(copying: json_object_array_get_idx(object, $0), depth: depth + 1) })
        case json_type_object:
            var members = JSONObject()
            var iterator = json_object_iter_begin(object)
            var end = json_object_iter_end(object)
            while json_object_iter_equal(&iterator, &end) == 0 {
                if let name = json_object_iter_peek_name(&iterator) {
                    members[String(cString: name)] = try JSONValue(copying: json_object_iter_peek_value(&iterator), depth: depth + 1)
                }
                json_object_iter_next(&iterator)
            }
            self = .object(members)
        default:
            self = .null
        }
    }

    /// The document as text, via json-c. `pretty` indents with two spaces. Doubles are written in
    /// Python's style: shortest round-trip digits with a decimal point kept (`1.0`, `1e-07`), bare
    /// `NaN`/`Infinity`/`-Infinity`; "/" is not escaped; non-ASCII is written as raw UTF-8.
    package func serialized(pretty: Bool = false) -> String {
        let tree = makeTree()
        defer { json_object_put(tree) }
        let flags = (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN)
            | JSON_C_TO_STRING_NOSLASHESCAPE
        guard let text = json_object_to_json_string_ext(tree, Int32(flags)) else { return "null" }
        return String(cString: text)
    }

    /// A new json-c tree (owned by the caller; NULL for null). Containers take ownership of children.
    private func makeTree() -> OpaquePointer? {
        switch self {
        case .null:
            return nil
        case .bool(let value):
            return json_object_new_boolean(value ? 1 : 0)
        case .int(let value):
            return json_object_new_int64(value)
        case .double(let value):
            // json-c's own formatting is "%.17g" (0.1 → 0.10000000000000001); give it the text.
            return json_object_new_double_s(value, pythonRepresentation(value))
        case .string(let value):
            // Length-based, so an embedded NUL survives (json-c writes it as \u0000).
            return json_object_new_string_len(value, Int32(value.utf8.count))
        case .array(let elements):
            let array = json_object_new_array()
            for element in elements { json_object_array_add(array, element.makeTree()) }
            return array
        case .object(let members):
            let object = json_object_new_object()
            for (key, value) in members { json_object_object_add(object, key, value.makeTree()) }
            return object
        }
    }
}

/// How Python's `json.dumps` writes a float: `repr` digits, `NaN`, `Infinity`, `-Infinity`.
/// Swift's `description` is also shortest-round-trip and keeps `.0` on integral values; it may
/// choose exponent notation at different magnitudes than Python, which reads back identically.
private func pythonRepresentation(_ value: Double) -> String {
    if value.isNaN { return "NaN" }
    if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
    return value.description
}

private func isJSONWhitespace(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\t")
}

private func isFractionOrExponentStart(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
}

private func isNumberByte(_ byte: UInt8) -> Bool {
    (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || isFractionOrExponentStart(byte)
        || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
}

/// json-c 0.16 silently clamps integer literals beyond Int64/UInt64 to the nearest bound, and keeps
/// values above Int64.max as unsigned. Python ints are unbounded, so before parsing, every integer
/// literal outside Int64 gets ".0" appended and json-c reads it as a double (rounded to nearest).
/// Returns the new text and the offsets of the insertions (to map error positions back).
private func widenOversizedIntegers(_ input: [UInt8]) -> (bytes: [UInt8], insertions: [Int]) {
    func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
    var output: [UInt8] = []
    var insertions: [Int] = []
    var copied = 0  // input[..<copied] is already in output
    var index = 0
    while index < input.count {
        let byte = input[index]
        if byte == UInt8(ascii: "\"") {  // skip a string, with its escapes
            index += 1
            while index < input.count && input[index] != UInt8(ascii: "\"") {
                index += input[index] == UInt8(ascii: "\\") ? 2 : 1
            }
            index += 1
        } else if byte == UInt8(ascii: "-") || isDigit(byte) {
            let start = index
            index += 1
            while index < input.count && isDigit(input[index]) { index += 1 }
            let digitCount = index - start - (byte == UInt8(ascii: "-") ? 1 : 0)
            let isInteger = index == input.count || !isFractionOrExponentStart(input[index])
            // Int64 has 19 digits; anything shorter always fits.
            if isInteger && digitCount >= 19 && Int64(String(decoding: input[start..<index], as: UTF8.self)) == nil {
                output += input[copied..<index]
                insertions.append(output.count)
                output += [UInt8(ascii: "."), UInt8(ascii: "0")]
                copied = index
            }
            // Skip the rest of the number (fraction and exponent), so its digits are not rescanned.
            while index < input.count && isNumberByte(input[index]) { index += 1 }
        } else {
            index += 1
        }
    }
    guard !insertions.isEmpty else { return (input, []) }
    output += input[copied...]
    return (output, insertions)
}
