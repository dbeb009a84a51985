/// Why a webhook failed verification.
///
/// The descriptions name the header and the problem but never a secret.
public enum WebhookVerificationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A required header is absent.
    case missingHeader(String)
    /// A header is present but cannot be parsed (empty, bad number, bad encoding, missing prefix…).
    case malformedHeader(String, reason: String)
    /// The timestamp is further from `now` than the tolerance allows (both in unix seconds).
    case timestampOutsideTolerance(timestamp: Int64, now: Int64, tolerance: Duration)
    /// The signatures parsed, but none of them matches any accepted secret or public key.
    case noSignatureMatched

    /// A one-line human-readable reason.
    public var description: String {
        switch self {
        case .missingHeader(let name):
            "missing header \(name)"
        case .malformedHeader(let name, let reason):
            "malformed header \(name): \(reason)"
        case .timestampOutsideTolerance(let timestamp, let now, let tolerance):
            "timestamp \(timestamp) is outside the tolerance of \(tolerance.components.seconds)s around now (\(now))"
        case .noSignatureMatched:
            "no signature matched"
        }
    }
}
