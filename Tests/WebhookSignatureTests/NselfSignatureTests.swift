import Foundation
import Testing
@testable import WebhookSignature

@Suite("nSelf signatures")
struct NselfSignatureTests {
    static let body = Array(#"{"a":1}"#.utf8)
    static let signedAt = Date(timeIntervalSince1970: 1_700_000_000)
    // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'secret'
    static let signature = "sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"

    static func headers(signature: String? = signature, timestamp: String = "1700000000") -> WebhookHeaders {
        var headers = WebhookHeaders()
        if let signature { headers.append(name: "X-Nself-Signature-256", value: signature) }
        headers.append(name: "X-Nself-Delivery", value: "d-1")
        headers.append(name: "X-Nself-Event", value: "user.created")
        headers.append(name: "X-Nself-Timestamp", value: timestamp)
        return headers
    }

    @Test func emptySecretMeansUnsigned() throws {
        let signer = try WebhookSigner(scheme: .nself, secrets: [""])
        let headers = try signer.headers(id: "d-1", timestamp: 1_700_000_000, event: "e", body: Self.body)
        #expect(headers.map(\.name) == ["X-Nself-Delivery", "X-Nself-Event", "X-Nself-Timestamp", "Content-Type"])
        #expect(try WebhookSigner(scheme: .nself, secrets: []).signature(id: "d", timestamp: 1, body: Self.body) == nil)
        #expect(NselfSignature.signature(secret: WebhookSecret(nself: ""), timestamp: 1, body: Self.body) == nil)
        #expect(throws: WebhookSecretError.empty) { try WebhookVerifier(scheme: .nself, secrets: [""]) }
    }

    /// Issue 15: nSelf verification checked no time by default, so a 30-day-old signature verified.
    @Test func fiveMinutesToleranceByDefaultAndNoneOnRequest() throws {
        let monthLater = Date(timeIntervalSince1970: 1_700_000_000 + 30 * 86_400)
        #expect(throws: WebhookVerificationError.timestampOutsideTolerance(timestamp: 1_700_000_000, now: 1_702_592_000, tolerance: .seconds(300))) {
            try WebhookVerifier(scheme: .nself, secrets: ["secret"]).verify(headers: Self.headers(), body: Self.body, now: monthLater)
        }
        let original = try WebhookVerifier(scheme: .nself, secrets: ["secret"], configuration: .init(tolerance: nil))
        try original.verify(headers: Self.headers(), body: Self.body, now: monthLater)
        let strict = try WebhookVerifier(scheme: .nself, secrets: ["secret"])
        try strict.verify(headers: Self.headers(), body: Self.body, now: Date(timeIntervalSince1970: 1_700_000_300))
        #expect(throws: WebhookVerificationError.timestampOutsideTolerance(timestamp: 1_700_000_000, now: 1_700_000_301, tolerance: .seconds(300))) {
            try strict.verify(headers: Self.headers(), body: Self.body, now: Date(timeIntervalSince1970: 1_700_000_301))
        }
    }

    @Test func rotationAcceptsAnySecretAndSignsWithFirst() throws {
        try WebhookVerifier(scheme: .nself, secrets: ["new-secret", "secret"]).verify(headers: Self.headers(), body: Self.body, now: Self.signedAt)
        let signer = try WebhookSigner(scheme: .nself, secrets: ["secret", "other"])
        #expect(try signer.signature(id: "d-1", timestamp: 1_700_000_000, body: Self.body) == Self.signature)
    }

    @Test func uppercaseHexIsAccepted() throws {
        let upper = "sha256=" + Self.signature.dropFirst(7).uppercased()
        try WebhookVerifier(scheme: .nself, secrets: ["secret"]).verify(headers: Self.headers(signature: upper), body: Self.body, now: Self.signedAt)
    }

    @Test func tamperedInputsFail() throws {
        let verifier = try WebhookVerifier(scheme: .nself, secrets: ["secret"])
        #expect(throws: WebhookVerificationError.noSignatureMatched) { try verifier.verify(headers: Self.headers(), body: Array(#"{"a":2}"#.utf8), now: Self.signedAt) }
        #expect(throws: WebhookVerificationError.noSignatureMatched) { try verifier.verify(headers: Self.headers(timestamp: "1700000001"), body: Self.body, now: Self.signedAt) }
        #expect(throws: WebhookVerificationError.noSignatureMatched) {
            try WebhookVerifier(scheme: .nself, secrets: ["Secret"]).verify(headers: Self.headers(), body: Self.body, now: Self.signedAt)
        }
    }

    static let malformed: [(String?, String, WebhookVerificationError)] = [
        (nil, "1700000000", .missingHeader("X-Nself-Signature-256")),
        ("", "1700000000", .malformedHeader("X-Nself-Signature-256", reason: "empty value")),
        ("49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686", "1700000000", .malformedHeader("X-Nself-Signature-256", reason: "missing sha256= prefix")),
        ("sha1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686", "1700000000", .malformedHeader("X-Nself-Signature-256", reason: "missing sha256= prefix")),
        ("sha256=49f24e", "1700000000", .malformedHeader("X-Nself-Signature-256", reason: "expected 64 hex digits after sha256=")),
        ("sha256=zzf24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686", "1700000000", .malformedHeader("X-Nself-Signature-256", reason: "expected 64 hex digits after sha256=")),
        (signature, "", .malformedHeader("X-Nself-Timestamp", reason: "empty value")),
        (signature, "17000000000000000000000", .malformedHeader("X-Nself-Timestamp", reason: "expected unix seconds (1 to 18 digits, no leading zero)")),
    ]

    @Test(arguments: malformed)
    func malformedInputs(signature: String?, timestamp: String, expected: WebhookVerificationError) throws {
        let verifier = try WebhookVerifier(scheme: .nself, secrets: ["secret"])
        #expect(throws: expected) { try verifier.verify(headers: Self.headers(signature: signature, timestamp: timestamp), body: Self.body, now: Self.signedAt) }
    }

    @Test func missingTimestamp() throws {
        let headers = WebhookHeaders(fields: Self.headers().fields.filter { $0.name != "X-Nself-Timestamp" })
        #expect(throws: WebhookVerificationError.missingHeader("X-Nself-Timestamp")) {
            try WebhookVerifier(scheme: .nself, secrets: ["secret"]).verify(headers: headers, body: Self.body, now: Self.signedAt)
        }
    }

    @Test func lowercaseHeaderNames() throws {
        let lower = WebhookHeaders(Self.headers().pairs.map { (name: $0.name.lowercased(), value: $0.value) })
        let result = try WebhookVerifier(scheme: .nself, secrets: ["secret"]).verify(headers: lower, body: Self.body, now: Self.signedAt)
        #expect(result.event == "user.created" && result.id == "d-1")
    }

    @Test func eventHeaderOmittedWhenNil() throws {
        let headers = try WebhookSigner(scheme: .nself, secrets: ["secret"]).headers(id: "d", timestamp: 1, body: Self.body)
        #expect(!headers.contains { $0.name == "X-Nself-Event" })
    }
}
