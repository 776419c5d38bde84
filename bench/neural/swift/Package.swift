// swift-tools-version: 6.1
// The Swift side of bench/neural: the PyTorch parity check and the Amazon Sports runs (SASRec on the training core
// alone; the session model, which needs RecDB, apart), release-built executables kept out of the main package so
// tests and CI never build them.
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
        .target(name: "SportsSplit"),
        .executableTarget(
            name: "recneural-sports",
            dependencies: ["SportsSplit", .product(name: "RecNeural", package: "RecDB")]
        ),
        .executableTarget(
            name: "recneural-session",
            dependencies: ["SportsSplit", .product(name: "RecDB", package: "RecDB")]
        ),
    ]
)
