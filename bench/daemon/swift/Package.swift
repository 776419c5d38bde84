// swift-tools-version: 6.1
// The load generator of bench/daemon: a release-built executable kept out of the main package.
import PackageDescription

let package = Package(
    name: "recdb-load",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "RecDB", path: "../../..")],
    targets: [
        .executableTarget(
            name: "recdb-load",
            dependencies: [.product(name: "RecDB", package: "RecDB"), .product(name: "RecClient", package: "RecDB")]
        )
    ],
    swiftLanguageModes: [.v5]
)
