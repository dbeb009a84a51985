import Foundation
import Testing
@testable import WebhookSignature

@Suite("Standard Webhooks verification")
struct StandardVerificationTests {
    static let id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
    static let timestamp: Int64 = 1_674_087_231
    static let body = Array(#"{"type":"contact.created","data":{"id":"1f81eb52"}}"#.utf8)
    static let now = Date(timeIntervalSince1970: 1_674_087_231)

    static func signedHeaders(secrets: [String], scheme: SignatureScheme = .standard,
                              id: String = id, timestamp: Int64 = timestamp) throws -> WebhookHeaders {
        let signer = try WebhookSigner(scheme: scheme, secrets: secrets)
        return WebhookHeaders(try signer.headers(id: id, timestamp: timestamp, body: body))
    }

    @Test func rotationSignsOncePerSecretAndEitherVerifies() throws {
        let old = SecretGenerator.standardSecret().exposeSecret()
        let new = SecretGenerator.standardSecret().exposeSecret()
        let headers = try Self.signedHeaders(secrets: [new, old])
        let signatures = try #require(headers["webhook-signature"]).split(separator: " ")
        #expect(signatures.count == 2)
        #expect(signatures.allSatisfy { $0.hasPrefix("v1,") })
        for accepted in [[old], [new], [old, new]] {
            try WebhookVerifier(scheme: .standard, secrets: accepted).verify(headers: headers, body: Self.body, now: Self.now)
        }
        let stranger = SecretGenerator.standardSecret().exposeSecret()
        #expect(throws: WebhookVerificationError.noSignatureMatched) {
            try WebhookVerifier(scheme: .standard, secrets: [stranger]).verify(headers: headers, body: Self.body, now: Self.now)
        }
    }

    @Test func mixedSymmetricAndAsymmetricSignatures() throws {
        let secret = SecretGenerator.standardSecret().exposeSecret()
        let pair = SecretGenerator.ed25519KeyPair()
        let headers = try Self.signedHeaders(secrets: [secret, pair.signingKey.exposeSecret()])
        let value = try #require(headers["webhook-signature"])
        #expect(value.hasPrefix("v1,") && value.contains(" v1a,"))
        try WebhookVerifier(scheme: .standard, secrets: [secret]).verify(headers: headers, body: Self.body, now: Self.now)
        try WebhookVerifier(scheme: .ed25519, secrets: [pair.verifyingKey.serialized]).verify(headers: headers, body: Self.body, now: Self.now)
    }

    @Test func anyMatchingSignatureAmongJunkIsEnough() throws {
        // As test_multi_sig_payload_is_valid in the specification repository.
        let secret = KnownAnswerTests.specSecret
        let headers: WebhookHeaders = [
            "webhook-id": KnownAnswerTests.specID, "webhook-timestamp": "1614265330",
            "webhook-signature": [
                "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=", "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
                "garbage", "v1,!!!", KnownAnswerTests.specSignature, "v1a,AAAA",
            ].joined(separator: " "),
        ]
        try WebhookVerifier(scheme: .standard, secrets: [secret])
            .verify(headers: headers, body: KnownAnswerTests.specPayload, now: Date(timeIntervalSince1970: 1_614_265_330))
    }

