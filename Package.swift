// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "RecDB",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RecDB", targets: ["RecDB"]),
        .library(name: "RecML", targets: ["RecML"]),
        .executable(name: "recctl", targets: ["recctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(name: "CRecSupport"),
        .target(name: "CRecMLKernels"),
        .target(name: "RecML", dependencies: ["COpenBLAS", "CRecMLKernels"]),
        .target(
            name: "RecDB",
            dependencies: ["CLMDB", "CZlib", "CRecSupport", "RecML"]
        ),
        .executableTarget(
            name: "recctl",
            dependencies: [
                "RecDB",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "RecDBTests",
            dependencies: ["RecDB", "CLMDB"]
        ),
        .testTarget(
            name: "RecMLTests",
            dependencies: ["RecML"]
        ),
        .testTarget(
            name: "recctlTests",
            dependencies: ["RecDB", "recctl"]
        ),
    ]
)
