import Crypto
import Foundation

/// Signs webhooks for one scheme with keys decoded once, for use on every delivery.
///
/// ```swift
/// let signer = try WebhookSigner(scheme: .standard, secrets: ["whsec_…"])
/// for (name, value) in try signer.headers(id: "msg_…", timestamp: 1_700_000_000, body: bytes) {
///     request.setHeader(name, value)
/// }
/// ```
///
/// With several secrets (rotation) a Standard Webhooks signer adds one signature per secret to
/// `webhook-signature`; an nSelf signer signs with the first secret only, since the original has a
/// single signature.
public struct WebhookSigner: Sendable {
    /// The scheme this signer produces headers for.
    public let scheme: SignatureScheme

    enum Keys: Sendable {
        case standard(hmacs: [KeyedSHA256], ed25519: [Ed25519SigningKey])
        case nself(KeyedSHA256?)
    }

    let keys: Keys

    /// Creates a signer from serialized secrets.
    ///
    /// - `standard`: `whsec_` secrets (and optionally `whsk_` keys, which add `v1a` signatures).
    /// - `ed25519`: `whsk_` keys only.
    /// - `nself`: secret strings; the first is used, and an empty list or empty first secret means
    ///   unsigned deliveries.
    ///
    /// - Throws: ``WebhookSecretError`` naming the problem, never the secret.
    public init(scheme: SignatureScheme, secrets: [String]) throws(WebhookSecretError) {
        self.scheme = scheme
        switch scheme {
        case .nself:
            let secret = WebhookSecret(nself: secrets.first ?? "")
            self.keys = .nself(secret.isEmpty ? nil : KeyedSHA256(key: secret.symmetricKey))
        case .standard, .ed25519:
            guard !secrets.isEmpty else { throw .noSecrets }
            var hmacs: [KeyedSHA256] = []
            var signingKeys: [Ed25519SigningKey] = []
            for text in secrets {
                if text.hasPrefix(Ed25519SigningKey.prefix) {
                    signingKeys.append(try Ed25519SigningKey(text))
                } else if scheme == .ed25519 {
                    throw text.hasPrefix(WebhookSecret.standardPrefix)
                        ? .wrongKindForScheme(scheme: scheme, accepted: "whsk_ signing keys")
                        : .missingPrefix(expected: Ed25519SigningKey.prefix)
                } else if text.hasPrefix(Ed25519VerifyingKey.prefix) {
                    throw .wrongKindForScheme(scheme: scheme, accepted: "whsec_ secrets or whsk_ signing keys, not whpk_ public keys")
                } else {
                    hmacs.append(KeyedSHA256(key: try WebhookSecret(standard: text).symmetricKey))
                }
            }
            self.keys = .standard(hmacs: hmacs, ed25519: signingKeys)
        }
    }

    /// Creates a Standard Webhooks signer from parsed secrets and keys (scheme ``SignatureScheme/standard``,
    /// or ``SignatureScheme/ed25519`` when there are only signing keys).
    ///
    /// - Throws: ``WebhookSecretError/noSecrets`` when both lists are empty, or
    ///   ``WebhookSecretError/wrongKindForScheme(scheme:accepted:)`` for an nSelf secret.
    public init(standardSecrets: [WebhookSecret], signingKeys: [Ed25519SigningKey] = []) throws(WebhookSecretError) {
        guard !standardSecrets.isEmpty || !signingKeys.isEmpty else { throw .noSecrets }
        guard standardSecrets.allSatisfy({ $0.kind == .standard }) else {
            throw .wrongKindForScheme(scheme: .standard, accepted: "whsec_ secrets")
        }
        self.scheme = standardSecrets.isEmpty ? .ed25519 : .standard
        self.keys = .standard(hmacs: standardSecrets.map { KeyedSHA256(key: $0.symmetricKey) }, ed25519: signingKeys)
    }

    /// Creates an nSelf signer. An empty secret means unsigned deliveries.
    public init(nselfSecret: WebhookSecret) {
        self.scheme = .nself
        self.keys = .nself(nselfSecret.isEmpty ? nil : KeyedSHA256(key: nselfSecret.symmetricKey))
    }

