// swift-tools-version: 6.1
// The RecDB side of bench/models: a release-built executable kept out of the main package so tests and CI never
// build it.
import PackageDescription

let package = Package(
    name: "recdb-models",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "RecDB", path: "../../.."),
        // The .npy reader and writer shared with bench/ann/swift.
        .package(path: "../../npy"),
    ],
    targets: [
        .executableTarget(
            name: "recdb-models",
            dependencies: [
                .product(name: "RecDB", package: "RecDB"), .product(name: "BenchNPY", package: "npy"),
            ],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]
        )
    ],
    swiftLanguageModes: [.v5]
)
