import Foundation
import Testing
@testable import WebhookSignature

@Suite("Secrets and keys")
struct SecretTests {
    @Test func generatedStandardSecret() throws {
        let secret = SecretGenerator.standardSecret()
        let text = secret.exposeSecret()
        #expect(text.hasPrefix("whsec_"))
        #expect(Base64.decode(text.dropFirst(6))?.count == 32)
        #expect(try WebhookSecret(standard: text).exposeSecret() == text)
        #expect(SecretGenerator.standardSecret().exposeSecret() != text)
    }

    @Test func generatedNselfSecret() {
        let text = SecretGenerator.nselfSecret().exposeSecret()
        #expect(text.count == 64)
        #expect(text.allSatisfy { "0123456789abcdef".contains($0) })
    }

    @Test func generatedKeyPairRoundTrips() throws {
        let pair = SecretGenerator.ed25519KeyPair()
        let signing = pair.signingKey.exposeSecret()
        #expect(signing.hasPrefix("whsk_") && pair.verifyingKey.serialized.hasPrefix("whpk_"))
        #expect(try Ed25519SigningKey(signing).verifyingKey == pair.verifyingKey)
        #expect(try Ed25519VerifyingKey(pair.verifyingKey.serialized) == pair.verifyingKey)
    }

    @Test func messageIDs() {
        let id = SecretGenerator.messageID()
        #expect(id.hasPrefix("msg_") && id.count == 31)
        #expect(WebhookSigner.isValidID(id))
        #expect(SecretGenerator.messageID() != id)
        #expect(!WebhookSigner.isValidID("a.b") && !WebhookSigner.isValidID("") && !WebhookSigner.isValidID("a b")
            && !WebhookSigner.isValidID("a\nb") && !WebhookSigner.isValidID("é"))
    }

    @Test func secretsAreRedacted() throws {
        let secret = try WebhookSecret(standard: KnownAnswerTests.specSecret)
        let nself = WebhookSecret(nself: "hunter2-very-secret")
        let key = try Ed25519SigningKey(KnownAnswerTests.goSigningKey)
        for (value, needle) in [(String(describing: secret), "MfKQ9r8G"), (String(reflecting: secret), "MfKQ9r8G"),
                                ("\(nself)", "hunter2"), (String(reflecting: nself), "hunter2"),
                                ("\(key)", "VEVTVFNJR05J"), (String(reflecting: key), "VEVTVFNJR05J")] {
            #expect(!value.contains(needle))
            #expect(value.contains("redacted"))
        }
        for value in [secret as Any, nself, key] {
            var dumped = ""
            dump(value, to: &dumped)
            #expect(!dumped.contains("MfKQ9r8G") && !dumped.contains("hunter2") && !dumped.contains("VEVTVFNJR05J"))
            #expect(!String(describing: Mirror(reflecting: value).children.map(\.value)).contains("hunter2"))
        }
    }

    static let badStandard: [(String, WebhookSecretError)] = [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", .missingPrefix(expected: "whsec_")),
        ("whsec_", .empty),
        ("whsec_!!!!", .invalidBase64(prefix: "whsec_")),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaL", .invalidBase64(prefix: "whsec_")),
        ("whsec_MfKQ 9r8GKYqrTwjUPD8ILPZIo2LaLaSw", .invalidBase64(prefix: "whsec_")),
        ("WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", .missingPrefix(expected: "whsec_")),
    ]

    @Test(arguments: badStandard)
    func badStandardSecrets(text: String, expected: WebhookSecretError) {
        #expect(throws: expected) { try WebhookSecret(standard: text) }
        #expect(throws: expected) { try WebhookSigner(scheme: .standard, secrets: [text]) }
        #expect(throws: expected) { try WebhookVerifier(scheme: .standard, secrets: [text]) }
        // The error never carries the secret.
        #expect(!expected.description.contains("MfKQ9r8G"))
    }

    @Test func unpaddedBase64IsAccepted() throws {
        // 32 random bytes encode to 44 characters with one "=": both forms decode to the same key.
        let padded = SecretGenerator.standardSecret().exposeSecret()
        #expect(padded.hasSuffix("="))
        let unpadded = String(padded.dropLast())
        #expect(try WebhookSecret(standard: unpadded).exposeSecret() == padded)
    }

    @Test func badEd25519Keys() {
        #expect(throws: WebhookSecretError.missingPrefix(expected: "whsk_")) { try Ed25519SigningKey("AAAA") }
        #expect(throws: WebhookSecretError.invalidKeyLength(prefix: "whsk_", expected: "32 or 64", actual: 3)) { try Ed25519SigningKey("whsk_AAAA") }
        #expect(throws: WebhookSecretError.invalidBase64(prefix: "whpk_")) { try Ed25519VerifyingKey("whpk_%%%") }
        #expect(throws: WebhookSecretError.invalidKeyLength(prefix: "whpk_", expected: "32", actual: 3)) { try Ed25519VerifyingKey("whpk_AAAA") }
        // A 64-byte key whose public half does not match its seed.
        let mismatched = "whsk_" + Base64.encode([UInt8](repeating: 1, count: 64))
        #expect(throws: WebhookSecretError.invalidKey(prefix: "whsk_")) { try Ed25519SigningKey(mismatched) }
    }

    @Test func wrongKindForScheme() {
        let whsec = KnownAnswerTests.specSecret
        #expect(throws: WebhookSecretError.self) { try WebhookSigner(scheme: .ed25519, secrets: [whsec]) }
        #expect(throws: WebhookSecretError.self) { try WebhookSigner(scheme: .standard, secrets: [KnownAnswerTests.goVerifyingKey]) }
        #expect(throws: WebhookSecretError.self) { try WebhookVerifier(scheme: .ed25519, secrets: [whsec]) }
        #expect(throws: WebhookSecretError.self) { try WebhookVerifier(scheme: .ed25519, secrets: [KnownAnswerTests.goSigningKey]) }
        #expect(throws: WebhookSecretError.noSecrets) { try WebhookSigner(scheme: .standard, secrets: []) }
        #expect(throws: WebhookSecretError.noSecrets) { try WebhookVerifier(scheme: .standard, secrets: []) }
        #expect(throws: WebhookSecretError.missingPrefix(expected: "whpk_")) { try WebhookVerifier(scheme: .ed25519, secrets: ["abc"]) }
    }

    @Test func hexAndBase64Helpers() {
        #expect(Hex.encode([0x00, 0xAB, 0xFF]) == "00abff")
        #expect(Hex.decode("00ABff") == [0x00, 0xAB, 0xFF])
        #expect(Hex.decode("abc") == nil && Hex.decode("zz") == nil)
        #expect(Base64.decode("") == [])
        #expect(Base64.decode("AQ") == [1] && Base64.decode("AQ==") == [1])
        #expect(Base64.decode("A") == nil && Base64.decode("-_-_") == nil)
        #expect(Base64.decode("AQ=") == nil && Base64.decode("A===") == nil && Base64.decode("AQ=A") == nil && Base64.decode("AQ==\n") == nil)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
            let encoded = Base64.encode(bytes)
            #expect(encoded == Data(bytes).base64EncodedString())
            #expect(Base64.encode(bytes, after: "v1,") == "v1," + encoded)
            #expect(Base64.decode(encoded) == bytes)
            #expect(Base64.decode(String(encoded.prefix { $0 != "=" })) == bytes)
        }
        #expect(ConstantTime.equal([1, 2, 3], [1, 2, 3]) && !ConstantTime.equal([1, 2, 3], [1, 2, 4]) && !ConstantTime.equal([1], [1, 2]))
    }
}
