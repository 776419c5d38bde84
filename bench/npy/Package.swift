// swift-tools-version: 6.1
// Reading and writing NumPy .npy arrays for the benches' Swift executables (bench/ann/swift, bench/models/swift):
// one small package both depend on, kept out of the main package so tests and CI never build it.
import PackageDescription

let package = Package(
    name: "npy",
    platforms: [.macOS(.v15)],
    products: [.library(name: "BenchNPY", targets: ["BenchNPY"])],
    targets: [.target(name: "BenchNPY")],
    swiftLanguageModes: [.v5]
)
