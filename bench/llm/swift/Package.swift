// swift-tools-version: 6.1
import PackageDescription

// Benchmark executable for RecML's GGUF runtime; kept out of the main package so `swift test` does not build it.
let package = Package(
    name: "llm-bench",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "RecDB", path: "../../..")],
    targets: [
        .executableTarget(name: "llm-bench", dependencies: [.product(name: "RecML", package: "RecDB")])
    ]
)
