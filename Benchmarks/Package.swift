// swift-tools-version: 6.1
// Micro-benchmarks for webhook-relay, kept out of the root package so that building and testing
// the project never pulls in the benchmark harness. Run with scripts/bench/micro.sh (`make bench`).
import Foundation
import PackageDescription

// SwiftPM names a path dependency after its directory, so the root package's identity is the name
// of whatever folder the repository was cloned into.
let rootPackage = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "webhook-relay-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "SignatureBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "WebhookSignature", package: rootPackage),
            ],
            path: "Benchmarks/SignatureBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
        .executableTarget(
            name: "DeliveryBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "WebhookRelay", package: rootPackage),
                .product(name: "Kafka", package: rootPackage),
            ],
            path: "Benchmarks/DeliveryBenchmarks",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
