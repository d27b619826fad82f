import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

@Suite struct JSONTests {
    @Test func nanAndInfinityRoundTrip() throws {
        let value = try JSONValue.parse("[NaN, Infinity, -Infinity]")
        let numbers = try #require(value.arrayValue).compactMap { $0.doubleValue }
        #expect(numbers.count == 3)
        #expect(numbers[0].isNaN)
        #expect(numbers[1] == .infinity)
        #expect(numbers[2] == -.infinity)
        #expect(value.serialized() == "[NaN,Infinity,-Infinity]")
        #expect(try JSONValue.parse(value.serialized()) == value)  // NaN equals NaN structurally
    }

    @Test(arguments: [
        ("1.0", JSONValue.double(1)),
        ("1", .int(1)),
        ("-0.0", .double(-0.0)),
        ("0.1", .double(0.1)),
        ("1e-07", .double(1e-7)),
        ("2.5e+20", .double(2.5e20)),
        ("100.0", .double(100)),
        ("-3", .int(-3)),
    ])
    func numbersKeepTheirKind(text: String, expected: JSONValue) throws {
        let value = try JSONValue.parse(text)
        #expect(value == expected)
        #expect(value.serialized() == text)
    }

    @Test func intAndDoubleAreDistinct() throws {
        #expect(JSONValue.int(1) != .double(1))
        #expect(try JSONValue.parse("[1, 1.0]") == [1, 1.0])
        #expect(JSONValue.double(2).intValue == 2)
        #expect(JSONValue.double(2.5).intValue == nil)
        #expect(JSONValue.int(3).doubleValue == 3)
        #expect(JSONValue.string("3").intValue == nil)
    }

    @Test func keyOrderIsPreserved() throws {
        let text = #"{"zeta":1,"alpha":{"y":true,"b":null,"x":[]},"mid":"m"}"#
        let value = try JSONValue.parse(text)
        #expect(value.objectValue?.keys == ["zeta", "alpha", "mid"])
        #expect(value["alpha"]?.objectValue?.keys == ["y", "b", "x"])
        #expect(value["alpha"]?["b"]?.isNull == true)
        #expect(value.serialized() == text)
        #expect(value.objectValue?.map(\.key) == ["zeta", "alpha", "mid"])
    }

    @Test func objectEditing() {
        var object: JSONObject = ["a": 1, "b": 2]
        object["c"] = 3            // new key appends
        object["a"] = "first"      // existing key keeps its place
        object["b"] = nil          // nil removes
        #expect(object.keys == ["a", "c"])
        #expect(object.count == 2)
        #expect(object["a"] == "first")
        #expect(JSONValue.object(object).serialized() == #"{"a":"first","c":3}"#)
        // Equality ignores order; keys keep it.
        let reordered: JSONObject = ["c": 3, "a": "first"]
        #expect(object == reordered)
        #expect(object.keys != reordered.keys)
        #expect(JSONObject([("k", 1), ("j", 2), ("k", 3)]).map(\.key) == ["k", "j"])
    }

    @Test func unicodeAndEscapes() throws {
        let value = try JSONValue.parse(#""\u00e9\ud83d\ude00 raw é, \"q\" \\ /slash\/ \n\t\u0001 \u0000 end""#)
        #expect(value == .string("é😀 raw é, \"q\" \\ /slash/ \n\t\u{01} \u{00} end"))
        let text = value.serialized()
        #expect(!text.contains(#"\/"#))        // "/" is not escaped
        #expect(try JSONValue.parse(text) == value)
        #expect(JSONValue.string("a/b").serialized() == #""a/b""#)
        #expect(JSONValue.object(["ключ": "值"]).serialized() == #"{"ключ":"值"}"#)  // raw UTF-8, not \u escapes
        #expect(try JSONValue.parse(JSONValue.object(["ключ": "值"]).serialized())["ключ"] == "值")
    }

    @Test func bigIntegers() throws {
        #expect(try JSONValue.parse("9223372036854775807") == .int(.max))
        #expect(try JSONValue.parse("-9223372036854775808") == .int(.min))
        // Beyond Int64 (Python ints are unbounded): doubles, rounded to nearest, never clamped.
        #expect(try JSONValue.parse("9223372036854775808") == .double(9223372036854775808))
        #expect(try JSONValue.parse("18446744073709551616") == .double(18446744073709551616))
        #expect(try JSONValue.parse("-9223372036854775809") == .double(-9.223372036854775808e18))
        #expect(try JSONValue.parse("123456789012345678901234567890") == .double(1.2345678901234568e29))
        #expect(try JSONValue.parse(#"{"n":[99999999999999999999,1.5e300,"12345678901234567890123"]}"#)
            == ["n": [.double(1e20), 1.5e300, "12345678901234567890123"]])
        // Positions in errors after a widened integer still refer to the original text.
        let error = try #require(throws: JSONError.self) { try JSONValue.parse("[99999999999999999999, x]") }
        #expect(error.column == 24)
    }

    @Test func deepNestingIsAnErrorNotACrash() throws {
        let fine = String(repeating: "[", count: 400) + String(repeating: "]", count: 400)
        #expect(try JSONValue.parse(fine).arrayValue?.count == 1)
        for depth in [600, 100_000] {
            let hostile = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            let error = try #require(throws: JSONError.self) { try JSONValue.parse(hostile) }
            #expect(error.message.contains("too deep"))
        }
        let objects = String(repeating: #"{"a":"#, count: 1000) + "1" + String(repeating: "}", count: 1000)
        #expect(throws: JSONError.self) { try JSONValue.parse(objects) }
    }

    @Test(arguments: [
        ("", 1, 1),
        ("   ", 1, 4),
        ("{not json", 1, 2),
        ("{} x", 1, 4),
        ("1 2", 1, 3),
        ("[1,\n 2,\n x]", 3, 2),
        ("[1,]", 1, 4),
        ("nul", 1, 4),
        ("[1]\u{0}", 1, 4),
    ])
    func malformedInputIsAnError(text: String, line: Int, column: Int) throws {
        let error = try #require(throws: JSONError.self) { try JSONValue.parse(text) }
        #expect(!error.message.isEmpty)
        #expect(error.line == line)
        #expect(error.column == column)
        #expect(error.description.hasPrefix("invalid JSON at line \(line), column \(column): "))
    }

    @Test func prettyOutputParsesBack() throws {
        let value: JSONValue = ["class_name": "Dense", "config": ["units": 8, "use_bias": true, "rate": 0.5, "shape": [nil, 8]]]
        let pretty = value.serialized(pretty: true)
        #expect(pretty.contains("\n"))
        #expect(pretty.contains(#""units": 8"#))
        #expect(try JSONValue.parse(pretty) == value)
        #expect(value.serialized() == #"{"class_name":"Dense","config":{"units":8,"use_bias":true,"rate":0.5,"shape":[null,8]}}"#)
    }

    @Test func accessorsReturnNilOnMismatch() {
        let value: JSONValue = ["s": "x", "b": false, "a": [1], "n": nil]
        #expect(value["s"]?.stringValue == "x")
        #expect(value["b"]?.boolValue == false)
        #expect(value["a"]?.arrayValue == [1])
        #expect(value["n"]?.isNull == true)
        #expect(value["missing"] == nil)
        #expect(value["s"]?.intValue == nil)
        #expect(value["s"]?.boolValue == nil)
        #expect(value.stringValue == nil)
        #expect(JSONValue.array([1])["s"] == nil)
        #expect(value.objectValue?.count == 4)
    }
}
