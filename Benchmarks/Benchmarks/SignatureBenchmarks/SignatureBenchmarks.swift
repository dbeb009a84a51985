import Benchmark
import Foundation
import WebhookSignature

/// Signing (and Standard Webhooks verification) of a 1 KiB body, per scheme. Each benchmark
/// iteration runs the operation 1,000 times (`scalingFactor: .kilo`), so the reported wall-clock
/// figures are nanoseconds per single signature.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 10_000
    )

    let body = [UInt8]((0..<1024).map { UInt8(truncatingIfNeeded: 0x20 + $0 % 90) })
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    let timestamp: Int64 = 1_700_000_000
    let standardSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    let signingKey = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="

    Benchmark("sign standard (HMAC-SHA256, 1 KiB)") { benchmark in
        let signer = try WebhookSigner(scheme: .standard, secrets: [standardSecret])
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try signer.headers(id: id, timestamp: timestamp, body: body))
        }
    }

    Benchmark("sign nself (HMAC-SHA256 hex, 1 KiB)") { benchmark in
        let signer = try WebhookSigner(scheme: .nself, secrets: ["nself-benchmark-secret"])
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try signer.headers(id: id, timestamp: timestamp, event: "user.created", body: body))
        }
    }

    Benchmark("sign ed25519 (v1a, 1 KiB)") { benchmark in
        let signer = try WebhookSigner(scheme: .ed25519, secrets: [signingKey])
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try signer.headers(id: id, timestamp: timestamp, body: body))
        }
    }

    Benchmark("verify standard (HMAC-SHA256, 1 KiB)") { benchmark in
        let signer = try WebhookSigner(scheme: .standard, secrets: [standardSecret])
        let verifier = try WebhookVerifier(scheme: .standard, secrets: [standardSecret], configuration: .init(tolerance: nil))
        let headers = WebhookHeaders(try signer.headers(id: id, timestamp: timestamp, body: body))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try verifier.verify(headers: headers, body: body))
        }
    }
}
