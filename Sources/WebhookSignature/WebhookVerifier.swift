import Crypto
import Foundation

/// Verifies received webhooks against the accepted secrets or public keys.
///
/// ```swift
/// let verifier = try WebhookVerifier(scheme: .standard, secrets: ["whsec_…"])
/// let webhook = try verifier.verify(headers: WebhookHeaders(request.headers), body: rawBody)
/// ```
///
/// Header names are looked up case-insensitively. Signatures are compared in constant time, and
/// any one matching signature (of several, during rotation) is enough.
public struct WebhookVerifier: Sendable {
    /// How strictly timestamps are checked.
    public struct Configuration: Sendable, Hashable {
        /// How far the webhook's timestamp may be from now, in either direction (edges included);
        /// `nil` skips the check.
        public var tolerance: Duration?

        /// Creates a configuration.
        public init(tolerance: Duration?) {
            self.tolerance = tolerance
        }

        /// Five minutes for the Standard Webhooks schemes, no check for `nself` (as in the original).
        public static func `default`(for scheme: SignatureScheme) -> Configuration {
            Configuration(tolerance: scheme.defaultTolerance)
        }
    }

    /// The scheme this verifier accepts.
    public let scheme: SignatureScheme
    /// The timestamp check in force.
    public let configuration: Configuration

    private let hmacs: [KeyedSHA256]
    private let verifyingKeys: [Ed25519VerifyingKey]

    /// Creates a verifier from serialized secrets.
    ///
    /// - `standard`: `whsec_` secrets (checked against `v1` signatures) and optionally `whpk_` keys
    ///   (checked against `v1a` signatures).
    /// - `ed25519`: `whpk_` keys only.
    /// - `nself`: non-empty secret strings.
    ///
    /// - Parameter configuration: `nil` uses ``Configuration/default(for:)``.
    /// - Throws: ``WebhookSecretError`` naming the problem, never the secret.
    public init(scheme: SignatureScheme, secrets: [String], configuration: Configuration? = nil) throws(WebhookSecretError) {
        guard !secrets.isEmpty else { throw .noSecrets }
        self.scheme = scheme
        self.configuration = configuration ?? .default(for: scheme)
        var hmacs: [KeyedSHA256] = []
        var keys: [Ed25519VerifyingKey] = []
        for text in secrets {
            switch scheme {
            case .nself:
                let secret = WebhookSecret(nself: text)
                guard !secret.isEmpty else { throw .empty }
                hmacs.append(KeyedSHA256(key: secret.symmetricKey))
            case .standard, .ed25519:
                if text.hasPrefix(Ed25519VerifyingKey.prefix) {
                    keys.append(try Ed25519VerifyingKey(text))
                } else if text.hasPrefix(Ed25519SigningKey.prefix) {
                    throw .wrongKindForScheme(scheme: scheme, accepted: "whpk_ public keys for verification, not whsk_ signing keys")
                } else if scheme == .ed25519 {
                    throw text.hasPrefix(WebhookSecret.standardPrefix)
                        ? .wrongKindForScheme(scheme: scheme, accepted: "whpk_ public keys")
                        : .missingPrefix(expected: Ed25519VerifyingKey.prefix)
                } else {
                    hmacs.append(KeyedSHA256(key: try WebhookSecret(standard: text).symmetricKey))
                }
            }
        }
        self.hmacs = hmacs
        self.verifyingKeys = keys
    }

    /// Creates a Standard Webhooks verifier from parsed secrets and keys.
    ///
    /// - Throws: ``WebhookSecretError/noSecrets`` when both lists are empty, or
    ///   ``WebhookSecretError/wrongKindForScheme(scheme:accepted:)`` for an nSelf secret.
    public init(
        standardSecrets: [WebhookSecret], verifyingKeys: [Ed25519VerifyingKey] = [], configuration: Configuration? = nil
    ) throws(WebhookSecretError) {
        guard !standardSecrets.isEmpty || !verifyingKeys.isEmpty else { throw .noSecrets }
        guard standardSecrets.allSatisfy({ $0.kind == .standard }) else {
            throw .wrongKindForScheme(scheme: .standard, accepted: "whsec_ secrets")
        }
        let scheme: SignatureScheme = standardSecrets.isEmpty ? .ed25519 : .standard
        self.scheme = scheme
        self.configuration = configuration ?? .default(for: scheme)
        self.hmacs = standardSecrets.map { KeyedSHA256(key: $0.symmetricKey) }
        self.verifyingKeys = verifyingKeys
    }

    /// Creates an nSelf verifier.
    ///
    /// - Throws: ``WebhookSecretError/empty`` for an empty secret (nothing to verify against) and
    ///   ``WebhookSecretError/noSecrets`` for none.
    public init(nselfSecrets: [WebhookSecret], configuration: Configuration? = nil) throws(WebhookSecretError) {
        guard !nselfSecrets.isEmpty else { throw .noSecrets }
        guard nselfSecrets.allSatisfy({ !$0.isEmpty }) else { throw .empty }
        self.scheme = .nself
        self.configuration = configuration ?? .default(for: .nself)
        self.hmacs = nselfSecrets.map { KeyedSHA256(key: $0.symmetricKey) }
        self.verifyingKeys = []
    }

