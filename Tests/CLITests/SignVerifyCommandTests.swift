import Foundation
import Testing

/// `webhook-relay secret generate`, `sign` and `verify`, run as a subprocess.
@Suite("sign / verify CLI")
struct SignVerifyCommandTests {
    static let body = Data(#"{"type":"user.created","data":{"id":"42"}}"#.utf8)

    /// Turns `sign` output into `--header` arguments for `verify`.
    static func headerArguments(_ signOutput: String) -> [String] {
        signOutput.split(separator: "\n").flatMap { ["--header", String($0)] }
    }

    static func generate(_ scheme: String) throws -> [String] {
        let result = try ProcessRunner.run(["secret", "generate", "--scheme", scheme])
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").map(String.init)
    }

    /// (scheme, signing secret, verifying secret) for each of the three signature kinds.
    static func keys(_ scheme: String) throws -> (sign: String, verify: String) {
        let lines = try generate(scheme)
        switch scheme {
        case "ed25519":
            return (lines[0], lines[1])
        default:
            return (lines[0], lines[0])
        }
    }

    @Test(arguments: ["standard", "nself", "ed25519"])
    func signThenVerifyRoundTrips(scheme: String) throws {
        let (signing, verifying) = try Self.keys(scheme)
        let signed = try ProcessRunner.run(
            ["sign", "--scheme", scheme, "--secret", signing, "--event", "user.created"], stdin: Self.body)
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(!signed.stderr.contains(signing) && !signed.stdout.contains(signing))
        let headers = Self.headerArguments(signed.stdout)

        let verified = try ProcessRunner.run(["verify", "--scheme", scheme, "--secret", verifying] + headers, stdin: Self.body)
        #expect(verified.status == 0, "\(verified.stderr)")

        var tampered = Self.body
        tampered.append(0x20)
        let rejected = try ProcessRunner.run(["verify", "--scheme", scheme, "--secret", verifying] + headers, stdin: tampered)
        #expect(rejected.status == 1)
        #expect(rejected.stderr.contains("no signature matched"))
        #expect(!rejected.stderr.contains(verifying))
    }

    @Test func knownAnswerThroughTheCLI() throws {
        // The Standard Webhooks specification repository's vector (libraries/python/tests/test_webhooks.py).
        let signed = try ProcessRunner.run(
            ["sign", "--scheme", "standard", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
             "--id", "msg_p5jXN8AQM9LWM0D4loKWxJek", "--timestamp", "1614265330"],
            stdin: Data(#"{"test": 2432232314}"#.utf8))
        #expect(signed.status == 0)
        #expect(signed.stdout == """
            webhook-id: msg_p5jXN8AQM9LWM0D4loKWxJek
            webhook-timestamp: 1614265330
            webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=

            """)
        // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'secret'
        let nself = try ProcessRunner.run(
            ["sign", "--scheme", "nself", "--secret", "secret", "--id", "d-1", "--timestamp", "1700000000", "--event", "user.created"],
            stdin: Data(#"{"a":1}"#.utf8))
        #expect(nself.stdout == """
            X-Nself-Signature-256: sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686
            X-Nself-Delivery: d-1
            X-Nself-Event: user.created
            X-Nself-Timestamp: 1700000000
            Content-Type: application/json

            """)
    }

    @Test func secretFromEnvironmentAndFile() throws {
        let (secret, _) = try Self.keys("standard")
        let signed = try ProcessRunner.run(["sign", "--scheme", "standard"], stdin: Self.body, environment: ["WEBHOOK_SECRET": secret])
        #expect(signed.status == 0, "\(signed.stderr)")

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)")
        try Data("\(secret)\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let verified = try ProcessRunner.run(
            ["verify", "--scheme", "standard", "--secret-file", file.path] + Self.headerArguments(signed.stdout),
            stdin: Self.body, environment: ["WEBHOOK_SECRET": nil])
        #expect(verified.status == 0, "\(verified.stderr)")

        let custom = try ProcessRunner.run(
            ["verify", "--scheme", "standard", "--secret-env", "MY_SECRET"] + Self.headerArguments(signed.stdout),
            stdin: Self.body, environment: ["MY_SECRET": secret])
        #expect(custom.status == 0, "\(custom.stderr)")
    }

    @Test func toleranceAndReasons() throws {
        let (secret, _) = try Self.keys("standard")
        let signed = try ProcessRunner.run(
            ["sign", "--scheme", "standard", "--secret", secret, "--id", "msg_1", "--timestamp", "1700000000"], stdin: Self.body)
        let headers = Self.headerArguments(signed.stdout)
        let late = try ProcessRunner.run(
            ["verify", "--scheme", "standard", "--secret", secret, "--now", "1700000301"] + headers, stdin: Self.body)
        #expect(late.status == 1)
        #expect(late.stderr.contains("outside the tolerance"))
        let lenient = try ProcessRunner.run(
            ["verify", "--scheme", "standard", "--secret", secret, "--now", "1700000301", "--tolerance", "301"] + headers, stdin: Self.body)
        #expect(lenient.status == 0, "\(lenient.stderr)")
        let missing = try ProcessRunner.run(
            ["verify", "--scheme", "standard", "--secret", secret, "--header", "webhook-id: msg_1"], stdin: Self.body)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("missing header webhook-timestamp"))
    }

    @Test(arguments: [
        (["sign", "--scheme", "bogus", "--secret", "x"], "--scheme"),
        (["sign", "--scheme", "standard"], "no secret given"),
        (["sign", "--scheme", "standard", "--secret", "not-a-whsec-secret"], "whsec_"),
        (["sign", "--scheme", "ed25519", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "whsk_"),
        (["sign", "--scheme", "nself", "--secret", "s"], "--event"),
        (["sign", "--scheme", "standard", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--id", "a.b"], "--id"),
        (["sign", "--scheme", "standard", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--timestamp", "soon"], "--timestamp"),
        (["verify", "--scheme", "standard", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "--header", "no colon"], "--header"),
        (["verify", "--scheme", "ed25519", "--secret", "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="], "whpk_"),
        (["verify", "--scheme", "standard", "--secret-file", "/nonexistent/secret"], "--secret-file"),
    ])
    func badFlagsFailFast(arguments: [String], mentions: String) throws {
        let result = try ProcessRunner.run(arguments, stdin: Self.body, environment: ["WEBHOOK_SECRET": nil])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains(mentions), "\(result.stderr)")
        #expect(!result.stderr.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") && !result.stderr.contains("VEVTVFNJR05J"))
    }
}
