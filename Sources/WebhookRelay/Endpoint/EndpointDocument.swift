import Foundation
import WebhookSignature
import Yams

/// An endpoint as the registry topic (`<prefix>.endpoints`) holds it: a JSON object with the
/// endpoints file's fields — the same names, the same validation, the same error messages —
/// plus ``registryFields``: `disabled` (records for a disabled endpoint are dead-lettered
/// `endpoint_disabled`) and `disabled_reason`. Secrets are never plaintext there: each is sealed
/// (`enc:v1:…`, ``SecretKeyring``) or a reference (`env:NAME`, `file:PATH`) resolved on each replica.
///
/// ```json
/// {"id":"orders","url":"https://example.com/hooks","secrets":["enc:v1:k1:…"],"events":["order.*"],"rate_limit":"50/s"}
/// ```
public enum EndpointDocument {
    /// Fields the registry's documents have besides the endpoints file's.
    public static let registryFields: Set<String> = ["disabled", "disabled_reason"]
    /// The largest document.
    public static let sizeLimit = 65_536

    /// A document read and checked.
    public struct Entry: Sendable {
        public var endpoint: Endpoint
        /// Why it is disabled, when it is (`disabled: true`).
        public var disabledReason: String?
    }

    /// Reads the document stored under `key` (the endpoint id).
    /// - Parameters:
    ///   - keyring: opens sealed secrets; `nil` when the replica has no registry key.
    ///   - environment: resolves `env:` secrets; `file:` secrets are read from absolute paths.
    public static func decode(
        _ value: [UInt8], key: String, keyring: SecretKeyring?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> Entry {
        try decode(value, key: key, keyring: keyring, environment: environment, referencesElsewhere: false)
    }

    /// Checks a document before it is written (`webhook-relay endpoints`): as a replica would read
    /// it, except that `env:` and `file:` secrets are the replicas' to resolve.
    public static func check(_ value: [UInt8], key: String, keyring: SecretKeyring?) throws(ConfigurationError) -> Entry {
        try decode(value, key: key, keyring: keyring, environment: [:], referencesElsewhere: true)
    }

    private static func decode(
        _ value: [UInt8], key: String, keyring: SecretKeyring?, environment: [String: String], referencesElsewhere: Bool
    ) throws(ConfigurationError) -> Entry {
        let source = "endpoint '\(EndpointsFile.shown(key))' in the registry"
        guard value.count <= sizeLimit else { throw ConfigurationError("\(source): the document is larger than \(sizeLimit) bytes") }
        guard let text = String(validating: value, as: UTF8.self), text.first == "{" else {
            throw ConfigurationError("\(source): the document is not a JSON object")
        }
        // JSON is YAML: the endpoints file's reader checks it, under the same guard.
        guard let root = try YAMLText.compose(text, source: source, limit: sizeLimit), let mapping = root.mapping else {
            throw ConfigurationError("\(source): the document is not a JSON object")
        }
        var context = EndpointsFile.Context(
            source: source, environment: environment, baseDirectory: "/", readSecretFile: EndpointsFile.readSecretFile(atPath:)
        )
        context.keyring = keyring
        context.registry = true
        context.referencesElsewhere = referencesElsewhere
        let endpoint = try context.endpoint(root, index: 0, defaults: nil)
        guard endpoint.id == key else {
            throw ConfigurationError("\(source): its id is '\(EndpointsFile.shown(endpoint.id))', not the record's key")
        }
        var disabled = false
        if let node = mapping["disabled"] {
            guard let flag = node.bool else { throw ConfigurationError("\(source): field 'disabled': expected true or false") }
            disabled = flag
        }
        var reason: String?
        if disabled {
            reason = mapping["disabled_reason"]?.string ?? "disabled"
            guard let reason, reason.utf8.count <= 512, reason.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
                throw ConfigurationError("\(source): field 'disabled_reason': at most 512 printable characters")
            }
        }
        return Entry(endpoint: endpoint, disabledReason: reason)
    }

    /// The key a sealed secret of the document needs and `keyring` lacks, as "key 'k2'" (or "a
    /// registry key" with no keyring); `nil` when every sealed secret can be opened.
    public static func missingKey(_ value: [UInt8], keyring: SecretKeyring?) -> String? {
        guard value.count <= sizeLimit, let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any],
            let secrets = object["secrets"] as? [String]
        else { return nil }
        for secret in secrets where SecretKeyring.isSealed(secret) {
            guard let keyring else { return "a registry key" }
            let id = secret.dropFirst(SecretKeyring.prefix.count).prefix { $0 != ":" }
            if !keyring.keys.contains(where: { $0.id == id }) { return "key '\(EndpointsFile.shown(String(id), limit: 32))'" }
        }
        return nil
    }
}
