// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "RecDB",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RecDB", targets: ["RecDB"]),
        .library(name: "RecStorage", targets: ["RecStorage"]),
        .library(name: "RecWire", targets: ["RecWire"]),
        .library(name: "RecML", targets: ["RecML"]),
        .library(name: "RecNeural", targets: ["RecNeural"]),
        .library(name: "RecText", targets: ["RecText"]),
        .executable(name: "recctl", targets: ["recctl"]),
        .executable(name: "recd", targets: ["RecDaemon"]),
        .library(name: "RecClient", targets: ["RecClient"]),
        .library(name: "RecReplication", targets: ["RecReplication"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // recd's HTTP side (`--metrics`): the Prometheus endpoint and the dashboard.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
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
        .systemLibrary(
            name: "CEditline",
            pkgConfig: "libedit",
            providers: [.apt(["libedit-dev"])]
        ),
        .systemLibrary(
            name: "CNATS",
            pkgConfig: "libnats",
            providers: [.apt(["libnats-dev"])]
        ),
        .target(name: "CRecSupport"),
        // C kernels of the text encoder and the language model (SIMD dot products, quantised matmuls).
        .target(name: "CRecML"),
        .target(name: "RecML", dependencies: ["CRecML", "COpenBLAS", "RecKernels"]),
        // What the engine's numeric code and the model runtimes share without depending on each other (SharedPointer).
        .target(name: "RecKernels"),
        // The training core: tensors on a tape, reverse-mode autodiff, optimizers, and SASRec's network on them.
        .target(name: "RecNeural", dependencies: ["COpenBLAS"]),
        // What recd and its clients share: errors with one code table, JSON values, the line protocol. No dependencies.
        .target(name: "RecWire"),
        // The storage core: LMDB environment, typed databases, transactions, savepoints, checked byte access, file checks.
        .target(name: "RecStorage", dependencies: ["CLMDB", "CRecSupport", "RecWire"]),
        .target(
            name: "RecDB",
            dependencies: ["RecStorage", "RecWire", "CZlib", "COpenBLAS", "CRecSupport", "RecKernels", "RecNeural"]
        ),
        // The engine's text features on RecML (MiniLM encoder, SmolLM2): installed into RecDB as its TextRuntime.
        // Optional: an app that embeds only the engine does not build RecML.
        .target(name: "RecText", dependencies: ["RecDB", "RecML", "RecKernels", "RecNeural"]),
        .executableTarget(
            name: "recctl",
            dependencies: [
                "RecDB", "RecText", "RecML", "RecClient", "CEditline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Replication over NATS JetStream (libnats): the write log every recd node of a cluster applies in order.
        .target(name: "RecReplication", dependencies: ["CNATS", "RecDB", "RecWire"]),
        .executableTarget(
            name: "RecDaemon",
            dependencies: [
                "RecDB", "RecText", "RecWire", "RecReplication",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
        .target(name: "RecClient", dependencies: ["RecWire"]),
        // Helpers the test targets share: temporary folders, error expectations.
        .target(name: "RecTestSupport", dependencies: ["RecWire", "CRecSupport"], path: "Tests/RecTestSupport"),
        // The shop fixture the engine's and the text module's tests share.
        .target(name: "RecDBTestSupport", dependencies: ["RecDB", "RecTestSupport"], path: "Tests/RecDBTestSupport"),
        .testTarget(
            name: "RecStorageTests",
            dependencies: ["RecStorage", "RecTestSupport"]
        ),
        .testTarget(
            name: "RecWireTests",
            dependencies: ["RecWire"]
        ),
        .testTarget(
            name: "RecDaemonTests",
            dependencies: [
                "RecClient", "RecDaemon", "RecDB", "RecText", "RecML", "RecTestSupport",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "RecReplicationTests",
            dependencies: ["RecReplication", "RecDB", "RecTestSupport"]
        ),
        .testTarget(
            name: "RecDBTests",
            dependencies: ["RecDB", "RecNeural", "RecTestSupport", "RecDBTestSupport"]
        ),
        .testTarget(
            name: "RecTextTests",
            dependencies: ["RecText", "RecDB", "RecML", "RecTestSupport", "RecDBTestSupport"]
        ),
        .testTarget(
            name: "RecMLTests",
            dependencies: ["RecML"]
        ),
        .testTarget(
            name: "RecNeuralTests",
            dependencies: ["RecNeural"]
        ),
        .testTarget(
            name: "recctlTests",
            dependencies: ["RecDB", "recctl", "RecTestSupport"]
        ),
    ]
)
