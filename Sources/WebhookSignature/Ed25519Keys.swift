import Crypto
import Foundation

/// A Standard Webhooks asymmetric signing key, serialized as `whsk_<base64>`.
///
/// The serialized form is base64 of the 32-byte Ed25519 seed, as in the official Standard Webhooks
/// libraries (Go's `NewWebhookAsymmetric` uses `ed25519.NewKeyFromSeed`); the 64-byte libsodium /
/// NaCl secret key (seed followed by public key) is accepted too. The value never appears in
/// `description`, `debugDescription`, reflection or errors; see ``exposeSecret()``.
public struct Ed25519SigningKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The prefix of a serialized signing key.
    public static let prefix = "whsk_"

    let privateKey: Curve25519.Signing.PrivateKey

    /// Parses `whsk_<base64>` holding a 32-byte seed or a 64-byte seed‖public key.
    ///
    /// - Throws: ``WebhookSecretError`` naming the problem (missing prefix, bad base64, wrong length,
    ///   or a public-key half that does not belong to the seed).
    public init(_ text: String) throws(WebhookSecretError) {
        guard text.hasPrefix(Self.prefix) else { throw .missingPrefix(expected: Self.prefix) }
        guard let bytes = Base64.decode(text.dropFirst(Self.prefix.count)) else {
            throw .invalidBase64(prefix: Self.prefix)
        }
        guard bytes.count == 32 || bytes.count == 64 else {
            throw .invalidKeyLength(prefix: Self.prefix, expected: "32 or 64", actual: bytes.count)
        }
        let key: Curve25519.Signing.PrivateKey
        do {
            key = try Curve25519.Signing.PrivateKey(rawRepresentation: bytes[0..<32])
        } catch {
            throw .invalidKey(prefix: Self.prefix)
        }
        if bytes.count == 64 {
            guard ConstantTime.equal(Array(bytes[32..<64]), [UInt8](key.publicKey.rawRepresentation)) else {
                throw .invalidKey(prefix: Self.prefix)
            }
        }
        self.privateKey = key
    }

    /// Wraps an existing swift-crypto key.
    public init(_ key: Curve25519.Signing.PrivateKey) {
        self.privateKey = key
    }

    /// Generates a new random key.
    public static func generate() -> Ed25519SigningKey {
        Ed25519SigningKey(Curve25519.Signing.PrivateKey())
    }

    /// The matching verifying (public) key.
    public var verifyingKey: Ed25519VerifyingKey {
        Ed25519VerifyingKey(privateKey.publicKey)
    }

    /// `whsk_<base64(32-byte seed)>`. The only way to see the value; use it sparingly.
    public func exposeSecret() -> String {
        Self.prefix + Base64.encode(privateKey.rawRepresentation)
    }

    /// Signs `message`, returning the 64-byte Ed25519 signature.
    func sign(_ message: [UInt8]) throws -> Data {
        try privateKey.signature(for: message)
    }

    /// `Ed25519SigningKey(<redacted>)`.
    public var description: String { "Ed25519SigningKey(<redacted>)" }

    /// Same as ``description``: the value is never shown.
    public var debugDescription: String { description }

    /// A mirror that hides the value.
    public var customMirror: Mirror {
        Mirror(self, children: ["value": "<redacted>"], displayStyle: .struct)
    }
}

/// A Standard Webhooks asymmetric verifying (public) key, serialized as `whpk_<base64>` of the
/// 32-byte Ed25519 public key. Public keys are not secret, so they print in full.
public struct Ed25519VerifyingKey: Sendable, Hashable, CustomStringConvertible {
    /// The prefix of a serialized verifying key.
    public static let prefix = "whpk_"

    let publicKey: Curve25519.Signing.PublicKey

    /// Parses `whpk_<base64 of 32 bytes>`.
    ///
    /// - Throws: ``WebhookSecretError`` naming the problem.
    public init(_ text: String) throws(WebhookSecretError) {
        guard text.hasPrefix(Self.prefix) else { throw .missingPrefix(expected: Self.prefix) }
        guard let bytes = Base64.decode(text.dropFirst(Self.prefix.count)) else {
            throw .invalidBase64(prefix: Self.prefix)
        }
        guard bytes.count == 32 else {
            throw .invalidKeyLength(prefix: Self.prefix, expected: "32", actual: bytes.count)
        }
        do {
            self.publicKey = try Curve25519.Signing.PublicKey(rawRepresentation: bytes)
        } catch {
            throw .invalidKey(prefix: Self.prefix)
        }
    }

    /// Wraps an existing swift-crypto key.
    public init(_ key: Curve25519.Signing.PublicKey) {
        self.publicKey = key
    }

    /// `whpk_<base64>`.
    public var serialized: String {
        Self.prefix + Base64.encode(publicKey.rawRepresentation)
    }

    /// Same as ``serialized``.
    public var description: String { serialized }

    /// Whether `signature` is a valid Ed25519 signature of `message` under this key.
    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        publicKey.isValidSignature(signature, for: message)
    }

    /// Whether both wrap the same public key.
    public static func == (lhs: Ed25519VerifyingKey, rhs: Ed25519VerifyingKey) -> Bool {
        lhs.publicKey.rawRepresentation == rhs.publicKey.rawRepresentation
    }

    /// Hashes the public key bytes.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(publicKey.rawRepresentation)
    }
}
