import Crypto
import Foundation

/// The nSelf webhook package's signature format, byte-compatible with the original.
///
/// `X-Nself-Signature-256: sha256=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, where
/// the key is the secret string's UTF-8 bytes. An empty secret means the delivery is unsigned and
/// carries no signature header. The delivery id and event travel in `X-Nself-Delivery` and
/// `X-Nself-Event` but are not signed.
public enum NselfSignature {
    /// The prefix of the signature header value.
    public static let prefix = "sha256="

    /// Computes `sha256=<hex>` for one secret, or `nil` for an empty secret (unsigned delivery).
    public static func signature(secret: WebhookSecret, timestamp: Int64, body: some ContiguousBytes) -> String? {
        guard !secret.isEmpty else { return nil }
        let keyed = KeyedSHA256(key: secret.symmetricKey)
        return body.withUnsafeBytes { body in
            prefix + Hex.encode(mac(keyed, timestamp: String(timestamp), body: body))
        }
    }

    /// HMAC-SHA256 over `timestamp.body`, fed incrementally (the body is not copied).
    static func mac(_ keyed: KeyedSHA256, timestamp: String, body: UnsafeRawBufferPointer) -> SHA256Digest {
        keyed.code { hash in
            SignedPrefix.with(timestamp) { hash.update(bufferPointer: $0) }
            hash.update(bufferPointer: body)
        }
    }

    /// Parses `sha256=<64 hex digits>` into the 32 MAC bytes, or explains why it cannot.
    static func parseSignatureHeader(_ value: String) -> Result<[UInt8], WebhookVerificationError> {
        let trimmed = value.trimmingHTTPWhitespace
        guard !trimmed.isEmpty else {
            return .failure(.malformedHeader(HeaderName.nselfSignature, reason: "empty value"))
        }
        guard trimmed.hasPrefix(prefix) else {
            return .failure(.malformedHeader(HeaderName.nselfSignature, reason: "missing \(prefix) prefix"))
        }
        guard let bytes = Hex.decode(trimmed.dropFirst(prefix.count)), bytes.count == SHA256.byteCount else {
            return .failure(.malformedHeader(HeaderName.nselfSignature, reason: "expected 64 hex digits after \(prefix)"))
        }
        return .success(bytes)
    }
}
