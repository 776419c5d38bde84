// swift-tools-version: 6.1
// The RecDB side of bench/ann: a release-built executable kept out of the main package so tests and CI never
// build it.
import PackageDescription

let package = Package(
    name: "recdb-ann",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "RecDB", path: "../../.."), .package(path: "../../npy")],
    targets: [
        .executableTarget(
            name: "recdb-ann",
            dependencies: [.product(name: "BenchNPY", package: "npy"), .product(name: "RecDB", package: "RecDB")],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]
        ),
        // The real384 set's vectors: item texts encoded by RecDB's own MiniLM.
        .executableTarget(
            name: "recdb-encode",
            dependencies: [.product(name: "BenchNPY", package: "npy"), .product(name: "RecML", package: "RecDB")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
