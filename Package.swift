// swift-tools-version:6.0
// kconv: reads every Keras file dialect into one native model, runs it, and writes it back out.
//
//   CHDF5, CJSONC, CBLAS   system libraries (module.modulemap + shim.h); only KConvIO/HDF5, KConvIO/JSON and
//                          KConv/Engine/BLAS.swift import them
//   CKernels               the engine's innermost loops in C (activations built per x86-64 level and picked
//                          at load time, im2col); only KConv/Engine/NativeKernels.swift imports it
//   KConvIO                file-level I/O: HDF5 and JSON wrappers, zip reading and writing, NumPy .npy/.npz
//   KConv                  the library: Graph/ (typed values and operations), Model/ (Keras graph, shapes,
//                          weights, lowering), Layers/ (each class's config, shapes, weights, dialect rules),
//                          Formats/ (one file per Keras dialect), Engine/ (plan and kernels), Verify/
//   ONNXProto              the ONNX schema's protobuf types, generated once by Scripts/generate-onnx-proto.sh
//                          (package-visible; needs only the SwiftProtobuf runtime)
//   kconv                  the command-line tool, one file per subcommand
import PackageDescription

let package = Package(
    name: "kconv",
    products: [
        .library(name: "KConv", targets: ["KConv"]),
        .executable(name: "kconv", targets: ["kconv"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.19"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CKernels"),
        .target(
            name: "KConvIO",
            dependencies: ["CHDF5", "CJSONC", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .target(name: "KConv", dependencies: ["KConvIO", "CBLAS", "CKernels"]),
        .target(name: "ONNXProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .executableTarget(
            name: "kconv",
            dependencies: ["KConv", "KConvIO", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "KConvTests", dependencies: ["KConv", "KConvIO", "ONNXProto"]),
    ]
)
