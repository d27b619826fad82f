import Foundation
import Testing
@testable import KConvKeras
import KConvIO

/// HDF5 files held in memory: `.keras` archives read their `model.weights.h5` member this way, with no
/// temporary file (kconv writes it into the archive itself, after a user block: `ZipWriter.write(inPlace:...)`).
@Suite struct HDF5ImageTests {
    /// A name that is no file on disk; errors must still carry it.
    static let name = FileManager.default.temporaryDirectory
        .appendingPathComponent("kconv-image-\(UUID().uuidString).keras").path + "/model.weights.h5"

    /// A file with a group, an attribute and a dataset, as its image.
    static func sampleImage(value: Float = 0.5) throws -> Data {
        try image { root in
            let group = try root.createGroup("layers/dense/vars")
            try group.setAttribute("name", .string("dense"))
            try group.createDataset("0", shape: [2, 3], floats: [1, 2, 3, 4, 5, value])
        }
    }

    /// The bytes of a file `fill` wrote, from after a user block of `userBlock` bytes.
    static func image(userBlock: Int = 0, _ fill: (HDF5Group) throws -> Void) throws -> Data {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kconv-image-\(UUID().uuidString).h5").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try { () throws in  // the file closes as this returns
            let root = try HDF5File.create(path, userBlock: userBlock).root
            try fill(root)
            try root.file.flush()
        }()
        return try Data(contentsOf: URL(fileURLWithPath: path)).dropFirst(userBlock)
    }

    /// An image's contiguous float32 datasets are lent from its own bytes, also when it was written after a user
    /// block (a `.keras` archive kconv writes: the weights file follows its local header) and read on its own.
    @Test func imagesLendTheirWeights() throws {
        let values = (0 ..< 400_000).map { Float($0) }
        for userBlock in [0, 512, 4096] {
            let image = try Self.image(userBlock: userBlock) { root in
                try root.createGroup("layers").createDataset("big", shape: [values.count], floats: values)
                try root.setAttribute("after", .string("the big dataset"))
            }
            #expect(image.starts(with: [0x89, 0x48, 0x44, 0x46]))
            let dataset = try HDF5File.open(image: image, name: Self.name).root.dataset("layers/big")
            #expect(try dataset.readFloats(limit: values.count) == values)
            let lent = try #require(try dataset.mappedFloats())
            #expect(lent.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } == values)
            // The image's own bytes, not a copy.
            let (imageStart, lentStart) = (image.withUnsafeBytes { Int(bitPattern: $0.baseAddress) }, lent.withUnsafeBytes { Int(bitPattern: $0.baseAddress) })
            #expect(lentStart > imageStart && lentStart + lent.count <= imageStart + image.count)
        }
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
    /// (TMPDIR names a regular file, so nothing can be created under it, even as root): the weights member is read
    /// in memory and written into the archive itself, and the output folder holds only the output afterwards.
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
