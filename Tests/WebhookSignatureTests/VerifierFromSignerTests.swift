import Foundation
import Testing
import WebhookSignature

/// `WebhookVerifier(accepting:)`: a receiver configured from the sender's own endpoints file.
@Suite("Verifier from a signer")
struct VerifierFromSignerTests {
    static let body = Array(#"{"order":42}"#.utf8)

    @Test(arguments: [SignatureScheme.standard, .nself, .ed25519])
    func acceptsWhatTheSignerSigns(_ scheme: SignatureScheme) throws {
        let secrets: [String] = switch scheme {
        case .standard: [SecretGenerator.standardSecret().exposeSecret(), SecretGenerator.ed25519KeyPair().signingKey.exposeSecret()]
        case .nself: [SecretGenerator.nselfSecret().exposeSecret()]
        case .ed25519: [SecretGenerator.ed25519KeyPair().signingKey.exposeSecret()]
        }
        let signer = try WebhookSigner(scheme: scheme, secrets: secrets)
        let verifier = try WebhookVerifier(accepting: signer)
        #expect(verifier.scheme == scheme)
        let now = Int64(Date().timeIntervalSince1970)
        let headers = try signer.headers(id: "msg_1", timestamp: now, event: "order.created", body: Self.body)
        let verified = try verifier.verify(headers: WebhookHeaders(headers), body: Self.body)
        #expect(verified.id == "msg_1")
        // A changed body, or another signer's secrets, must not verify.
        #expect(throws: WebhookVerificationError.self) {
            try verifier.verify(headers: WebhookHeaders(headers), body: Self.body + [0x20])
        }
        let other = try WebhookSigner(scheme: scheme, secrets: scheme == .nself ? ["another"] : [
            scheme == .standard ? SecretGenerator.standardSecret().exposeSecret() : SecretGenerator.ed25519KeyPair().signingKey.exposeSecret()
        ])
        let forged = try other.headers(id: "msg_1", timestamp: now, event: "order.created", body: Self.body)
        #expect(throws: WebhookVerificationError.self) { try verifier.verify(headers: WebhookHeaders(forged), body: Self.body) }
    }

    @Test func anUnsignedNselfSignerHasNothingToVerify() throws {
        let signer = try WebhookSigner(scheme: .nself, secrets: [""])
        #expect(throws: WebhookSecretError.empty) { try WebhookVerifier(accepting: signer) }
    }
}
