/// A JSON object that keeps its keys in insertion order, because Keras configs are ordered and
/// kconv writes them back in the order it read them.
package struct JSONObject: Sendable, Sequence {
    /// The keys, in insertion order.
    package private(set) var keys: [String] = []
    private var values: [String: JSONValue] = [:]

    package init() {}

    /// An object from `pairs` in order; a repeated key keeps its first position and its last value
    /// (what json-c does with a duplicate key in a document).
    package init(_ pairs: [(String, JSONValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    package var count: Int { keys.count }

    /// The member `key`. Setting a new key appends it; setting an existing key keeps its position;
    /// setting `nil` removes the key.
    package subscript(key: String) -> JSONValue? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    package struct Iterator: IteratorProtocol {
        private let object: JSONObject
        private var index = 0

        package init(_ object: JSONObject) { self.object = object }

        package mutating func next() -> (key: String, value: JSONValue)? {
            while index < object.keys.count {
                let key = object.keys[index]
                index += 1
                if let value = object.values[key] { return (key, value) }
            }
            return nil
        }
    }

    /// The members in insertion order.
    package func makeIterator() -> Iterator { Iterator(self) }
}

extension JSONObject: Equatable {
    /// Same members with equal values, in any order (see `JSONValue.==`).
    package static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.values == rhs.values
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    package init(dictionaryLiteral elements: (String, JSONValue)...) { self.init(elements) }
}
