import Foundation
import KConvGraph
import KConvIO
/// Text and JSON renderings of a `ModelSummary`.
extension ModelSummary {
    /// A summary a Keras user recognises: header, one row per layer (wrapped and nested layers indented
    /// under theirs), parameter totals, then the unsupported layers.
    package var text: String {
        var lines: [String] = []
        lines.append("File:     \(file)" + (weightsFile.map { " (weights: \($0))" } ?? ""))
        lines.append("Format:   \(format); weights: \(weightsLayout)")
        lines.append("Keras:    \(kerasVersion ?? "unknown version") (\(dialect))" + (backend.map { ", backend \($0)" } ?? ""))
        lines.append("Model:    \"\(modelName)\" (\(modelClass)" + (subclassed == nil ? ")" : ", a subclassed model)"))
        if let subclassed { lines.append("Arguments: " + Self.arguments(subclassed.arguments)) }
        for input in inputs { lines.append("Input:    \(input.name) \(Self.describe(input.shape)) \(input.dtype)") }
        for output in outputs { lines.append("Output:   \(output.name) \(Self.describe(output.shape))") }
        lines.append("")

        let showConnections = modelClass != "Sequential"
        var table: [[Cell]] = [[Cell("Layer (type)"), Cell("Output Shape"), Cell("Param #")] + (showConnections ? [Cell("Connected to")] : [])]
        func add(_ row: Row, depth: Int) {
            let indent = depth == 0 ? "" : String(repeating: "  ", count: depth - 1) + "└ "
            // A layer called at several nodes shows the shapes they share, "multiple" where they differ (as tf-keras).
            let shared = row.outputShapes.first.flatMap { first in row.outputShapes.allSatisfy { $0 == first } ? first : nil }
            let shapes = shared?.map(Self.describe) ?? ["multiple"]
            let type = row.fileClassName.map { "\($0) (\(row.className))" } ?? row.className
            let unsupported = row.unsupportedReason != nil && row.children.isEmpty
            var cells = [Cell(items: ["\(indent)\(row.name)", "(\(type))"] + (unsupported ? ["[unsupported]"] : []), separator: " "),
                         Cell(items: shapes, separator: ", "), Cell(Self.grouped(row.params))]
            if showConnections { cells.append(Cell(items: depth == 0 ? row.inbound.flatMap { $0 } : [], separator: ", ")) }
            table.append(cells)
            for child in row.children { add(child, depth: depth + 1) }
        }
        rows.forEach { add($0, depth: 0) }
        if let subclassed { table = Self.weightTree(subclassed.weights) }
        let widths = Self.columnWidths(table)
        // The last column is not padded: a layer with thousands of inbound tensors would otherwise pad every
        // row to the width of its list.
        let render = { (cells: [Cell]) in
            let wrapped = zip(cells, widths).map { $0.lines(width: $1) }
            return (0..<(wrapped.map(\.count).max() ?? 0)).map { line in
                let texts = wrapped.map { $0.indices.contains(line) ? $0[line] : "" }
                return (zip(texts.dropLast(), widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) } + texts.suffix(1))
                    .joined(separator: "  ").trimmingTrailingSpaces()
            }
        }
        let body = table.map(render)
        let rule = String(repeating: "=", count: body.joined().map(\.count).max() ?? 0)
        lines += body[0]
        lines.append(rule)
        lines += body.dropFirst().joined()
        lines.append(rule)
        lines.append("Total params: \(Self.grouped(totalParams)) (\(Self.bytes(weightBytes)))")
        lines.append("Trainable params: \(Self.grouped(trainableParams)) (\(Self.bytes(trainableParams * 4)))")
        lines.append("Non-trainable params: \(Self.grouped(nonTrainableParams)) (\(Self.bytes(nonTrainableParams * 4)))")
        // Weights taken as the file holds them (a class kconv does not know) carry no trainable flag there.
        let unknown = rows.flatMap(Self.flattened).filter { $0.unsupportedReason != nil && $0.children.isEmpty && $0.params > 0 }
            .map { ($0.name, $0.params) } + (subclassed.map { [(modelName, $0.params)] } ?? [])
        if !unknown.isEmpty {
            lines.append("(\(Self.grouped(unknown.reduce(0) { $0 + $1.1 })) of them in \(unknown.map(\.0).joined(separator: ", ")), of a class kconv does not know: the file does not record which of those train)")
        }
        let unsupported = unsupportedLayers
        if let subclassed {
            lines.append("")
            lines.append("Model \"\(modelName)\" (\(modelClass)): \(subclassed.reason)")
        } else if !unsupported.isEmpty {
            lines.append("")
            lines.append("Unsupported layers (\(unsupported.count)): kconv can show them but not compute them")
            for layer in unsupported { lines.append("  \(layer.name) (\(layer.className)): \(layer.reason)") }
        }
        for row in rows.flatMap(Self.flattened) {
            if let source = row.functionSource {
                lines.append("  \(row.name) holds a serialized Python function (not executed): \(source.prefix(80).debugDescription)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The summary as one JSON object (`kconv inspect --json`).
    package var json: JSONValue {
        func tensor(_ tensor: Tensor) -> JSONValue {
            ["name": .string(tensor.name), "shape": tensor.shape.map(Self.shapeJSON) ?? .null, "dtype": .string(tensor.dtype)]
        }
        func rowJSON(_ row: Row) -> JSONValue {
            var object: JSONObject = [
                "name": .string(row.name), "class_name": .string(row.className),
                "file_class_name": row.fileClassName.map(JSONValue.string) ?? .null,
                "output_shape": row.outputShapes.count == 1 ? Self.outputJSON(row.outputShapes[0]) : .null,
                "params": .int(Int64(row.params)), "trainable_params": .int(Int64(row.trainableParams)),
                "non_trainable_params": .int(Int64(row.params - row.trainableParams)),
                "inbound": .array(row.inbound.map { .array($0.map { .string($0) }) }),
            ]
            if row.outputShapes.count != 1 {
                object["output_shapes"] = .array(row.outputShapes.map(Self.outputJSON))
            }
            if !row.children.isEmpty {
                object[row.className == "Sequential" || row.className == "Functional" ? "layers" : "wrapped"] = .array(row.children.map(rowJSON))
            }
            object["supported"] = .bool(row.unsupportedReason == nil)
            if let reason = row.unsupportedReason { object["unsupported_reason"] = .string(reason) }
            if let source = row.functionSource { object["function_source"] = .string(source) }
            return .object(object)
        }
        return [
            "file": .string(file), "weights_file": weightsFile.map { .string($0) } ?? .null,
            "format": .string(format), "weights_layout": .string(weightsLayout),
            "keras_version": kerasVersion.map { .string($0) } ?? .null, "dialect": .string(dialect),
            "backend": backend.map { .string($0) } ?? .null,
            "name": .string(modelName), "class_name": .string(modelClass),
            "inputs": .array(inputs.map(tensor)), "outputs": .array(outputs.map(tensor)),
            "layers": .array(rows.map(rowJSON)),
            "total_params": .int(Int64(totalParams)), "trainable_params": .int(Int64(trainableParams)),
            "non_trainable_params": .int(Int64(nonTrainableParams)), "weight_bytes": .int(Int64(weightBytes)),
            "unsupported_layers": .array(unsupportedLayers.map { ["name": .string($0.name), "class_name": .string($0.className), "reason": .string($0.reason)] }),
            "subclassed": subclassed.map { subclassed in
                ["constructor_arguments": .object(subclassed.arguments), "reason": .string(subclassed.reason),
                 "weights": .array(subclassed.weights.map { ["path": .string($0.path), "shape": .array($0.shape.map { .int(Int64($0)) }), "params": .int(Int64($0.params))] })]
            } ?? .null,
        ]
    }

    /// Constructor arguments on one line, `units=4, vocab=6`; a long value is cut short.
    private static func arguments(_ arguments: JSONObject) -> String {
        let items = arguments.map { key, value in
            let text = value.serialized()
            return "\(key)=" + (text.count > 60 ? text.prefix(57) + "..." : text)
        }
        return items.isEmpty ? "none" : items.joined(separator: ", ")
    }

    /// The weights as a table of their path tree, in the file's order: each path segment once, a shared
    /// prefix with the total of the weights under it, each weight with its shape and count.
    private static func weightTree(_ weights: [Weight]) -> [[Cell]] {
        typealias Item = (segments: ArraySlice<Substring>, weight: Weight)
        var table = [[Cell("Weight"), Cell("Shape"), Cell("Param #")]]
        func add(_ items: [Item], depth: Int) {
            let indent = String(repeating: "  ", count: depth)
            // Consecutive runs are enough: a file lists each object's weights together.
            var index = items.startIndex
            while index < items.endIndex {
                let item = items[index]
                guard let head = item.segments.first else { index += 1; continue }
                if item.segments.count == 1 {
                    table.append([Cell(indent + head), Cell(describe(item.weight.shape.map { Optional($0) })), Cell(grouped(item.weight.params))])
                    index += 1
                    continue
                }
                let run = Array(items[index...].prefix { $0.segments.count > 1 && $0.segments.first == head })
                // A prefix all of the run shares is one line: `lstm/cell/vars/`.
                var shared = 1
                while run.allSatisfy({ $0.segments.count > shared + 1 && $0.segments.dropFirst(shared).first == item.segments.dropFirst(shared).first }) {
                    shared += 1
                }
                let prefix = item.segments.prefix(shared).joined(separator: "/")
                table.append([Cell(indent + prefix + "/"), Cell(""), Cell(grouped(run.reduce(0) { $0 + $1.weight.params }))])
                add(run.map { ($0.segments.dropFirst(shared), $0.weight) }, depth: depth + 1)
                index += run.count
            }
        }
        add(weights.map { (ArraySlice($0.path.split(separator: "/")), $0) }, depth: 0)
        return table
    }

    /// The widest a summary's table gets, unless single names or shapes are wider.
    package static let maxWidth = 100

    /// A table cell: items written on one line joined by `separator`, or wrapped between items.
    private struct Cell {
        var items: [String]
        var separator: String

        init(items: [String], separator: String) {
            self.items = items
            self.separator = separator
        }

        init(_ text: String) { self.init(items: [text], separator: "") }

        /// What ends a line that the next continues (`,` between shapes and connections).
        private var continuation: String { separator.trimmingTrailingSpaces() }
        var oneLine: Int { items.joined(separator: separator).count }
        var narrowest: Int { (items.map(\.count).max() ?? 0) + (items.count > 1 ? continuation.count : 0) }

        /// The items in lines of at most `width` characters (an item wider than that alone on its line).
        func lines(width: Int) -> [String] {
            var lines: [String] = []
            for item in items {
                if let last = lines.last, last.count + separator.count + item.count + continuation.count <= width {
                    lines[lines.count - 1] = last + separator + item
                } else {
                    if !lines.isEmpty { lines[lines.count - 1] += continuation }
                    lines.append(item)
                }
            }
            return lines
        }
    }

    /// Each column's width: as wide as its widest cell on one line, narrowed (the column with the most room
    /// first, never below its widest item) until the table fits `maxWidth`.
    private static func columnWidths(_ table: [[Cell]]) -> [Int] {
        let columns = table[0].indices
        var widths = columns.map { column in table.map { $0[column].oneLine }.max() ?? 0 }
        let narrowest = columns.map { column in table.map { $0[column].narrowest }.max() ?? 0 }
        var excess = widths.reduce(0, +) + 2 * (widths.count - 1) - maxWidth
        while excess > 0, let column = columns.max(by: { widths[$0] - narrowest[$0] < widths[$1] - narrowest[$1] }),
              widths[column] > narrowest[column] {
            let cut = min(excess, widths[column] - narrowest[column])
            widths[column] -= cut
            excess -= cut
        }
        return widths
    }

    /// `1234567` as Keras prints it: `1,234,567`.
    package static func grouped(_ count: Int) -> String {
        let digits = String(count.magnitude)
        let groups = stride(from: digits.count, to: 0, by: -3).reversed().map { end in
            String(digits[digits.index(digits.startIndex, offsetBy: max(0, end - 3))..<digits.index(digits.startIndex, offsetBy: end)])
        }
        return (count < 0 ? "-" : "") + groups.joined(separator: ",")
    }

    /// A size as Keras 3's summary gives it: `17.13 KB` (1 KB = 1024 bytes).
    package static func bytes(_ count: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(count), unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return String(format: "%.2f %@", value, units[unit])
    }

    private static func flattened(_ row: Row) -> [Row] { [row] + row.children.flatMap(flattened) }

    package static func describe(_ shape: TensorShape?) -> String { shape?.kerasDescription ?? "?" }

    package static func shapeJSON(_ shape: TensorShape) -> JSONValue { .array(shape.map { $0.map { .int(Int64($0)) } ?? .null }) }

    /// One output: its shape; several: a list of shapes (as Keras reports multi-output layers).
    package static func outputJSON(_ shapes: [TensorShape?]) -> JSONValue {
        let encoded = shapes.map { $0.map(shapeJSON) ?? .null }
        return encoded.count == 1 ? encoded[0] : .array(encoded)
    }
}

extension String {
    package func trimmingTrailingSpaces() -> String {
        var copy = self
        while copy.last == " " { copy.removeLast() }
        return copy
    }
}
