import KConvGraph
import KConvIO
/// Typed, located access to one layer's `config` object.
///
/// Every failure names the field (`config.units`) and says what was expected and what was found,
/// so a bad file gives an error a user can act on instead of a crash.
package struct ConfigReader {
    package let object: JSONObject
    /// Dotted path of this object inside the layer config, for messages ("config", "config.layer.config").
    package let path: String

    package init(_ object: JSONObject, path: String = "config") {
        self.object = object
        self.path = path
    }

    package func has(_ key: String) -> Bool {
        if let value = object[key], !value.isNull { return true }
        return false
    }

    package func error(_ key: String, expected: String, found: JSONValue?) -> ModelError {
        ModelError(field: "\(path).\(key)", "expected \(expected), found \(found.map(Self.describe) ?? "nothing")")
    }

    package static func describe(_ value: JSONValue) -> String {
        let text = value.serialized()
        return text.count > 60 ? String(text.prefix(57)) + "..." : text
    }

    // MARK: Scalars

    package func int(_ key: String) throws -> Int {
        guard let value = object[key], let int = value.intValue else {
            throw error(key, expected: "an integer", found: object[key])
        }
        return int
    }

    package func int(_ key: String, default fallback: Int) throws -> Int {
        has(key) ? try int(key) : fallback
    }

    /// An int of at least 1.
    package func positiveInt(_ key: String, default fallback: Int) throws -> Int {
        let value = try int(key, default: fallback)
        guard value > 0 else { throw error(key, expected: "a positive integer", found: object[key]) }
        return value
    }

    package func optionalInt(_ key: String) throws -> Int? {
        has(key) ? try int(key) : nil
    }

    package func double(_ key: String, default fallback: Double) throws -> Double {
        guard has(key) else { return fallback }
        guard let double = object[key]?.doubleValue else {
            throw error(key, expected: "a number", found: object[key])
        }
        return double
    }

    package func optionalDouble(_ key: String) throws -> Double? {
        has(key) ? try double(key, default: 0) : nil
    }

    package func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard has(key) else { return fallback }
        guard let bool = object[key]?.boolValue else {
            throw error(key, expected: "true or false", found: object[key])
        }
        return bool
    }

    package func string(_ key: String) throws -> String {
        guard let string = object[key]?.stringValue else {
            throw error(key, expected: "a string", found: object[key])
        }
        return string
    }

    package func string(_ key: String, default fallback: String) throws -> String {
        has(key) ? try string(key) : fallback
    }

    /// A string that must be one of `choices`.
    package func choice(_ key: String, _ choices: [String], default fallback: String) throws -> String {
        let value = try string(key, default: fallback)
        guard choices.contains(value) else {
            throw error(key, expected: "one of " + choices.joined(separator: ", "), found: object[key])
        }
        return value
    }

    // MARK: Lists

    /// An int or a list of `count` ints (Keras accepts `kernel_size=3` and `kernel_size=(3, 3)`).
    package func ints(_ key: String, count: Int, default fallback: [Int]? = nil) throws -> [Int] {
        guard has(key), let value = object[key] else {
            if let fallback { return fallback }
            throw error(key, expected: "\(count) integers", found: nil)
        }
        if let single = value.intValue { return Array(repeating: single, count: count) }
        guard let items = value.arrayValue, items.count == count else {
            throw error(key, expected: "\(count) integers", found: value)
        }
        return try items.map { item in
            guard let int = item.intValue else { throw error(key, expected: "\(count) integers", found: value) }
            return int
        }
    }

    /// `ints`, each at least 1: window sizes, strides, dilation rates.
    package func positiveInts(_ key: String, count: Int, default fallback: [Int]? = nil) throws -> [Int] {
        let values = try ints(key, count: count, default: fallback)
        guard values.allSatisfy({ $0 > 0 }) else {
            throw error(key, expected: "\(count) positive integers", found: object[key])
        }
        return values
    }

    /// A list of ints of any length.
    package func intList(_ key: String) throws -> [Int] {
        guard let items = object[key]?.arrayValue else {
            throw error(key, expected: "a list of integers", found: object[key])
        }
        return try items.map { item in
            guard let int = item.intValue else { throw error(key, expected: "a list of integers", found: object[key]) }
            return int
        }
    }

    /// An int or a list of ints of any length (`axis`, `shared_axes`); absent or null means `fallback`.
    package func intOrList(_ key: String, default fallback: [Int]) throws -> [Int] {
        guard has(key), let value = object[key] else { return fallback }
        if let single = value.intValue { return [single] }
        return try intList(key)
    }

    /// A shape list whose entries are ints or null (`batch_input_shape`, `target_shape`).
    package func shape(_ key: String) throws -> TensorShape {
        guard let items = object[key]?.arrayValue else {
            throw error(key, expected: "a shape list", found: object[key])
        }
        return try items.map { item in
            if item.isNull { return nil }
            guard let dim = item.intValue, dim >= 0 else { throw error(key, expected: "a shape list", found: object[key]) }
            return dim
        }
    }

    package func optionalShape(_ key: String) throws -> TensorShape? {
        has(key) ? try shape(key) : nil
    }

    // MARK: Nested

    /// A nested object, e.g. a wrapper's `layer` entry.
    package func nested(_ key: String) throws -> JSONObject {
        guard let object = object[key]?.objectValue else {
            throw error(key, expected: "an object", found: object[key])
        }
        return object
    }

    package func optionalNested(_ key: String) throws -> JSONObject? {
        has(key) ? try nested(key) : nil
    }
}
