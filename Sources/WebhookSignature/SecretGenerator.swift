import Crypto
import Foundation

/// Makes new secrets, keys and message ids from the system's cryptographic random source.
public enum SecretGenerator {
    /// A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes.
    public static func standardSecret() -> WebhookSecret {
        WebhookSecret(standardRandomBytes: randomBytes(32))
    }

    /// A new nSelf secret: 32 random bytes as 64 lowercase hex characters (the string's UTF-8 bytes
    /// are the HMAC key, as in the original).
    public static func nselfSecret() -> WebhookSecret {
        WebhookSecret(nself: Hex.encode(randomBytes(32)))
    }

    /// A new Ed25519 key pair: the signing key (`whsk_`) for the sender, the verifying key (`whpk_`)
    /// for receivers.
    public static func ed25519KeyPair() -> (signingKey: Ed25519SigningKey, verifyingKey: Ed25519VerifyingKey) {
        let signingKey = Ed25519SigningKey.generate()
        return (signingKey, signingKey.verifyingKey)
    }

    /// A new message id: `msg_` followed by 27 random base62 characters (about 160 bits), safe for
    /// ``WebhookSigner/isValidID(_:)``.
    public static func messageID() -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        var generator = SystemRandomNumberGenerator()
        var characters: [UInt8] = Array("msg_".utf8)
        for _ in 0..<27 {
            characters.append(alphabet[Int.random(in: 0..<alphabet.count, using: &generator)])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// `count` bytes from the system's cryptographically secure generator.
    static func randomBytes(_ count: Int) -> [UInt8] {
        SymmetricKey(size: SymmetricKeySize(bitCount: count * 8)).withUnsafeBytes { Array($0) }
    }
}

extension WebhookSecret {
    /// A Standard Webhooks secret from bytes known to be non-empty.
    init(standardRandomBytes bytes: [UInt8]) {
        self.init(kind: .standard, keyBytes: bytes)
    }
}