    /// The headers to send with one webhook, in order.
    ///
    /// - `standard` / `ed25519`: `webhook-id`, `webhook-timestamp`, `webhook-signature`
    ///   (`event` is not part of this scheme and is ignored).
    /// - `nself`: `X-Nself-Signature-256` (absent when unsigned), `X-Nself-Delivery`,
    ///   `X-Nself-Event` (absent when `event` is `nil`), `X-Nself-Timestamp`, `Content-Type: application/json`.
    ///
    /// - Parameters:
    ///   - id: the message (delivery) id; see ``isValidID(_:)``. It must not contain `.`, spaces or
    ///     control characters, which the caller checks once where ids are made.
    ///   - timestamp: unix seconds.
    ///   - event: the event type, sent by `nself`.
    ///   - body: the exact bytes that will be sent.
    /// - Throws: only if the Ed25519 implementation fails to sign.
    public func headers(
        id: String, timestamp: Int64, event: String? = nil, body: some ContiguousBytes
    ) throws -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(5)
        try appendHeaders(id: id, timestamp: timestamp, event: event, body: body, to: &headers)
        return headers
    }

    /// Appends the headers of ``headers(id:timestamp:event:body:)`` to `headers`: a caller that
    /// adds its own makes one list, with room reserved once.
    public func appendHeaders(
        id: String, timestamp: Int64, event: String? = nil, body: some ContiguousBytes, to headers: inout [(name: String, value: String)]
    ) throws {
        let timestampString = String(timestamp)
        switch keys {
        case .standard:
            headers.append((HeaderName.webhookID, id))
            headers.append((HeaderName.webhookTimestamp, timestampString))
            headers.append((HeaderName.webhookSignature, try signatureValue(id: id, timestamp: timestampString, body: body)))
        case .nself(let keyed):
            if let keyed {
                let mac = body.withUnsafeBytes { NselfSignature.mac(keyed, timestamp: timestampString, body: $0) }
                headers.append((HeaderName.nselfSignature, NselfSignature.prefix + Hex.encode(mac)))
            }
            headers.append((HeaderName.nselfDelivery, id))
            if let event {
                headers.append((HeaderName.nselfEvent, event))
            }
            headers.append((HeaderName.nselfTimestamp, timestampString))
            headers.append((HeaderName.contentType, "application/json"))
        }
    }

    /// The signature header's value alone: `webhook-signature` for the Standard Webhooks schemes,
    /// `X-Nself-Signature-256` for `nself` (`nil` when unsigned).
    public func signature(id: String, timestamp: Int64, body: some ContiguousBytes) throws -> String? {
        switch keys {
        case .standard:
            return try signatureValue(id: id, timestamp: String(timestamp), body: body)
        case .nself(let keyed):
            guard let keyed else { return nil }
            let mac = body.withUnsafeBytes { NselfSignature.mac(keyed, timestamp: String(timestamp), body: $0) }
            return NselfSignature.prefix + Hex.encode(mac)
        }
    }

    private static let symmetricPrefix = StandardWebhooks.symmetricVersion + ","

    private func signatureValue(id: String, timestamp: String, body: some ContiguousBytes) throws -> String {
        guard case .standard(let hmacs, let signingKeys) = keys else { return "" }
        return try body.withUnsafeBytes { body in
            if hmacs.count == 1, signingKeys.isEmpty {
                // The common case (one secret, not rotating) makes one string and no list.
                return Base64.encode(StandardWebhooks.mac(hmacs[0], id: id, timestamp: timestamp, body: body), after: Self.symmetricPrefix)
            }
            var signatures: [String] = []
            signatures.reserveCapacity(hmacs.count + signingKeys.count)
            for keyed in hmacs {
                let mac = StandardWebhooks.mac(keyed, id: id, timestamp: timestamp, body: body)
                signatures.append(Base64.encode(mac, after: Self.symmetricPrefix))
            }
            if !signingKeys.isEmpty {
                let content = StandardWebhooks.signedContent(id: id, timestamp: timestamp, body: body)
                for key in signingKeys {
                    signatures.append(Base64.encode(try key.sign(content), after: StandardWebhooks.asymmetricVersion + ","))
                }
            }
            return signatures.joined(separator: " ")
        }
    }

    /// Whether `id` is safe to sign and send: non-empty, at most 256 bytes, printable ASCII without
    /// `.` (the Standard Webhooks content separator), spaces, commas or control characters.
    public static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 256 && id.utf8.allSatisfy { byte in
            byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: ".") && byte != UInt8(ascii: ",")
        }
    }
}

extension WebhookSigner: CustomStringConvertible, CustomReflectable {
    /// `WebhookSigner(<scheme>, <redacted>)`: the keys are never shown.
    public var description: String { "WebhookSigner(\(scheme), <redacted>)" }

    /// A mirror that shows the scheme and hides the keys.
    public var customMirror: Mirror {
        Mirror(self, children: ["scheme": scheme, "keys": "<redacted>"], displayStyle: .struct)
    }
}