    @Test(arguments: [
        (Int64(-300), true), (-301, false), (300, true), (301, false), (0, true),
    ])
    func toleranceEdges(offset: Int64, valid: Bool) throws {
        let secret = SecretGenerator.standardSecret().exposeSecret()
        let headers = try Self.signedHeaders(secrets: [secret], timestamp: Self.timestamp + offset)
        let verifier = try WebhookVerifier(scheme: .standard, secrets: [secret])
        if valid {
            try verifier.verify(headers: headers, body: Self.body, now: Self.now)
        } else {
            #expect(throws: WebhookVerificationError.timestampOutsideTolerance(
                timestamp: Self.timestamp + offset, now: Self.timestamp, tolerance: .seconds(300))) {
                try verifier.verify(headers: headers, body: Self.body, now: Self.now)
            }
        }
    }

    @Test func customToleranceAndNoTolerance() throws {
        let secret = SecretGenerator.standardSecret().exposeSecret()
        let headers = try Self.signedHeaders(secrets: [secret], timestamp: Self.timestamp - 3600)
        let strict = try WebhookVerifier(scheme: .standard, secrets: [secret], configuration: .init(tolerance: .seconds(10)))
        #expect(throws: WebhookVerificationError.self) { try strict.verify(headers: headers, body: Self.body, now: Self.now) }
        let lax = try WebhookVerifier(scheme: .standard, secrets: [secret], configuration: .init(tolerance: nil))
        try lax.verify(headers: headers, body: Self.body, now: Self.now)
        // Fractional "now" rounds down.
        let edge = try Self.signedHeaders(secrets: [secret], timestamp: Self.timestamp)
        try WebhookVerifier(scheme: .standard, secrets: [secret], configuration: .init(tolerance: .zero))
            .verify(headers: edge, body: Self.body, now: Date(timeIntervalSince1970: 1_674_087_231.9))
    }

    @Test func tamperedBodyFails() throws {
        let secret = SecretGenerator.standardSecret().exposeSecret()
        let headers = try Self.signedHeaders(secrets: [secret])
        var tampered = Self.body
        tampered[tampered.count - 2] ^= 0x01
        #expect(throws: WebhookVerificationError.noSignatureMatched) {
            try WebhookVerifier(scheme: .standard, secrets: [secret]).verify(headers: headers, body: tampered, now: Self.now)
        }
        #expect(throws: WebhookVerificationError.noSignatureMatched) {
            try WebhookVerifier(scheme: .standard, secrets: [secret]).verify(headers: headers, body: Self.body + [0x20], now: Self.now)
        }
    }

    @Test func tamperedIDAndTimestampFail() throws {
        let secret = SecretGenerator.standardSecret().exposeSecret()
        let verifier = try WebhookVerifier(scheme: .standard, secrets: [secret])
        var headers = try Self.signedHeaders(secrets: [secret])
        let signature = try #require(headers["webhook-signature"])
        headers = ["webhook-id": Self.id + "x", "webhook-timestamp": String(Self.timestamp), "webhook-signature": signature]
        #expect(throws: WebhookVerificationError.noSignatureMatched) { try verifier.verify(headers: headers, body: Self.body, now: Self.now) }
        headers = ["webhook-id": Self.id, "webhook-timestamp": String(Self.timestamp + 1), "webhook-signature": signature]
        #expect(throws: WebhookVerificationError.noSignatureMatched) { try verifier.verify(headers: headers, body: Self.body, now: Self.now) }
    }

    @Test func tamperedEd25519Fails() throws {
        let pair = SecretGenerator.ed25519KeyPair()
        let headers = try Self.signedHeaders(secrets: [pair.signingKey.exposeSecret()], scheme: .ed25519)
        let verifier = try WebhookVerifier(scheme: .ed25519, secrets: [pair.verifyingKey.serialized])
        try verifier.verify(headers: headers, body: Self.body, now: Self.now)
        #expect(throws: WebhookVerificationError.noSignatureMatched) { try verifier.verify(headers: headers, body: Self.body + [0x0A], now: Self.now) }
        let other = try WebhookVerifier(scheme: .ed25519, secrets: [SecretGenerator.ed25519KeyPair().verifyingKey.serialized])
        #expect(throws: WebhookVerificationError.noSignatureMatched) { try other.verify(headers: headers, body: Self.body, now: Self.now) }
        // A symmetric verifier ignores v1a entries.
        #expect(throws: WebhookVerificationError.noSignatureMatched) {
            try WebhookVerifier(scheme: .standard, secrets: [SecretGenerator.standardSecret().exposeSecret()]).verify(headers: headers, body: Self.body, now: Self.now)
        }
    }

    @Test func headerLookupIsCaseInsensitive() throws {
        let secret = SecretGenerator.standardSecret().exposeSecret()
        let signed = try Self.signedHeaders(secrets: [secret])
        let shouted = WebhookHeaders(signed.pairs.map { (name: $0.name.uppercased(), value: $0.value) })
        try WebhookVerifier(scheme: .standard, secrets: [secret]).verify(headers: shouted, body: Self.body, now: Self.now)
        let mixed = WebhookHeaders(signed.pairs.map { (name: "Webhook-" + $0.name.dropFirst(8).capitalized, value: $0.value) })
        try WebhookVerifier(scheme: .standard, secrets: [secret]).verify(headers: mixed, body: Self.body, now: Self.now)
    }

    static let malformed: [(String, String, String, WebhookVerificationError)] = [
        ("", "1674087231", "v1,AAAA", .malformedHeader("webhook-id", reason: "empty value")),
        (id, "", "v1,AAAA", .malformedHeader("webhook-timestamp", reason: "empty value")),
        (id, "1674087231", "", .malformedHeader("webhook-signature", reason: "empty value")),
        (id, "1674087231", "   ", .malformedHeader("webhook-signature", reason: "empty value")),
        (id, "hello", "v1,AAAA", .malformedHeader("webhook-timestamp", reason: "expected unix seconds (1 to 18 digits, no leading zero)")),
        (id, "99999999999999999999999999", "v1,AAAA", .malformedHeader("webhook-timestamp", reason: "expected unix seconds (1 to 18 digits, no leading zero)")),
        (id, "9223372036854775807", "v1,AAAA", .malformedHeader("webhook-timestamp", reason: "expected unix seconds (1 to 18 digits, no leading zero)")),
        (id, "-1674087231", "v1,AAAA", .malformedHeader("webhook-timestamp", reason: "expected unix seconds (1 to 18 digits, no leading zero)")),
        (id, "1674087231.5", "v1,AAAA", .malformedHeader("webhook-timestamp", reason: "expected unix seconds (1 to 18 digits, no leading zero)")),
        (id, "1e9", "v1,AAAA", .malformedHeader("webhook-timestamp", reason: "expected unix seconds (1 to 18 digits, no leading zero)")),
        // The official libraries sign the number, not the text: "01674087231" would verify here only.
        (id, "01674087231", "v1,AAAA", .malformedHeader("webhook-timestamp", reason: "expected unix seconds (1 to 18 digits, no leading zero)")),
        (id, "1674087231", "v1,***not base64***", .malformedHeader("webhook-signature", reason: "no entry of the form <version>,<base64>")),
        (id, "1674087231", "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", .malformedHeader("webhook-signature", reason: "no entry of the form <version>,<base64>")),
        (id, "1674087231", "v1,", .malformedHeader("webhook-signature", reason: "no entry of the form <version>,<base64>")),
        (id, "1674087231", ",AAAA", .malformedHeader("webhook-signature", reason: "no entry of the form <version>,<base64>")),
        (id, "1674087231", "v1,A", .malformedHeader("webhook-signature", reason: "no entry of the form <version>,<base64>")),
        (id, "1674087231", "v1,AAAA", .noSignatureMatched),
        (id, "999999999999999999", "v1,AAAA", .timestampOutsideTolerance(timestamp: 999_999_999_999_999_999, now: 1_674_087_231, tolerance: .seconds(300))),
    ]

    @Test(arguments: malformed)
    func malformedInputsFailWithReason(id: String, timestamp: String, signature: String, expected: WebhookVerificationError) throws {
        let verifier = try WebhookVerifier(scheme: .standard, secrets: [KnownAnswerTests.specSecret])
        let headers: WebhookHeaders = ["webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": signature]
        #expect(throws: expected) { try verifier.verify(headers: headers, body: Self.body, now: Self.now) }
    }

    @Test(arguments: ["webhook-id", "webhook-timestamp", "webhook-signature"])
    func missingHeader(name: String) throws {
        let secret = SecretGenerator.standardSecret().exposeSecret()
        let signed = try Self.signedHeaders(secrets: [secret])
        let headers = WebhookHeaders(fields: signed.fields.filter { $0.name != name })
        #expect(throws: WebhookVerificationError.missingHeader(name)) {
            try WebhookVerifier(scheme: .standard, secrets: [secret]).verify(headers: headers, body: Self.body, now: Self.now)
        }
    }

    @Test func hugeTimestampDoesNotOverflow() throws {
        let verifier = try WebhookVerifier(scheme: .standard, secrets: [KnownAnswerTests.specSecret])
        let headers: WebhookHeaders = ["webhook-id": Self.id, "webhook-timestamp": "999999999999999999", "webhook-signature": "v1,AAAA"]
        #expect(throws: WebhookVerificationError.self) { try verifier.verify(headers: headers, body: Self.body, now: .distantPast) }
        #expect(throws: WebhookVerificationError.self) { try verifier.verify(headers: headers, body: Self.body, now: Date(timeIntervalSince1970: -1e300)) }
        #expect(throws: WebhookVerificationError.self) { try verifier.verify(headers: headers, body: Self.body, now: Date(timeIntervalSince1970: .infinity)) }
    }

    @Test func emptyBodyAndLargeBodyRoundTrip() throws {
        let secret = SecretGenerator.standardSecret().exposeSecret()
        let signer = try WebhookSigner(scheme: .standard, secrets: [secret])
        let verifier = try WebhookVerifier(scheme: .standard, secrets: [secret])
        for body in [[UInt8](), [UInt8](repeating: 0xFF, count: 1 << 20)] {
            let headers = try signer.headers(id: Self.id, timestamp: Self.timestamp, body: body)
            try verifier.verify(headers: WebhookHeaders(headers), body: body, now: Self.now)
            try verifier.verify(headers: WebhookHeaders(headers), body: Data(body), now: Self.now)
        }
    }
}
