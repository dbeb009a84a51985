import Foundation
import WebhookSignature

/// What people are shown of a document, and back: sealed secrets and credential headers masked in
/// answers, and masked values in a document sent back standing for what they mask.
extension EndpointDocument {
    /// A masked header value.
    public static let maskedHeaderValue = "****"

    /// Whether a static header's value is masked in answers: its name suggests a credential.
    public static func isSensitiveHeader(_ name: String) -> Bool {
        let name = name.lowercased()
        return ["authorization", "proxy-authorization", "cookie"].contains(name)
            || ["token", "secret", "key", "password", "auth", "signature", "credential", "session"].contains { name.contains($0) }
    }

    /// The fields as shown to people: sealed secrets as `enc:v1:<key id>:****`, credential headers
    /// as `****` (``isSensitiveHeader(_:)``); references and other headers as they are.
    public static func masked(_ fields: [String: Any]) -> [String: Any] {
        var shown = fields
        if let secrets = fields["secrets"] as? [String] { shown["secrets"] = secrets.map(maskedSecret) }
        if let retiring = fields["retiring_secrets"] as? [[String: Any]] {
            shown["retiring_secrets"] = retiring.map { entry in
                var entry = entry
                if let secret = entry["secret"] as? String { entry["secret"] = maskedSecret(secret) }
                return entry
            }
        }
        if let headers = fields["headers"] as? [String: Any] {
            var masked = headers
            for name in headers.keys where isSensitiveHeader(name) { masked[name] = maskedHeaderValue }
            shown["headers"] = masked
        }
        return shown
    }

    /// The fields with masked values put back from `current` (the document they were read from):
    /// a list of secrets sent back as it was shown stands for the secrets it shows; in a changed
    /// list a masked secret must stand for exactly one of the same list's secrets (several
    /// sealed with one key mask alike); a masked header value stands for the header's current
    /// value. A masked value that stands for nothing, or for several, is refused.
    public static func unmasked(_ fields: [String: Any], current: [String: Any]) throws(ConfigurationError) -> [String: Any] {
        var restored = fields
        if let secrets = fields["secrets"] as? [String] {
            restored["secrets"] = try restore(secrets, from: current["secrets"] as? [String] ?? [], field: "secrets")
        }
        if let retiring = fields["retiring_secrets"] as? [[String: Any]] {
            let shown = retiring.map { $0["secret"] as? String ?? "" }
            let currentTexts = (current["retiring_secrets"] as? [[String: Any]] ?? []).map { $0["secret"] as? String ?? "" }
            let texts = try restore(shown, from: currentTexts, field: "retiring_secrets")
            restored["retiring_secrets"] = zip(retiring, texts).map { entry, text in
                var entry = entry
                if entry["secret"] is String { entry["secret"] = text }
                return entry
            }
        }
        if var headers = fields["headers"] as? [String: Any] {
            let currentHeaders = current["headers"] as? [String: Any] ?? [:]
            for (name, value) in headers where value as? String == maskedHeaderValue && isSensitiveHeader(name) {
                guard let kept = currentHeaders[name] else {
                    throw ConfigurationError("field 'headers': '\(EndpointsFile.shown(name))' is masked (****) but the endpoint has no such header")
                }
                headers[name] = kept
            }
            restored["headers"] = headers
        }
        return restored
    }

    /// `given` with its masked secrets replaced by those of `current` they stand for.
    private static func restore(_ given: [String], from current: [String], field: String) throws(ConfigurationError) -> [String] {
        if given == current.map(maskedSecret) { return current }
        var restored: [String] = []
        for secret in given {
            guard isMaskedSecret(secret) else {
                restored.append(secret)
                continue
            }
            let matches = current.filter { maskedSecret($0) == secret }
            guard matches.count == 1, let match = matches.first else {
                throw ConfigurationError(matches.isEmpty
                    ? "field '\(field)': '\(secret)' is a masked value that stands for none of the endpoint's \(field)"
                    : "field '\(field)': '\(secret)' stands for several of the endpoint's \(field); send the list as it was read, or use rotate-secret")
            }
            restored.append(match)
        }
        return restored
    }

    private static func maskedSecret(_ secret: String) -> String {
        guard SecretKeyring.isSealed(secret) else { return secret }
        let key = secret.dropFirst(SecretKeyring.prefix.count).prefix { $0 != ":" }
        return "\(SecretKeyring.prefix)\(key):****"
    }

    private static func isMaskedSecret(_ secret: String) -> Bool { SecretKeyring.isSealed(secret) && secret.hasSuffix(":****") }
}
