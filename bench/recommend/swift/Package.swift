// swift-tools-version: 6.1
// The in-process latency side of bench/recommend: a release-built executable kept out of the main package so tests
// and CI never build it.
import PackageDescription

let package = Package(
    name: "recdb-recommend",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "RecDB", path: "../../..")],
    targets: [
        .executableTarget(
            name: "recdb-recommend",
            dependencies: [.product(name: "RecDB", package: "RecDB"), .product(name: "RecML", package: "RecDB")]
        )
    ],
    swiftLanguageModes: [.v5]
)
