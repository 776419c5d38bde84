// swift-tools-version: 6.1
// The Swift side of bench/neural: the PyTorch parity check and the Amazon Sports run (SASRec and the session model),
// release-built executables kept out of the main package so tests and CI never build them.
import PackageDescription

let package = Package(
    name: "recneural-bench",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "RecDB", path: "../../..")],
    targets: [
        .executableTarget(
            name: "recneural-parity",
            dependencies: [.product(name: "RecNeural", package: "RecDB")]
        ),
        .executableTarget(
            name: "recneural-sports",
            dependencies: [.product(name: "RecNeural", package: "RecDB"), .product(name: "RecDB", package: "RecDB")]
        ),
    ]
)
