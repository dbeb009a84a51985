import Foundation
import WebhookSignature
import Yams

/// Documents as JSON objects, for the commands that write them: built from fields, shown with
/// sealed secrets masked, and converted from an endpoints file (`endpoints import`).
extension EndpointDocument {
    /// Fields whose values are whole numbers, and those that are true or false.
    static let numberFields: Set<String> = ["max_in_flight", "circuit_failure_threshold", "circuit_successes_to_close"]
    static let flagFields: Set<String> = ["permanent_4xx", "https_only", "ordered", "disabled"]

    /// The JSON object of a document; `nil` when it is not one.
    public static func fields(_ document: [UInt8]) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(document)) as? [String: Any]
    }

    /// A document's bytes: compact JSON with sorted keys.
    public static func encode(_ fields: [String: Any]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    /// The documents of an endpoints file's endpoints (`defaults` applied), each checked; plaintext
    /// secrets are passed to `seal` (with the endpoint id), `env:`/`file:` references kept.
    public static func importing(
        _ text: String, source: String, seal: (_ secret: String, _ endpointID: String) throws -> String, keyring: SecretKeyring?
    ) throws -> [(id: String, document: [UInt8])] {
        guard let root = try YAMLText.compose(text, source: source, limit: EndpointsFile.fileLimit), let top = root.mapping else {
            throw ConfigurationError("\(source): the top level must be a mapping with 'endpoints'")
        }
        for key in top.keys where !["defaults", "endpoints"].contains(key.string ?? "") {
            throw ConfigurationError("\(source): unknown top-level field '\(EndpointsFile.shown(key.string ?? "?"))' (expected 'defaults' and 'endpoints')")
        }
        let defaults = top["defaults"]?.mapping
        var documents: [(id: String, document: [UInt8])] = []
        for (index, node) in (top["endpoints"]?.sequence ?? []).enumerated() {
            guard let mapping = node.mapping, let id = mapping["id"]?.string, !id.isEmpty else {
                throw ConfigurationError("\(source): endpoint #\(index + 1) must be a mapping with an 'id'")
            }
            guard !documents.contains(where: { $0.id == id }) else {
                throw ConfigurationError("\(source): endpoint '\(EndpointsFile.shown(id))': the id is used twice")
            }
            var fields: [String: Any] = [:]
            for (key, value) in defaults ?? [:] { if let name = key.string { fields[name] = json(value, field: name) } }
            for (key, value) in mapping { if let name = key.string { fields[name] = json(value, field: name) } }
            if let secrets = fields["secrets"] as? [String] {
                fields["secrets"] = try secrets.map { secret in
                    secret.hasPrefix("env:") || secret.hasPrefix("file:") || SecretKeyring.isSealed(secret) ? secret : try seal(secret, id)
                }
            }
            let document = try encode(fields)
            _ = try check(document, key: id, keyring: keyring)
            documents.append((id, document))
        }
        return documents
    }

    /// The fields with every sealed secret (current and retiring) sealed with the keyring's sealing
    /// key — the middle step of a registry key rotation — and how many were sealed again.
    public static func resealed(_ fields: [String: Any], id: String, keyring: SecretKeyring) throws(SecretKeyring.Problem) -> (fields: [String: Any], count: Int) {
        var resealed = fields, count = 0
        func reseal(_ secret: String) throws(SecretKeyring.Problem) -> String {
            guard SecretKeyring.isSealed(secret), let again = try keyring.reseal(secret, endpointID: id) else { return secret }
            count += 1
            return again
        }
        if let secrets = fields["secrets"] as? [String] {
            var sealed: [String] = []
            for secret in secrets { sealed.append(try reseal(secret)) }
            resealed["secrets"] = sealed
        }
        if let retiring = fields["retiring_secrets"] as? [[String: Any]] {
            var entries: [[String: Any]] = []
            for var entry in retiring {
                if let secret = entry["secret"] as? String { entry["secret"] = try reseal(secret) }
                entries.append(entry)
            }
            resealed["retiring_secrets"] = entries
        }
        return (resealed, count)
    }

    /// The default grace period of a secret rotation: the old secrets keep signing this long.
    public static let defaultGrace: Duration = .seconds(86_400)
    /// The longest grace period a rotation takes.
    public static let maximumGrace: Duration = .seconds(30 * 86_400)
    /// Why a longer grace period is refused.
    public static let graceProblem = "the grace period is at most 30 days"

    /// The secret texts of a document's fields: its secrets and its retiring secrets.
    public static func secretTexts(_ fields: [String: Any]) -> [String] {
        (fields["secrets"] as? [String] ?? []) + (fields["retiring_secrets"] as? [[String: Any]] ?? []).compactMap { $0["secret"] as? String }
    }

    /// `current` changed by a JSON merge patch (RFC 7396): `null` removes a field, objects merge
    /// field by field, anything else replaces.
    public static func merged(_ current: [String: Any], _ patch: [String: Any]) -> [String: Any] {
        var fields = current
        for (name, value) in patch {
            if value is NSNull {
                fields[name] = nil
            } else if let object = value as? [String: Any] {
                fields[name] = merged(current[name] as? [String: Any] ?? [:], object)
            } else {
                fields[name] = value
            }
        }
        return fields
    }

    /// The fields after a secret rotation: the current secrets keep signing until `now + grace`
    /// (`retiring_secrets`), `new` (sealed or references) become the secrets; retiring secrets
    /// past their deadline are dropped.
    public static func rotated(_ fields: [String: Any], to new: [String], grace: Duration, now: Int64) -> [String: Any] {
        var rotated = fields
        let until = now.addingReportingOverflow(min(grace, maximumGrace).wholeMilliseconds).partialValue
        var retiring = (fields["retiring_secrets"] as? [[String: Any]] ?? []).filter { entry in
            ((entry["until"] as? NSNumber)?.int64Value ?? 0) > now
        }
        if grace > .zero {
            for secret in fields["secrets"] as? [String] ?? [] where !new.contains(secret) {
                retiring.append(["secret": secret, "until": until])
            }
        }
        rotated["secrets"] = new
        rotated["retiring_secrets"] = retiring.isEmpty ? nil : retiring
        return rotated
    }

    /// A YAML value as JSON: numbers and flags typed, lists and mappings kept, the rest strings.
    private static func json(_ node: Node, field: String) -> Any {
        if let sequence = node.sequence { return sequence.map { $0.string ?? "" } }
        if let mapping = node.mapping {
            var object: [String: String] = [:]
            for (key, value) in mapping { object[key.string ?? ""] = value.string ?? "" }
            return object
        }
        let text = node.string ?? ""
        if numberFields.contains(field), let number = Int(text) { return number }
        if flagFields.contains(field), let flag = ["true": true, "false": false][text] { return flag }
        return text
    }
}
