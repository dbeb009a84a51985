// libFuzzer target: EndpointsFile.parse over arbitrary file contents.
//
// The input is the file's text; input that is not UTF-8 is skipped, as EndpointsFile.load refuses it
// before parsing. `env:` secrets come from a fixed environment and `file:` secrets from a fixed
// in-memory directory: the target never touches the file system.
import Foundation
import WebhookRelay
import WebhookSignature

let source = "fuzz.yaml"
let environmentSecret = "whsec_RnV6ekVudmlyb25tZW50U2VjcmV0VmFsdWU="
let fileSecret = "whsec_RnV6ekZpbGVTZWNyZXRWYWx1ZQ=="
let environment = ["SECRET": environmentSecret, "NSELF": "nself-environment-secret-value", "EMPTY": ""]
let files: [String: [UInt8]] = [
    "/fuzz/secret.txt": Array((fileSecret + "\n").utf8),
    "/fuzz/nself.txt": Array("nself-file-secret-value\r\n".utf8),
    "/fuzz/empty.txt": [],
    "/fuzz/binary.txt": [0xC3, 0x28, 0xFF],
]
/// FUZZ_VERBOSE=1 prints each outcome (to reproduce a single input).
let verbose = ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] == "1"
let secretValues = [environmentSecret, fileSecret, "nself-environment-secret-value", "nself-file-secret-value"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let text = String(validating: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self) else { return -1 }
    do {
        let endpoints = try EndpointsFile.parse(
            text, source: source, environment: environment, baseDirectory: "/fuzz",
            readSecretFile: { path throws(ConfigurationError) in
                guard let bytes = files[path] else { throw ConfigurationError("No such file or directory") }
                return bytes
            }
        )
        if verbose { print("accepted:", endpoints.map(\.id)) }
        check(!endpoints.isEmpty, "no endpoints and no error")
        check(Set(endpoints.map(\.id)).count == endpoints.count, "duplicate ids accepted")
        for endpoint in endpoints {
            check(!endpoint.id.isEmpty && endpoint.id.utf8.count <= 249, "bad id accepted")
            check(endpoint.url.lowercased().hasPrefix("http"), "non-HTTP url accepted: \(endpoint.url)")
            check(endpoint.timeout > .zero && endpoint.timeout <= .seconds(300), "timeout out of range")
            check((1...10_000).contains(endpoint.maxInFlight), "max_in_flight out of range")
            check(endpoint.policy.circuit.failureThreshold >= 1 && endpoint.policy.circuit.successesToClose >= 1, "circuit counts")
            check(endpoint.policy.circuit.openDuration > .zero && endpoint.policy.circuitMaxAge > .zero, "circuit durations")
            if let rate = endpoint.policy.rateLimit {
                check(rate.count >= 1 && rate.period > .zero, "rate limit out of range")
                check(RateLimit.Rate(rate.description) == rate, "rate limit does not round-trip: \(rate)")
            }
            for (name, value) in endpoint.headers {
                check(!name.isEmpty && !value.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "bad static header")
            }
            _ = endpoint.accepts(event: "order.created")
            _ = endpoint.accepts(event: String(repeating: "a", count: 64))
            do {
                _ = try endpoint.signer.headers(id: "msg_1", timestamp: 1_700_000_000, event: "order.created", body: [UInt8]("{}".utf8))
            } catch {
                fatalError("an accepted endpoint cannot sign: \(error)")
            }
        }
    } catch {
        if verbose { print("error:", error.message) }
        // A clear error: it names the file, says something, and never shows a secret.
        check(error.message.hasPrefix(source + ":"), "error does not name the file: \(error.message)")
        check(error.message.utf8.count > source.utf8.count + 2, "empty error")
        // One short line for a log: no control characters (a line break would split the log record),
        // and no echo of a whole field or file.
        check(!error.message.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0 == "\u{2028}" || $0 == "\u{2029}" },
              "control character in: \(error.message.debugDescription)")
        check(error.message.utf8.count <= 512, "error of \(error.message.utf8.count) bytes")
        for secret in secretValues {
            check(!error.message.contains(secret), "a secret leaked into: \(error.message)")
        }
    }
    return 0
}

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
