// swift-tools-version: 6.1
// The RecDB side of bench/ann: a release-built executable kept out of the main package so tests and CI never
// build it.
import PackageDescription

let package = Package(
    name: "recdb-ann",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "RecDB", path: "../../..")],
    targets: [
        // Reading and writing NumPy .npy arrays, for both executables.
        .target(name: "BenchNPY"),
        .executableTarget(
            name: "recdb-ann",
            dependencies: ["BenchNPY", .product(name: "RecDB", package: "RecDB")],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]
        ),
        // The real384 set's vectors: item texts encoded by RecDB's own MiniLM.
        .executableTarget(
            name: "recdb-encode",
            dependencies: ["BenchNPY", .product(name: "RecML", package: "RecDB")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
