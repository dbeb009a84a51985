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

    /// The fields with masked values put back from `current` (the document they were read from): a
    /// masked secret stands for a current or retiring secret it masks, a masked header value for
    /// the header's current value. A masked value that stands for nothing is refused.
    public static func unmasked(_ fields: [String: Any], current: [String: Any]) throws(ConfigurationError) -> [String: Any] {
        var pool = secretTexts(current).filter(SecretKeyring.isSealed)
        func restore(_ secret: String, field: String) throws(ConfigurationError) -> String {
            guard isMaskedSecret(secret) else { return secret }
            guard let index = pool.firstIndex(where: { maskedSecret($0) == secret }) else {
                throw ConfigurationError("field '\(field)': '\(secret)' is a masked value that stands for none of the endpoint's secrets")
            }
            return pool.remove(at: index)
        }
        var restored = fields
        if let secrets = fields["secrets"] as? [String] {
            var list: [String] = []
            for secret in secrets { list.append(try restore(secret, field: "secrets")) }
            restored["secrets"] = list
        }
        if let retiring = fields["retiring_secrets"] as? [[String: Any]] {
            var entries: [[String: Any]] = []
            for var entry in retiring {
                if let secret = entry["secret"] as? String { entry["secret"] = try restore(secret, field: "retiring_secrets") }
                entries.append(entry)
            }
            restored["retiring_secrets"] = entries
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

    private static func maskedSecret(_ secret: String) -> String {
        guard SecretKeyring.isSealed(secret) else { return secret }
        let key = secret.dropFirst(SecretKeyring.prefix.count).prefix { $0 != ":" }
        return "\(SecretKeyring.prefix)\(key):****"
    }

    private static func isMaskedSecret(_ secret: String) -> Bool { SecretKeyring.isSealed(secret) && secret.hasSuffix(":****") }
}
