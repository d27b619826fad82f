import Foundation
import Testing

/// The C libraries are wrapped in one place each: only Sources/KConvIO/HDF5 may import CHDF5, only
/// Sources/KConvIO/JSON CJSONC, only KConvEngine/BLAS.swift and DNNLConvolution.swift CDNNL and only
/// KConvEngine/NativeKernels.swift CKernels, so no raw handle or pointer leaks into the rest of kconv.
@Test func onlyTheInteropFoldersImportCModules() throws {
    let sources = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources")
    let allowed = ["CHDF5": ["/Sources/KConvIO/HDF5/"], "CJSONC": ["/Sources/KConvIO/JSON/"],
                   "CDNNL": ["/Sources/KConvEngine/BLAS.swift", "/Sources/KConvEngine/DNNLConvolution.swift"],
                   "CKernels": ["/Sources/KConvEngine/NativeKernels.swift"]]
    let files = try #require(FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil))
        .compactMap { $0 as? URL }
        .filter { $0.pathExtension == "swift" }
    #expect(!files.isEmpty)
    for file in files {
        let text = try String(contentsOf: file, encoding: .utf8)
        for (module, places) in allowed where text.contains("import \(module)") {
            #expect(places.contains { file.path.contains($0) }, "\(file.path) imports \(module)")
        }
    }
}
