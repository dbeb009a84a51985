import ArgumentParser
import Foundation
import WebhookRelay
import WebhookSignature

/// The fields of an endpoint as flags (`endpoints add` and `update`): the endpoints file's fields,
/// with the same names in kebab case. Each flag given sets its field; `update` keeps the others.
struct EndpointFieldOptions: ParsableArguments {
    @Option(help: "The URL deliveries are POSTed to (http or https).") var url: String?
    @Option(help: "The signature scheme: standard, nself or ed25519.") var scheme: String?
    @Option(name: .customLong("secret"), help: ArgumentHelp(
        "A signing secret: env:NAME or file:PATH (resolved on each replica), `generate` (a new one, printed once), or the secret itself (sealed with the registry key before it is written). Repeatable; replaces the secrets.",
        valueName: "secret"))
    var secrets: [String] = []
    @Option(help: "The tenant whose events (events topic) the endpoint subscribes to.") var tenant: String?
    @Option(name: .customLong("event"), help: ArgumentHelp("An event pattern (`*` and `?` globs); repeatable; replaces the patterns.", valueName: "pattern"))
    var events: [String] = []
    @Option(help: "Time limit of one POST, like 10s.") var timeout: String?
    @Option(help: "Deliveries in flight to the endpoint at once.") var maxInFlight: Int?
    @Option(name: .customLong("header"), help: ArgumentHelp("A static header NAME=VALUE; repeatable; replaces the headers.", valueName: "name=value"))
    var headers: [String] = []
    @Option(help: "Requests per period at most, like 50/s.") var rateLimit: String?
    @Option(name: .customLong("permanent-4xx"), help: "true: a 4xx but 408/429 is final.") var permanent4xx: Bool?
    @Option(help: "true: refuse an http:// URL.") var httpsOnly: Bool?
    @Option(help: "true: deliver one at a time in produce order, retrying a failure in place.") var ordered: Bool?
    @Option(help: "Every attempt failing this long disables the endpoint, like 5d, or never.") var autoDisableAfter: String?
    @Option(help: "Consecutive failures that open the circuit.") var circuitFailureThreshold: Int?
    @Option(help: "Open time before one probe, like 10m.") var circuitOpenDuration: String?
    @Option(help: "Successful probes that close the circuit.") var circuitSuccessesToClose: Int?
    @Option(help: "Held back by an open circuit longer than this: dead-lettered, like 3d.") var circuitMaxAge: String?

    /// Sets the given fields on `fields`; secrets are sealed (plaintext, generated) or kept (references).
    /// - Returns: what to show once of the secrets generated (for ed25519, the key receivers verify with too).
    func apply(to fields: inout [String: Any], id: String, keyring: SecretKeyring?) throws -> [String] {
        let scalars: [(String, Any?)] = [
            ("url", url), ("scheme", scheme), ("tenant", tenant), ("timeout", timeout), ("max_in_flight", maxInFlight), ("rate_limit", rateLimit),
            ("permanent_4xx", permanent4xx), ("https_only", httpsOnly), ("ordered", ordered), ("auto_disable_after", autoDisableAfter),
            ("circuit_failure_threshold", circuitFailureThreshold), ("circuit_open_duration", circuitOpenDuration), ("circuit_successes_to_close", circuitSuccessesToClose),
            ("circuit_max_age", circuitMaxAge),
        ]
        for (name, value) in scalars { if let value { fields[name] = value } }
        if !events.isEmpty { fields["events"] = events }
        if !headers.isEmpty {
            var object: [String: String] = [:]
            for header in headers {
                guard let equals = header.firstIndex(of: "="), equals != header.startIndex else {
                    throw ValidationError("--header expects NAME=VALUE, got '\(EndpointsFile.shown(header, limit: 40))'")
                }
                object[String(header[..<equals])] = String(header[header.index(after: equals)...])
            }
            fields["headers"] = object
        }
        guard !secrets.isEmpty else { return [] }
        let signatureScheme = SignatureScheme(rawValue: fields["scheme"] as? String ?? "standard") ?? .standard
        let (sealed, generated) = try Self.secrets(secrets, scheme: signatureScheme, id: id, keyring: keyring)
        fields["secrets"] = sealed
        return generated
    }

    /// Secrets as the registry holds them (``EndpointSecrets/prepare(_:scheme:endpointID:keyring:)``).
    static func secrets(
        _ given: [String], scheme: SignatureScheme, id: String, keyring: SecretKeyring?
    ) throws -> (sealed: [String], generated: [String]) {
        do {
            return try EndpointSecrets.prepare(given, scheme: scheme, endpointID: id, keyring: keyring)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// Seals one secret value (`endpoints import`).
    static func seal(_ secret: String, id: String, keyring: SecretKeyring?) throws -> String {
        try secrets([secret], scheme: .standard, id: id, keyring: keyring).sealed[0]
    }
}
