// swift-tools-version: 6.1
// The Swift side of bench/text/run: a release executable that encodes a file of texts with RecML's MiniLMEncoder.
// It depends on the RecDB package two folders up by path; the package identity of a path dependency is that
// folder's name, whatever the clone is called, so it is computed here.
import Foundation
import PackageDescription

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("../../..").standardized
let rootIdentity = root.lastPathComponent

let package = Package(
    name: "minilm-bench",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: root.path)],
    targets: [
        .executableTarget(
            name: "minilm-bench",
            dependencies: [.product(name: "RecML", package: rootIdentity)]
        ),
        .executableTarget(
            name: "text-latency",
            dependencies: [
                .product(name: "RecDB", package: rootIdentity), .product(name: "RecText", package: rootIdentity),
                .product(name: "RecClient", package: rootIdentity),
            ]
        ),
    ]
)
