/// Everything that can go wrong while reading a model, with where it went wrong.
///
/// The description reads like `model.h5: layer 'conv2d_3' (Conv2D): config.strides: expected 2 ints, found 3`;
/// deeper code fills `field`, the graph builder adds `layer`, the file loader adds `file`.
package struct ModelError: Error, CustomStringConvertible, Equatable {
    package var file: String?
    package var layer: String?
    package var field: String?
    package var message: String

    package init(file: String? = nil, layer: String? = nil, field: String? = nil, _ message: String) {
        self.file = file
        self.layer = layer
        self.field = field
        self.message = message
    }

    package var description: String {
        var parts: [String] = []
        if let file { parts.append(file) }
        if let layer { parts.append(layer) }
        if let field { parts.append(field) }
        parts.append(message)
        return parts.joined(separator: ": ")
    }

    /// Fills in the location fields that are still empty; inner context wins.
    package func located(file: String? = nil, layer: String? = nil, field: String? = nil) -> ModelError {
        var copy = self
        copy.file = copy.file ?? file
        copy.layer = copy.layer ?? layer
        copy.field = copy.field ?? field
        return copy
    }
}

/// Runs `body`, turning any error it throws into a `ModelError` that names the given location.
package func locating<T>(file: String? = nil, layer: String? = nil, field: String? = nil, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as ModelError {
        throw error.located(file: file, layer: layer, field: field)
    } catch let error as FileLocatedError {
        throw ModelError(file: file ?? error.filePath, layer: layer, field: field, error.messageWithinFile)
    } catch {
        throw ModelError(file: file, layer: layer, field: field, String(describing: error))
    }
}

extension ModelError {
    private static let unknownShapeMessage = "output shape unknown: it depends on a layer kconv does not implement"

    /// Raised by shape inference through a layer whose maths kconv does not know; the graph records the
    /// shape as unknown instead of failing.
    package static func unknownShape(_ layer: String) -> ModelError { ModelError(layer: layer, unknownShapeMessage) }

    package var isUnknownShape: Bool { message == Self.unknownShapeMessage }
}

/// An error that names the file it happened in (the HDF5 wrapper's), so `locating` keeps that file and
/// adds only what the caller knows.
package protocol FileLocatedError: Error {
    var filePath: String { get }
    /// The message without the file: `/model_weights/dense: open group: not found`.
    var messageWithinFile: String { get }
}

/// Errors of the numeric engine, each naming the input or layer at fault.
package struct EngineError: Error, CustomStringConvertible, Equatable {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}
