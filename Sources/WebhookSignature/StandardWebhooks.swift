import Crypto
import Foundation

/// The Standard Webhooks 1.0 signature format.
///
/// The signed content is `"<id>.<timestamp>.<body>"`. A symmetric signature is
/// `v1,<base64(HMAC-SHA256(key, content))>` where the key is the base64-decoded part of a `whsec_`
/// secret; an asymmetric one is `v1a,<base64(Ed25519 signature of content)>`. The
/// `webhook-signature` header holds one or more of them separated by single spaces.
public enum StandardWebhooks {
    /// The version tag of a symmetric (HMAC-SHA256) signature.
    public static let symmetricVersion = "v1"
    /// The version tag of an asymmetric (Ed25519) signature.
    public static let asymmetricVersion = "v1a"

    /// Computes `v1,<base64 HMAC>` for one secret. Use ``WebhookSigner`` to sign many webhooks with
    /// the same secrets: it decodes and keys them once.
    public static func signature(
        secret: WebhookSecret, id: String, timestamp: Int64, body: some ContiguousBytes
    ) -> String {
        let keyed = KeyedSHA256(key: secret.symmetricKey)
        return body.withUnsafeBytes { body in
            Base64.encode(mac(keyed, id: id, timestamp: String(timestamp), body: body), after: symmetricVersion + ",")
        }
    }

    /// HMAC-SHA256 over `id.timestamp.body`, fed incrementally (the body is not copied).
    static func mac(
        _ keyed: KeyedSHA256, id: String, timestamp: String, body: UnsafeRawBufferPointer
    ) -> SHA256Digest {
        // Two updates: the short "id.timestamp." prefix, then the body in place.
        keyed.code { hash in
            SignedPrefix.with(id, timestamp) { hash.update(bufferPointer: $0) }
            hash.update(bufferPointer: body)
        }
    }

    /// The signed content `id.timestamp.body` as one buffer, for Ed25519 (which cannot be fed
    /// incrementally).
    static func signedContent(id: String, timestamp: String, body: UnsafeRawBufferPointer) -> [UInt8] {
        var content: [UInt8] = []
        content.reserveCapacity(id.utf8.count + timestamp.utf8.count + body.count + 2)
        content += id.utf8
        content.append(UInt8(ascii: "."))
        content += timestamp.utf8
        content.append(UInt8(ascii: "."))
        content += body
        return content
    }

    /// One entry of a `webhook-signature` header.
    struct Entry {
        var version: Substring
        var signature: [UInt8]
    }

    /// Splits a `webhook-signature` value into entries. Entries without a comma or whose signature
    /// is not base64 are skipped; `wellFormed` is false when nothing at all could be parsed.
    static func parseSignatureHeader(_ value: String) -> (entries: [Entry], wellFormed: Bool) {
        var entries: [Entry] = []
        let utf8 = value[...].utf8
        for token in utf8.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true) {
            guard let comma = token.firstIndex(of: UInt8(ascii: ",")) else { continue }
            let version = token[token.startIndex..<comma]
            let encoded = token[token.index(after: comma)...]
            guard !version.isEmpty, !encoded.isEmpty, let bytes = Base64.decode(utf8: encoded) else { continue }
            entries.append(Entry(version: Substring(version), signature: bytes))
        }
        return (entries, !entries.isEmpty)
    }
}
