import Foundation
import WebhookSignature
import Yams

/// An endpoint as the registry topic (`<prefix>.endpoints`) holds it: a JSON object with the
/// endpoints file's fields — the same names, the same validation, the same error messages —
/// plus ``registryFields``: `disabled` (records for a disabled endpoint are dead-lettered
/// `endpoint_disabled`), `disabled_reason`, and `retiring_secrets` — secrets rotated out that keep
/// signing until their deadline, `[{"secret": "enc:v1:…", "until": <epoch ms>}]`. Secrets are never plaintext there: each is sealed
/// (`enc:v1:…`, ``SecretKeyring``) or a reference (`env:NAME`, `file:PATH`) resolved on each replica.
///
/// ```json
/// {"id":"orders","url":"https://example.com/hooks","secrets":["enc:v1:k1:…"],"events":["order.*"],"rate_limit":"50/s"}
/// ```
public enum EndpointDocument {
    /// Fields the registry's documents have besides the endpoints file's.
    public static let registryFields: Set<String> = ["disabled", "disabled_reason", "retiring_secrets"]
    /// The largest document.
    public static let sizeLimit = 65_536

    /// A document read and checked.
    public struct Entry: Sendable {
        /// The endpoint the document describes.
        public var endpoint: Endpoint
        /// Why it is disabled, when it is (`disabled: true`).
        public var disabledReason: String?
        /// When the earliest retiring secret stops signing (epoch ms): the document is read again then.
        public var changesAt: Int64?
    }

    /// Reads the document stored under `key` (the endpoint id).
    /// - Parameters:
    ///   - keyring: opens sealed secrets; `nil` when the replica has no registry key.
    ///   - environment: resolves `env:` secrets; `file:` secrets are read from absolute paths.
    /// - Parameter now: wall-clock epoch milliseconds: retiring secrets past their deadline are left out.
    public static func decode(
        _ value: [UInt8], key: String, keyring: SecretKeyring?, environment: [String: String] = ProcessInfo.processInfo.environment,
        now: Int64
    ) throws(ConfigurationError) -> Entry {
        try decode(value, key: key, keyring: keyring, environment: environment, referencesElsewhere: false, now: now)
    }

    /// Checks a document before it is written (`webhook-relay endpoints`): as a replica would read
    /// it, except that `env:` and `file:` secrets are the replicas' to resolve.
    public static func check(_ value: [UInt8], key: String, keyring: SecretKeyring?) throws(ConfigurationError) -> Entry {
        try decode(value, key: key, keyring: keyring, environment: [:], referencesElsewhere: true, now: 0)
    }

    private static func decode(
        _ value: [UInt8], key: String, keyring: SecretKeyring?, environment: [String: String], referencesElsewhere: Bool, now: Int64
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
        if let id = mapping["id"]?.string, id != key {
            throw ConfigurationError("\(source): its id is '\(EndpointsFile.shown(id))', not the record's key")
        }
        let retiring = try retiringSecrets(mapping["retiring_secrets"], key: key, context: context, now: now, source: source)
        context.retiringSecrets = retiring.secrets
        let endpoint = try context.endpoint(root, index: 0, defaults: nil)
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
        return Entry(endpoint: endpoint, disabledReason: reason, changesAt: retiring.until.min())
    }

    /// The retiring secrets still signing at `now`, resolved, and their deadlines.
    private static func retiringSecrets(
        _ node: Node?, key: String, context: EndpointsFile.Context, now: Int64, source: String
    ) throws(ConfigurationError) -> (secrets: [String], until: [Int64]) {
        guard let node else { return ([], []) }
        func fail(_ message: String) -> ConfigurationError { ConfigurationError("\(source): field 'retiring_secrets': \(message)") }
        guard let sequence = node.sequence, sequence.count <= 16 else { throw fail("must be a list of at most 16 {secret, until}") }
        var secrets: [String] = [], until: [Int64] = []
        for item in sequence {
            guard let entry = item.mapping, let text = entry["secret"]?.string, let deadline = entry["until"]?.string.flatMap({ Int64($0) }),
                entry.count == 2
            else { throw fail("each item is {\"secret\": …, \"until\": <epoch milliseconds>}") }
            // Never plaintext, even past its deadline (it would still be on the topic).
            if context.registry && !SecretKeyring.isSealed(text) && !text.hasPrefix("env:") && !text.hasPrefix("file:") {
                throw fail("a plaintext secret; the registry holds secrets sealed (enc:) or as references (env:, file:)")
            }
            // Past its deadline a retiring secret signs no more; it is dropped at the next write.
            guard deadline > now else { continue }
            // Away from the replicas, references are theirs to resolve; anything else (a plaintext
            // secret included) is checked as they will read it.
            if !(context.referencesElsewhere && (text.hasPrefix("env:") || text.hasPrefix("file:"))) {
                secrets.append(try context.resolveSecret(text, endpointID: key) { fail($0) })
            }
            until.append(deadline)
        }
        return (secrets, until)
    }

    /// The key a sealed secret of the document needs and `keyring` lacks, as "key 'k2'" (or "a
    /// registry key" with no keyring); `nil` when every sealed secret — retiring ones still signing
    /// at `now` (epoch ms) included — can be opened.
    public static func missingKey(_ value: [UInt8], keyring: SecretKeyring?, now: Int64) -> String? {
        guard value.count <= sizeLimit, let object = try? JSONSerialization.jsonObject(with: Data(value)) as? [String: Any] else { return nil }
        let retiring = (object["retiring_secrets"] as? [[String: Any]] ?? []).compactMap { entry -> String? in
            guard ((entry["until"] as? NSNumber)?.int64Value ?? 0) > now else { return nil }
            return entry["secret"] as? String
        }
        for secret in (object["secrets"] as? [String] ?? []) + retiring where SecretKeyring.isSealed(secret) {
            guard let keyring else { return "a registry key" }
            let id = secret.dropFirst(SecretKeyring.prefix.count).prefix { $0 != ":" }
            if !keyring.keys.contains(where: { $0.id == id }) { return "key '\(EndpointsFile.shown(String(id), limit: 32))'" }
        }
        return nil
    }
}
