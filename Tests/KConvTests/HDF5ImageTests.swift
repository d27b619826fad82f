import Foundation
import Testing
@testable import KConvKeras
import KConvIO

/// HDF5 files held in memory: `.keras` archives read and write their `model.weights.h5` member this way, with
/// no temporary file.
@Suite struct HDF5ImageTests {
    /// A name that is no file on disk; errors must still carry it.
    static let name = FileManager.default.temporaryDirectory
        .appendingPathComponent("kconv-image-\(UUID().uuidString).keras").path + "/model.weights.h5"

    /// An in-memory file with a group, an attribute and a dataset, as its image.
    static func sampleImage(value: Float = 0.5) throws -> Data {
        let file = try HDF5File.createInMemory(name: name)
        let group = try file.root.createGroup("layers/dense/vars")
        try group.setAttribute("name", .string("dense"))
        try group.createDataset("0", shape: [2, 3], floats: [1, 2, 3, 4, 5, value])
        return try file.withImage { Data(Array($0)) }
    }

    /// The image lent from the driver's buffer is the whole file, past the buffer's first growth (1 MiB), and
    /// only an in-memory file lends one.
    @Test func aLentImageIsTheWholeFile() throws {
        let values = (0 ..< 400_000).map { Float($0) }
        let file = try HDF5File.createInMemory(name: Self.name)
        try file.root.createGroup("layers").createDataset("big", shape: [values.count], floats: values)
        try file.root.setAttribute("after", .string("the big dataset"))
        let image = try file.withImage { Data(Array($0)) }
        let reopened = try HDF5File.open(image: image, name: Self.name)
        #expect(try reopened.root.dataset("layers/big").readFloats(limit: values.count) == values)
        #expect(try reopened.root.attribute("after") == .string("the big dataset"))

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-image-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let onDisk = try HDF5File.create(directory.appendingPathComponent("w.h5").path)
        let error = #expect(throws: HDF5Error.self) { try onDisk.withImage { $0.count } }
        #expect(error?.description.contains("not an in-memory file") == true, "\(String(describing: error))")
    }

    @Test func anImageRoundTrips() throws {
        let image = try Self.sampleImage()
        #expect(image.starts(with: [0x89, 0x48, 0x44, 0x46]))
        let file = try HDF5File.open(image: image, name: Self.name)
        #expect(file.path == Self.name)
        let vars = try file.root.group("layers/dense/vars")
        #expect(try vars.attribute("name") == .string("dense"))
        let dataset = try vars.dataset("0")
        #expect(try dataset.readFloats(limit: 6) == [1, 2, 3, 4, 5, 0.5])
        // The image reads back as the same file from disk does.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-image-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let onDisk = directory.appendingPathComponent("w.h5")
        try image.write(to: onDisk)
        #expect(try HDF5File.open(onDisk.path).root.dataset("layers/dense/vars/0").readFloats(limit: 6) == [1, 2, 3, 4, 5, 0.5])
        // Nothing was written under the name.
        #expect(!FileManager.default.fileExists(atPath: Self.name))
        #expect(!FileManager.default.fileExists(atPath: URL(fileURLWithPath: Self.name).deletingLastPathComponent().path))
    }

    /// HDF5 treats open in-memory files with one name as one file; each image must read as itself.
    @Test func twoImagesUnderOneNameStayApart() throws {
        let first = try HDF5File.open(image: Self.sampleImage(value: 1), name: Self.name)
        let second = try HDF5File.open(image: Self.sampleImage(value: 2), name: Self.name)
        #expect(try first.root.dataset("layers/dense/vars/0").readFloats(limit: 6).last == 1)
        #expect(try second.root.dataset("layers/dense/vars/0").readFloats(limit: 6).last == 2)
    }

    /// Bad images fail with an error naming the file they stand for.
    @Test func badImagesNameTheFile() throws {
        let image = try Self.sampleImage()
        let cases: [(Data, String)] = [
            (Data(), "not an HDF5 file"),
            (Data("not hdf5 at all".utf8), "not an HDF5 file"),
            (image.prefix(image.count / 2), "truncated file"),
        ]
        for (bytes, fragment) in cases {
            let error = #expect(throws: HDF5Error.self) { try HDF5File.open(image: bytes, name: Self.name) }
            #expect(error?.filePath == Self.name)
            #expect(error?.description.contains(fragment) == true, "\(String(describing: error))")
        }
    }

    /// `kconv convert` of a `.keras` archive to a `.keras` archive, with the system temporary directory unusable
    /// (TMPDIR names a regular file, so nothing can be created under it, even as root): reading and writing the
    /// weights member happen in memory, and the output folder holds only the output afterwards.
    @Test func kerasArchivesNeedNoTemporaryFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-image-\(UUID().uuidString)")
        let output = directory.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let notADirectory = directory.appendingPathComponent("tmp-is-a-file")
        try Data("x".utf8).write(to: notADirectory)

        let source = Fixtures.cases.appendingPathComponent("conv2d/keras3.keras").path
        let target = output.appendingPathComponent("model.keras").path
        let process = Process()
        process.executableURL = CommandLineTests.executable
        process.arguments = ["convert", source, target]
        process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": notADirectory.path]) { $1 }
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: output.path) == ["model.keras"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["out", "tmp-is-a-file"])

        // In process too: loading every layer's weights from the archive leaves the temporary directory as it was.
        let model = try KerasModel.load(target)
        #expect(model.weightsLayout == .objectPaths)
    }
}
