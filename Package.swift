// swift-tools-version:6.0
// kconv: reads every Keras file dialect into one native model, runs it, and writes it back out.
//
//   CHDF5, CJSONC, CBLAS   system libraries (module.modulemap + shim.h); only KConv/HDF5, KConv/JSON and
//                          KConv/Engine/BLAS.swift import them
//   CKernels               the engine's innermost loops in C (activations built per x86-64 level and picked
//                          at load time, im2col); only KConv/Engine/NativeKernels.swift imports it
//   KConv                  the library: HDF5/ JSON/ wrappers, Model/ (graph, shapes, weights), Layers/ (one file
//                          per family: config, shapes, weights, forward), Formats/ (one file per Keras dialect),
//                          Engine/ (tensors, kernels, graph executor), Verify/ (NumPy files, comparisons)
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
            name: "KConv",
            dependencies: ["CHDF5", "CJSONC", "CBLAS", "CKernels", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .target(name: "ONNXProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .executableTarget(
            name: "kconv",
            dependencies: ["KConv", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "KConvTests", dependencies: ["KConv", "ONNXProto"]),
    ]
)