    /// Creates a verifier that accepts exactly what `signer` signs: its HMAC secrets and the public
    /// halves of its Ed25519 keys. For receivers configured from the relay's own endpoints file
    /// (`webhook-relay listen`) and for tests.
    ///
    /// - Throws: ``WebhookSecretError/empty`` for an unsigned nSelf signer (nothing to verify).
    public init(accepting signer: WebhookSigner, configuration: Configuration? = nil) throws(WebhookSecretError) {
        self.scheme = signer.scheme
        self.configuration = configuration ?? .default(for: signer.scheme)
        switch signer.keys {
        case .standard(let hmacs, let signingKeys):
            self.hmacs = hmacs
            self.verifyingKeys = signingKeys.map(\.verifyingKey)
        case .nself(let hmac):
            guard let hmac else { throw .empty }
            self.hmacs = [hmac]
            self.verifyingKeys = []
        }
    }

    /// Verifies one webhook.
    ///
    /// Checks, in order: the required headers are present and well formed, the timestamp is within
    /// the tolerance of `now`, and at least one signature matches an accepted secret or key.
    ///
    /// - Parameters:
    ///   - headers: the received headers (names compared case-insensitively).
    ///   - body: the raw body bytes exactly as received.
    ///   - now: the current time.
    /// - Returns: the id, timestamp and event that the signature vouches for (the event is not
    ///   signed by `nself` and is reported as received).
    /// - Throws: the reason the webhook is not valid.
    @discardableResult
    public func verify(
        headers: WebhookHeaders, body: some ContiguousBytes, now: Date = Date()
    ) throws(WebhookVerificationError) -> VerifiedWebhook {
        switch scheme {
        case .standard, .ed25519:
            return try verifyStandard(headers: headers, body: body, now: now)
        case .nself:
            return try verifyNself(headers: headers, body: body, now: now)
        }
    }

    private func verifyStandard(
        headers: WebhookHeaders, body: some ContiguousBytes, now: Date
    ) throws(WebhookVerificationError) -> VerifiedWebhook {
        let id = try Self.required(HeaderName.webhookID, in: headers)
        let timestamp = try checkedTimestamp(try Self.required(HeaderName.webhookTimestamp, in: headers),
                                             header: HeaderName.webhookTimestamp, now: now)
        let signatureHeader = try Self.required(HeaderName.webhookSignature, in: headers)
        let (entries, wellFormed) = StandardWebhooks.parseSignatureHeader(signatureHeader)
        guard wellFormed else {
            throw .malformedHeader(HeaderName.webhookSignature, reason: "no entry of the form <version>,<base64>")
        }
        let timestampString = String(timestamp)
        let matched: Bool = body.withUnsafeBytes { body in
            if !hmacs.isEmpty {
                let expected = hmacs.map { StandardWebhooks.mac($0, id: id, timestamp: timestampString, body: body) }
                for entry in entries where entry.version == StandardWebhooks.symmetricVersion {
                    for mac in expected where ConstantTime.equal(mac, entry.signature) {
                        return true
                    }
                }
            }
            let asymmetric = entries.filter { $0.version == StandardWebhooks.asymmetricVersion && $0.signature.count == 64 }
            if !verifyingKeys.isEmpty && !asymmetric.isEmpty {
                let content = StandardWebhooks.signedContent(id: id, timestamp: timestampString, body: body)
                for entry in asymmetric {
                    for key in verifyingKeys where key.isValidSignature(entry.signature, for: content) {
                        return true
                    }
                }
            }
            return false
        }
        guard matched else { throw .noSignatureMatched }
        return VerifiedWebhook(id: id, timestamp: timestamp, event: nil)
    }

    private func verifyNself(
        headers: WebhookHeaders, body: some ContiguousBytes, now: Date
    ) throws(WebhookVerificationError) -> VerifiedWebhook {
        let signatureHeader = try Self.required(HeaderName.nselfSignature, in: headers)
        let timestamp = try checkedTimestamp(try Self.required(HeaderName.nselfTimestamp, in: headers),
                                             header: HeaderName.nselfTimestamp, now: now)
        let received = try NselfSignature.parseSignatureHeader(signatureHeader).get()
        let timestampString = String(timestamp)
        let matched: Bool = body.withUnsafeBytes { body in
            hmacs.contains { ConstantTime.equal(NselfSignature.mac($0, timestamp: timestampString, body: body), received) }
        }
        guard matched else { throw .noSignatureMatched }
        return VerifiedWebhook(id: headers[HeaderName.nselfDelivery], timestamp: timestamp, event: headers[HeaderName.nselfEvent])
    }

    private func checkedTimestamp(_ value: String, header: String, now: Date) throws(WebhookVerificationError) -> Int64 {
        guard let timestamp = UnixTimestamp.parse(value) else {
            throw .malformedHeader(header, reason: "expected unix seconds (1 to 18 digits, no leading zero)")
        }
        if let tolerance = configuration.tolerance {
            let nowSeconds = UnixTimestamp.seconds(now)
            guard UnixTimestamp.isWithin(timestamp, of: nowSeconds, tolerance: tolerance) else {
                throw .timestampOutsideTolerance(timestamp: timestamp, now: nowSeconds, tolerance: tolerance)
            }
        }
        return timestamp
    }

    private static func required(_ name: String, in headers: WebhookHeaders) throws(WebhookVerificationError) -> String {
        guard let value = headers[name] else { throw .missingHeader(name) }
        guard !value.trimmingHTTPWhitespace.isEmpty else {
            throw .malformedHeader(name, reason: "empty value")
        }
        return value
    }
}

extension WebhookVerifier: CustomStringConvertible, CustomReflectable {
    /// `WebhookVerifier(<scheme>, <redacted>)`: the secrets are never shown.
    public var description: String { "WebhookVerifier(\(scheme), <redacted>)" }

    /// A mirror that shows the scheme and configuration and hides the secrets.
    public var customMirror: Mirror {
        Mirror(self, children: ["scheme": scheme, "configuration": configuration, "secrets": "<redacted>"], displayStyle: .struct)
    }
}
