// swift-tools-version: 6.1
// The Swift side of bench/neural's PyTorch parity check: a release-built executable kept out of the main package so
// tests and CI never build it.
import PackageDescription

let package = Package(
    name: "recneural-parity",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "RecDB", path: "../../..")],
    targets: [
        .executableTarget(
            name: "recneural-parity",
            dependencies: [.product(name: "RecNeural", package: "RecDB")]
        )
    ]
)
