// swift-tools-version:6.0
// kconv: reads every Keras file dialect into one native model, runs it, and writes it back out.
//
//   CHDF5, CJSONC          system libraries (module.modulemap + shim.h); only KConv/HDF5 and KConv/JSON import them
//   KConv                  the library: HDF5/ JSON/ wrappers, Model/ (graph, shapes, weights), Layers/ (one file
//                          per family), Formats/ (one file per Keras dialect)
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
    ],
    targets: [
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        .target(
            name: "KConv",
            dependencies: ["CHDF5", "CJSONC", .product(name: "ZIPFoundation", package: "ZIPFoundation")]
        ),
        .executableTarget(
            name: "kconv",
            dependencies: ["KConv", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(name: "KConvTests", dependencies: ["KConv"]),
    ]
)
