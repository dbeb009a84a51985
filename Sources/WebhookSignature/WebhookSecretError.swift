/// Why a secret or key string was rejected.
///
/// The descriptions never contain the secret itself.
public enum WebhookSecretError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The string does not start with the prefix this kind of secret requires (`whsec_`, `whsk_`, `whpk_`).
    case missingPrefix(expected: String)
    /// The part after the prefix is not valid base64.
    case invalidBase64(prefix: String)
    /// The secret is empty (or decodes to no bytes).
    case empty
    /// The key has the wrong number of bytes.
    case invalidKeyLength(prefix: String, expected: String, actual: Int)
    /// The key is the wrong kind for the scheme (for example a `whsec_` secret for `ed25519`).
    case wrongKindForScheme(scheme: SignatureScheme, accepted: String)
    /// No secret was given.
    case noSecrets
    /// The key bytes were rejected by the Ed25519 implementation.
    case invalidKey(prefix: String)

    /// A one-line human-readable reason that never includes the secret.
    public var description: String {
        switch self {
        case .missingPrefix(let expected):
            "secret must start with \(expected)"
        case .invalidBase64(let prefix):
            "the part after \(prefix) is not valid base64"
        case .empty:
            "secret is empty"
        case .invalidKeyLength(let prefix, let expected, let actual):
            "\(prefix) key must decode to \(expected) bytes, got \(actual)"
        case .wrongKindForScheme(let scheme, let accepted):
            "scheme \(scheme) accepts \(accepted)"
        case .noSecrets:
            "no secret given"
        case .invalidKey(let prefix):
            "\(prefix) key was rejected by Ed25519"
        }
    }
}
