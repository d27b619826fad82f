// swift-tools-version:6.0
// kconv: reads every Keras file dialect into one native model, runs it, and writes it back out.
//
//   CHDF5, CJSONC, CDNNL   system libraries (module.modulemap + shim.h); only KConvIO/HDF5, KConvIO/JSON and
//                          KConvEngine/BLAS.swift import them
//   CKernels               the engine's innermost loops in C (activations built per x86-64 level and picked
//                          at load time, im2col); only KConvEngine/NativeKernels.swift imports it
//   KConvGraph             typed values (DType, NDArray, shapes with symbolic dims), operations and graphs,
//                          and the errors every target shares; pure Swift, at the bottom
//   KConvIO                file-level I/O: HDF5 and JSON wrappers, zip reading and writing, NumPy .npy/.npz
//   KConvKeras             the Keras front end: one file per layer class (config in each dialect, weights,
//                          shapes, lowering to graph ops), the registry, model graphs, the file readers and
//                          writers, summaries
//   KConvEngine            the plan that runs a graph and the kernels under it; knows no Keras class
//   ONNXProto              the ONNX schema's protobuf types, generated once by Scripts/generate-onnx-proto.sh
//                          (package-visible; needs only the SwiftProtobuf runtime)
//   KConvONNX              the ONNX writer: a graph's operations as ONNX operators; knows no Keras class
//   KConv                  the library API: predict, verify, convert (staged, checked, renamed)
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
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CZlibCRC", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CKernels"),
        .target(name: "KConvGraph"),
        .target(
            name: "KConvIO",
            dependencies: ["KConvGraph", "CHDF5", "CJSONC", "CZlibCRC", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .target(name: "KConvKeras", dependencies: ["KConvGraph", "KConvIO"]),
        .target(name: "KConvEngine", dependencies: ["KConvGraph", "CDNNL", "CKernels"]),
        .target(name: "ONNXProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "KConvONNX", dependencies: ["KConvGraph", "ONNXProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "KConv", dependencies: ["KConvGraph", "KConvIO", "KConvKeras", "KConvEngine", "KConvONNX"]),
        .executableTarget(
            name: "kconv",
            dependencies: ["KConv", "KConvGraph", "KConvIO", "KConvKeras", "KConvEngine", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "KConvTests", dependencies: ["KConv", "KConvGraph", "KConvIO", "KConvKeras", "KConvEngine", "KConvONNX", "ONNXProto"]),
    ]
)
