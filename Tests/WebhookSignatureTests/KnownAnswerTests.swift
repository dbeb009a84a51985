import Foundation
import Testing
@testable import WebhookSignature

/// Known-answer vectors computed outside Swift.
@Suite("Known-answer vectors")
struct KnownAnswerTests {
    // From the Standard Webhooks specification repository,
    // standard-webhooks/standard-webhooks libraries/python/tests/test_webhooks.py (test_sign_function),
    // also checked with:
    //   python3 -c 'import hmac,hashlib,base64; k=base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    //     print(base64.b64encode(hmac.new(k, b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}",
    //     hashlib.sha256).digest()).decode())'
    //   → g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
    static let specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let specID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let specTimestamp: Int64 = 1_614_265_330
    static let specPayload = Array(#"{"test": 2432232314}"#.utf8)
    static let specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

    @Test func standardSpecVectorSigns() throws {
        let signer = try WebhookSigner(scheme: .standard, secrets: [Self.specSecret])
        let headers = try signer.headers(id: Self.specID, timestamp: Self.specTimestamp, body: Self.specPayload)
        #expect(headers.map(\.name) == ["webhook-id", "webhook-timestamp", "webhook-signature"])
        #expect(headers.map(\.value) == [Self.specID, "1614265330", Self.specSignature])

        let secret = try WebhookSecret(standard: Self.specSecret)
        #expect(StandardWebhooks.signature(secret: secret, id: Self.specID, timestamp: Self.specTimestamp, body: Self.specPayload) == Self.specSignature)
    }

    @Test func standardSpecVectorVerifies() throws {
        let verifier = try WebhookVerifier(scheme: .standard, secrets: [Self.specSecret])
        let headers: WebhookHeaders = [
            "webhook-id": Self.specID, "webhook-timestamp": "1614265330", "webhook-signature": Self.specSignature,
        ]
        let result = try verifier.verify(headers: headers, body: Self.specPayload, now: Date(timeIntervalSince1970: 1_614_265_330))
        #expect(result == VerifiedWebhook(id: Self.specID, timestamp: Self.specTimestamp, event: nil))
    }

    @Test func standardSpecInvalidSignatureIsRejected() throws {
        // test_invalid_signature_raises_error in the same file: the last character differs.
        let verifier = try WebhookVerifier(scheme: .standard, secrets: [Self.specSecret])
        let headers: WebhookHeaders = [
            "webhook-id": Self.specID, "webhook-timestamp": "1614265330",
            "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
        ]
        #expect(throws: WebhookVerificationError.noSignatureMatched) {
            try verifier.verify(headers: headers, body: Self.specPayload, now: Date(timeIntervalSince1970: 1_614_265_330))
        }
    }

    // From the Standard Webhooks repository, libraries/go/webhook_asymmetric_test.go
    // (TestAsymmetricWebhookSign): seed "TESTSIGNINGKEYDONOTUSETHISFORANY", reproduced with Python `cryptography` 48:
    //   python3 -c 'import base64; from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey;
    //     k=Ed25519PrivateKey.from_private_bytes(base64.b64decode("VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="));
    //     print(base64.b64encode(k.sign(b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}")).decode())'
    // and the public key with k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).
    static let goSigningKey = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
    static let goVerifyingKey = "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g="
    static let goSignature = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="

    @Test func ed25519SpecVectorSignsAndVerifies() throws {
        let signer = try WebhookSigner(scheme: .ed25519, secrets: [Self.goSigningKey])
        let signature = try signer.signature(id: Self.specID, timestamp: Self.specTimestamp, body: Self.specPayload)
        #expect(signature == Self.goSignature)
        #expect(try Ed25519SigningKey(Self.goSigningKey).verifyingKey.serialized == Self.goVerifyingKey)

        let verifier = try WebhookVerifier(scheme: .ed25519, secrets: [Self.goVerifyingKey])
        let headers: WebhookHeaders = [
            "webhook-id": Self.specID, "webhook-timestamp": "1614265330", "webhook-signature": Self.goSignature,
        ]
        try verifier.verify(headers: headers, body: Self.specPayload, now: Date(timeIntervalSince1970: 1_614_265_330))
    }

