import Crypto
import Foundation

/// A symmetric webhook secret: a Standard Webhooks `whsec_` secret or an nSelf secret string.
///
/// The value never appears in `description`, `debugDescription`, reflection (`dump`, string
/// interpolation, logging) or errors; call ``exposeSecret()`` where it really has to be shown,
/// for example when a new secret is generated.
public struct WebhookSecret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Which scheme the secret belongs to, which decides how it is serialized and used as a key.
    public enum Kind: String, Sendable, Hashable {
        /// A Standard Webhooks secret: `whsec_<base64>`; the HMAC key is the decoded bytes.
        case standard
        /// An nSelf secret: any string; the HMAC key is its UTF-8 bytes.
        case nself
    }

    /// The prefix of a serialized Standard Webhooks secret.
    public static let standardPrefix = "whsec_"

    /// Which scheme the secret belongs to.
    public let kind: Kind

    /// The HMAC key bytes.
    let keyBytes: [UInt8]

    /// Parses a Standard Webhooks secret `whsec_<base64>`. The base64 part may be padded or not.
    ///
    /// - Throws: ``WebhookSecretError/missingPrefix(expected:)`` without the `whsec_` prefix,
    ///   ``WebhookSecretError/invalidBase64(prefix:)`` for a bad base64 part,
    ///   ``WebhookSecretError/empty`` when it decodes to no bytes.
    public init(standard text: String) throws(WebhookSecretError) {
        guard text.hasPrefix(Self.standardPrefix) else {
            throw .missingPrefix(expected: Self.standardPrefix)
        }
        let encoded = text.dropFirst(Self.standardPrefix.count)
        guard let bytes = Base64.decode(encoded) else {
            throw .invalidBase64(prefix: Self.standardPrefix)
        }
        guard !bytes.isEmpty else { throw .empty }
        self.kind = .standard
        self.keyBytes = bytes
    }

    /// Creates a Standard Webhooks secret from raw key bytes.
    ///
    /// - Throws: ``WebhookSecretError/empty`` for no bytes.
    public init(standardKeyBytes bytes: [UInt8]) throws(WebhookSecretError) {
        guard !bytes.isEmpty else { throw .empty }
        self.kind = .standard
        self.keyBytes = bytes
    }

    /// Creates an nSelf secret. Its UTF-8 bytes are the HMAC key, as in the original package.
    /// An empty secret means unsigned deliveries.
    public init(nself text: String) {
        self.kind = .nself
        self.keyBytes = Array(text.utf8)
    }

    /// Creates a secret from already-validated parts.
    init(kind: Kind, keyBytes: [UInt8]) {
        self.kind = kind
        self.keyBytes = keyBytes
    }

    /// Whether the secret has no bytes (only possible for an nSelf secret: unsigned deliveries).
    public var isEmpty: Bool { keyBytes.isEmpty }

    /// The serialized secret: `whsec_<base64>` for a Standard Webhooks secret, the string itself for
    /// an nSelf secret. The only way to see the value; use it sparingly.
    public func exposeSecret() -> String {
        switch kind {
        case .standard: Self.standardPrefix + Base64.encode(keyBytes)
        case .nself: String(decoding: keyBytes, as: UTF8.self)
        }
    }

    /// The key for HMAC-SHA256.
    var symmetricKey: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// `WebhookSecret(<kind>, <redacted>)`.
    public var description: String { "WebhookSecret(\(kind.rawValue), <redacted>)" }

    /// Same as ``description``: the value is never shown.
    public var debugDescription: String { description }

    /// A mirror that shows the kind and hides the value.
    public var customMirror: Mirror {
        Mirror(self, children: ["kind": kind, "value": "<redacted>"], displayStyle: .struct)
    }
}
