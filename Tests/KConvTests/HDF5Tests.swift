import Foundation
import Testing
@testable import KConv
@testable import KConvGraph
@testable import KConvEngine
@testable import KConvKeras
import KConvIO

/// Tests of the HDF5 wrapper. Every test writes its own files with the writer API into a fresh
/// temporary directory, so nothing outside Swift is needed.
@Suite struct HDF5Tests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-hdf5-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// A small Keras-like file: root attributes of every kind, nested groups, datasets.
    func writeSample() throws -> String {
        let path = file("sample.h5")
        let root = try HDF5File.create(path).root
        try root.setAttribute("keras_version", .string("2.13.1"))
        try root.setAttribute("model_config", .string(#"{"name": "modèle 😀", "path": "a/b"}"#))
        try root.setAttribute("names", .strings(["dense", "dense_1", "ünïcode"]))
        try root.setAttribute("empty", .strings([]))
        try root.setAttribute("count", .integers([7]))
        try root.setAttribute("ints", .integers([1, -2, .max]))
        try root.setAttribute("scale", .doubles([0.5]))
        try root.setAttribute("doubles", .doubles([1.5, -2, .infinity]))

        let weights = try root.createGroup("model_weights")
        try weights.setAttribute("layer_names", .strings(["dense"]))
        let dense = try weights.createGroup("dense")
        try dense.setAttribute("weight_names", .strings(["dense/kernel:0", "dense/bias:0"]))
        // A "/" in a weight name creates the intermediate group, as h5py does.
        let kernel = try dense.createDataset("dense/kernel:0", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        try kernel.setAttribute("dtype", .string("float32"))
        try dense.createDataset("dense/bias:0", shape: [3], floats: [0.25, -0.5, 0])
        try root.createDataset("scalar", shape: [], floats: [42])
        try root.createDataset("empty", shape: [0, 4], floats: [])
        try root.createGroup("a/b/c")
        // h5py 2.x wrote name lists as fixed-length NULL-padded strings.
        try root.writeFixedLengthStringsAttribute("layer_names_fixed", ["conv2d", "dense_10", ""])
        return path
    }

    @Test func roundTripsGroupsAndDatasets() throws {
        let root = try HDF5File.open(try writeSample()).root
        #expect(try root.childNames() == ["a", "empty", "model_weights", "scalar"])
        let dense = try root.group("model_weights/dense")
        #expect(dense.path == "/model_weights/dense")
        #expect(try dense.childNames() == ["dense"])
        #expect(try dense.group("dense").childNames() == ["bias:0", "kernel:0"])
        #expect(try root.group("/a/b").childNames() == ["c"])

        let kernel = try dense.dataset("dense/kernel:0")
        #expect(kernel.path == "/model_weights/dense/dense/kernel:0")
        #expect(try kernel.shape == [2, 3])
        #expect(try kernel.elementType == .float(bytes: 4))
        #expect(try kernel.readFloats(limit: 6) == [1, 2, 3, 4, 5, 6])
        #expect(try kernel.attributeNames() == ["dtype"])
        #expect(try kernel.attribute("dtype") == .string("float32"))
        #expect(try root.dataset("model_weights/dense/dense/bias:0").readFloats(limit: 100) == [0.25, -0.5, 0])

        let scalar = try root.dataset("scalar")
        #expect(try scalar.shape == [])
        #expect(try scalar.readFloats(limit: 1) == [42])
        let empty = try root.dataset("empty")
        #expect(try empty.shape == [0, 4])
        #expect(try empty.readFloats(limit: 0) == [])
    }

    @Test func roundTripsEveryAttributeKind() throws {
        let root = try HDF5File.open(try writeSample()).root
        #expect(try root.attributeNames() == [
            "count", "doubles", "empty", "ints", "keras_version", "layer_names_fixed", "model_config", "names", "scale",
        ])
        #expect(try root.attribute("keras_version") == .string("2.13.1"))
        #expect(try root.attribute("model_config") == .string(#"{"name": "modèle 😀", "path": "a/b"}"#))
        #expect(try root.attribute("names") == .strings(["dense", "dense_1", "ünïcode"]))
        #expect(try root.attribute("count") == .integers([7]))
        #expect(try root.attribute("ints") == .integers([1, -2, .max]))
        #expect(try root.attribute("scale") == .doubles([0.5]))
        #expect(try root.attribute("doubles") == .doubles([1.5, -2, .infinity]))
        #expect(try root.attribute("layer_names_fixed") == .strings(["conv2d", "dense_10", ""]))
        #expect(try root.group("model_weights").attribute("layer_names")?.stringList == ["dense"])
    }

    @Test func emptyListIsAZeroLengthFloat64Array() throws {
        let root = try HDF5File.open(try writeSample()).root
        let empty = try #require(try root.attribute("empty"))
        // Stored as h5py stores an empty Python list, so it reads back as an empty float list…
        guard case .doubles(let values) = empty else {
            Issue.record("expected .doubles([]), got \(empty)")
            return
        }
        #expect(values.isEmpty)
        // …which is still an empty name list, and equal to any empty list.
        #expect(empty.stringList == [])
        #expect(empty == .strings([]))
        #expect(HDF5AttributeValue.doubles([1]).stringList == nil)
    }

    @Test func replacesAnExistingAttribute() throws {
        let path = file("replace.h5")
        let root = try HDF5File.create(path).root
        try root.setAttribute("x", .integers([1, 2]))
        try root.setAttribute("x", .string("now a string"))
        #expect(try root.attribute("x") == .string("now a string"))
        #expect(try root.attributeNames() == ["x"])
    }

    @Test func absentAttributeIsNil() throws {
        let root = try HDF5File.open(try writeSample()).root
        #expect(try root.attribute("no_such_attribute") == nil)
        #expect(try root.dataset("scalar").attribute("dtype") == nil)
    }

    /// A child process spawned while a file was open for writing keeps its exclusive lock after the
    /// writer closed it; reading must not depend on that lock being gone.
    @Test func readsAFileSomeoneElseHoldsLocked() throws {
        let path = try writeSample()
        let descriptor = Glibc.open(path, O_RDONLY)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        try #require(flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        #expect(try HDF5File.open(path).root.attribute("keras_version") == .string("2.13.1"))
    }

    @Test func kindOfPaths() throws {
        let root = try HDF5File.open(try writeSample()).root
        #expect(try root.kind(of: "model_weights") == .group)
        #expect(try root.kind(of: "model_weights/dense/dense/kernel:0") == .dataset)
        #expect(try root.kind(of: "/a/b/c") == .group)
        #expect(try root.group("a").kind(of: "b/c") == .group)
        #expect(try root.kind(of: "missing") == nil)
        #expect(try root.kind(of: "missing/deeper/still") == nil)           // absent intermediate group
        #expect(try root.kind(of: "scalar/child") == nil)                   // intermediate is a dataset
        #expect(try root.kind(of: "model_weights/dense/missing:0") == nil)
    }

    /// A float32 dataset of a file on disk is lent where it lies, holding what `readFloats` reads; a weight array
    /// over it lends it too, inside `readingEachOnce` as well (lending again reads nothing).
    @Test func floatsAreLentFromTheFileOnDisk() throws {
        let path = file("lent.h5")
        let values = (0 ..< 5000).map { Float($0) * 0.25 - 7 }
        let writing = try HDF5File.create(path).root
        try writing.setAttribute("before", .string("an attribute first"))
        try writing.createDataset("layer/kernel", shape: [50, 100], floats: values)
        try writing.file.flush()
        let dataset = try HDF5File.open(path).root.dataset("layer/kernel")
        let lent = try #require(try dataset.mappedFloats()).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let read = try dataset.readFloats(limit: values.count)
        #expect(lent == values && lent == read)

        final class Count: @unchecked Sendable { var reads = 0 }
        let count = Count()
        let array = WeightArray(name: "kernel", shape: [50, 100], reader: { count.reads += 1; return values },
                                lender: dataset.mappedFloats)
        try array.withValues { #expect(Array($0) == values) }
        #expect(try array.lentBytes() != nil)
        #expect(count.reads == 0)
        // Kept values are for arrays that cannot be lent: lending again costs no read.
        try WeightArray.readingEachOnce { () throws in
            try array.withValues { #expect(Array($0) == values) }
            #expect(try array.lentBytes() != nil)
        }
        #expect(count.reads == 0)
    }

    @Test func readFloatsRefusesMoreThanTheLimit() throws {
        let path = file("limit.h5")
        try HDF5File.create(path).root.createDataset("big", shape: [2, 5], floats: Array(repeating: 1, count: 10))
        let big = try HDF5File.open(path).root.dataset("big")
        let error = try #require(throws: HDF5Error.self) { try big.readFloats(limit: 9) }
        #expect(error.objectPath == "/big")
        #expect(error.filePath == path)
        #expect(error.description.contains("10 elements, more than the limit of 9"))
        #expect(try big.readFloats(limit: 10).count == 10)
    }

    @Test func createDatasetChecksTheShape() throws {
        let root = try HDF5File.create(file("shape.h5")).root
        let error = try #require(throws: HDF5Error.self) { try root.createDataset("w", shape: [2, 2], floats: [1, 2, 3]) }
        #expect(error.message.contains("holds 4 elements, but 3 values were given"))
        #expect(throws: HDF5Error.self) { try root.createDataset("w", shape: [-1], floats: []) }
    }

    @Test func notAnHDF5FileIsAClearError() throws {
        let path = file("model.json")
        try Data(#"{"class_name": "Sequential"}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(!HDF5File.isHDF5(path))
        let stderr = try capturingStandardError {
            let error = try #require(throws: HDF5Error.self) { try HDF5File.open(path) }
            #expect(error.description == "\(path): cannot open file: not an HDF5 file")
        }
        #expect(!stderr.contains("HDF5-DIAG"))

        let missing = try #require(throws: HDF5Error.self) { try HDF5File.open(file("missing.h5")) }
        #expect(missing.message == "no such file")
    }

    /// HDF5 prints its error stack per thread unless told not to on that thread: check a failure on
    /// a brand-new thread stays silent and still carries HDF5's own message.
    @Test func hdf5FailuresAreThrownNotPrinted() throws {
        let root = try HDF5File.open(try writeSample()).root
        let outcome = ThreadOutcome()
        let stderr = try capturingStandardError {
            let done = DispatchSemaphore(value: 0)
            Thread {
                outcome.error = #expect(throws: HDF5Error.self) { try root.group("model_weights/missing") }
                done.signal()
            }.start()
            done.wait()
        }
        #expect(!stderr.contains("HDF5-DIAG"))
        let error = try #require(outcome.error as? HDF5Error)
        #expect(error.objectPath == "/model_weights/missing")
        #expect(error.operation == "open group")
        #expect(!error.message.isEmpty && error.message != "HDF5 call failed")
    }

    @Test func handlesCloseWhenReleased() throws {
        // Writing, dropping every handle, then reopening for reading only works if the file was closed.
        let path = file("closed.h5")
        do {
            let root = try HDF5File.create(path).root
            try root.createDataset("x", shape: [1], floats: [3])
        }
        #expect(try HDF5File.open(path).root.dataset("x").readFloats(limit: 1) == [3])
        _ = try HDF5File.create(path)  // truncating needs the previous read handles closed too
    }

    /// Runs `body` with file descriptor 2 redirected to a file; returns what was written there.
    private func capturingStandardError(_ body: () throws -> Void) throws -> String {
        let capture = file("stderr-\(UUID().uuidString).txt")
        _ = FileManager.default.createFile(atPath: capture, contents: nil)
        let captureDescriptor = open(capture, O_WRONLY)
        let savedDescriptor = dup(2)
        dup2(captureDescriptor, 2)
        defer {
            dup2(savedDescriptor, 2)
            close(savedDescriptor)
            close(captureDescriptor)
        }
        try body()
        return try String(contentsOfFile: capture, encoding: .utf8)
    }
}

private final class ThreadOutcome: @unchecked Sendable {  // written by one thread, read after it signals
    var error: (any Error)?
}