    // Produced with Python `cryptography` 48 from the seed bytes 0x00…0x1f:
    //   python3 -c 'import base64; from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey;
    //     k=Ed25519PrivateKey.from_private_bytes(bytes(range(32)));
    //     print(base64.b64encode(k.sign(b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{\"test\": 2432232314}")).decode())'
    // The 64-byte form is seed ‖ public key (libsodium's secret-key layout).
    static let pythonSeedKey = "whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
    static let pythonLongKey = "whsk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8DoQe/884Qvh1w3RjnS8CZZ+TWMJulDV8d3IZkElUxuA=="
    static let pythonVerifyingKey = "whpk_A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
    static let pythonSignature = "v1a,yoUrgEkc12aGqm0n4Sydmdz55xJfTz4AsAgieHFjmkR7LJtqVCZOQYzvvHjI5kAey+r4iaBGxTFRrl2iBQxtDQ=="

    @Test(arguments: [pythonSeedKey, pythonLongKey])
    func ed25519PythonVector(signingKey: String) throws {
        let key = try Ed25519SigningKey(signingKey)
        #expect(key.verifyingKey.serialized == Self.pythonVerifyingKey)
        #expect(key.exposeSecret() == Self.pythonSeedKey)
        let signer = try WebhookSigner(scheme: .ed25519, secrets: [signingKey])
        #expect(try signer.signature(id: Self.specID, timestamp: Self.specTimestamp, body: Self.specPayload) == Self.pythonSignature)

        let verifier = try WebhookVerifier(scheme: .ed25519, secrets: [Self.pythonVerifyingKey])
        let headers: WebhookHeaders = [
            "webhook-id": Self.specID, "webhook-timestamp": "1614265330", "webhook-signature": Self.pythonSignature,
        ]
        try verifier.verify(headers: headers, body: Self.specPayload, now: Date(timeIntervalSince1970: 1_614_265_330))
    }

    /// nSelf vectors, each computed with openssl (the command is in `command`).
    struct NselfVector: Sendable, CustomTestStringConvertible {
        var secret: String
        var timestamp: Int64
        var body: String
        var hex: String
        var command: String
        var testDescription: String { command }
    }

    static let nselfVectors: [NselfVector] = [
        NselfVector(
            secret: "secret", timestamp: 1_700_000_000, body: #"{"a":1}"#,
            hex: "49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686",
            command: #"printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'secret'"#
        ),
        NselfVector(
            // Non-ASCII secret: the key is the string's UTF-8 bytes. Also checked with
            // python3 -c 'import hmac,hashlib; print(hmac.new("nself-test-secret-ü".encode(),
            //   b"1614265330.{\"event\":\"user.created\",\"data\":{\"id\":\"42\"}}", hashlib.sha256).hexdigest())'
            secret: "nself-test-secret-ü", timestamp: 1_614_265_330, body: #"{"event":"user.created","data":{"id":"42"}}"#,
            hex: "e23c9a70332e4985f9776ef545f96482ee04e18da562eec678694bd3fea12edb",
            command: #"printf '%s' '1614265330.{"event":"user.created","data":{"id":"42"}}' | openssl dgst -sha256 -hmac 'nself-test-secret-ü'"#
        ),
        NselfVector(
            secret: "k", timestamp: 0, body: "",
            hex: "6b4a4b8b3c40f1e8f53a3d36682e5f99f7ad2ac1df1c93dfe336f329167641e7",
            command: "printf '%s' '0.' | openssl dgst -sha256 -hmac 'k'"
        ),
    ]

    @Test(arguments: nselfVectors)
    func nselfVector(_ vector: NselfVector) throws {
        let signer = WebhookSigner(nselfSecret: WebhookSecret(nself: vector.secret))
        let headers = try signer.headers(id: "d-1", timestamp: vector.timestamp, event: "user.created", body: Array(vector.body.utf8))
        #expect(headers.map(\.name) == [
            "X-Nself-Signature-256", "X-Nself-Delivery", "X-Nself-Event", "X-Nself-Timestamp", "Content-Type",
        ])
        #expect(headers.map(\.value) == ["sha256=" + vector.hex, "d-1", "user.created", String(vector.timestamp), "application/json"])
        #expect(NselfSignature.signature(secret: WebhookSecret(nself: vector.secret), timestamp: vector.timestamp, body: Array(vector.body.utf8)) == "sha256=" + vector.hex)

        let verifier = try WebhookVerifier(scheme: .nself, secrets: [vector.secret])
        let signedAt = Date(timeIntervalSince1970: TimeInterval(vector.timestamp))
        let result = try verifier.verify(headers: WebhookHeaders(headers), body: Array(vector.body.utf8), now: signedAt)
        #expect(result == VerifiedWebhook(id: "d-1", timestamp: vector.timestamp, event: "user.created"))
    }
}
