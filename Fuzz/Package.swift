// swift-tools-version: 6.1
// libFuzzer targets for webhook-relay's parsers, kept out of the root package so that building and
// testing the project never compiles them. Run with scripts/fuzz.sh (`make soak`), which builds this
// package with `--sanitize fuzzer -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=address` so
// that every module, the root package's and its dependencies' included, is compiled with coverage
// instrumentation and AddressSanitizer (see the script for why not `--sanitize address`). The
// targets themselves only add `-parse-as-library`: libFuzzer's runtime supplies `main`.
import Foundation
import PackageDescription

// SwiftPM names a path dependency after its directory, so the root package's identity is the name
// of whatever folder the repository was cloned into.
let rootPackage = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let fuzzerSettings: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "webhook-relay-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "FuzzRecordDecoder",
            dependencies: [
                .product(name: "WebhookRelay", package: rootPackage),
                .product(name: "Kafka", package: rootPackage),
                .product(name: "WebhookSignature", package: rootPackage),
            ],
            swiftSettings: fuzzerSettings
        ),
        .executableTarget(
            name: "FuzzEndpointsFile",
            dependencies: [
                .product(name: "WebhookRelay", package: rootPackage),
                .product(name: "WebhookSignature", package: rootPackage),
            ],
            swiftSettings: fuzzerSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
