import Foundation
import WebhookSignature
import Yams

/// The fields of one endpoint in the endpoints file, each checked and turned into an ``Endpoint``.
extension EndpointsFile {
    /// Reads one file's endpoints: where it is (for errors and relative `file:` paths), and how
    /// secrets are found.
    struct Context {
        var source: String
        var environment: [String: String]
        var baseDirectory: String
        var readSecretFile: (_ path: String) throws(ConfigurationError) -> [UInt8]
        /// Opens sealed (`enc:`) secrets; `nil` where none may appear.
        var keyring: SecretKeyring?
        /// The registry's documents: sealed or referenced secrets only, never plaintext, and the
        /// registry's own fields (``EndpointDocument/registryFields``) allowed.
        var registry = false
        /// Checks a document away from the replicas (`webhook-relay endpoints`): `env:` and `file:`
        /// references, which name what the replicas have, stand for a new secret of the scheme.
        var referencesElsewhere = false
        /// Secrets being rotated out that still sign (registry documents, ``EndpointDocument``):
        /// alongside the others for the schemes that send several signatures, instead of them for
        /// nSelf, which sends one (receivers accept either during the grace period).
        var retiringSecrets: [String] = []

        func error(at node: Node?, _ message: String) -> ConfigurationError {
            if let mark = node?.mark { return ConfigurationError("\(source):\(mark.line): \(message)") }
            return ConfigurationError("\(source): \(message)")
        }

        func endpoint(_ node: Node, index: Int, defaults: Node.Mapping?) throws(ConfigurationError) -> Endpoint {
            guard let mapping = node.mapping else { throw error(at: node, "endpoint #\(index + 1) must be a mapping") }
            var fields: [String: Node] = [:]
            for (key, value) in defaults ?? [:] { fields[key.string ?? ""] = value }
            var own = Set<String>()
            for (key, value) in mapping {
                let name = key.string ?? ""
                guard EndpointsFile.endpointFields.contains(name) || (registry && EndpointDocument.registryFields.contains(name)) else {
                    let id = mapping["id"]?.string ?? "#\(index + 1)"
                    throw error(at: key, "endpoint '\(EndpointsFile.shown(id))': unknown field '\(EndpointsFile.shown(name))'")
                }
                guard own.insert(name).inserted else { throw error(at: key, "field '\(EndpointsFile.shown(name))' appears twice") }
                fields[name] = value
            }
            guard let idNode = mapping["id"], let id = idNode.scalar?.string, !id.isEmpty else {
                throw error(at: node, "endpoint #\(index + 1): 'id' is required")
            }
            func fail(_ field: String, _ message: String) -> ConfigurationError {
                error(at: fields[field] ?? node, "endpoint '\(EndpointsFile.shown(id))': field '\(field)': \(message)")
            }
            guard id.utf8.count <= 249, id.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
                throw fail("id", "must be 1-249 printable characters without spaces")
            }

            guard let url = fields["url"]?.scalar?.string, !url.isEmpty else { throw fail("url", "is required") }
            if let problem = EndpointURL.problem(url) { throw fail("url", "'\(EndpointURL.shown(url))' \(problem)") }
            let scheme = URLComponents(string: url)?.scheme?.lowercased() ?? ""

            let schemeName = fields["scheme"]?.scalar?.string ?? "standard"
            guard let signatureScheme = SignatureScheme(rawValue: schemeName) else {
                // Not echoed: a secret pasted into the wrong field would be printed.
                throw fail("scheme", "must be one of standard, nself, ed25519")
            }

            var secretValues: [String] = []
            if let secretsNode = fields["secrets"] {
                guard let sequence = secretsNode.sequence else { throw fail("secrets", "must be a list") }
                for (position, item) in sequence.enumerated() {
                    guard let text = item.scalar?.string else { throw fail("secrets", "item \(position + 1) must be a string") }
                    let field = { (message: String) in fail("secrets", "item \(position + 1): \(message)") }
                    if referencesElsewhere && (text.hasPrefix("env:") || text.hasPrefix("file:")) {
                        secretValues.append(Self.placeholder(for: signatureScheme))
                    } else {
                        secretValues.append(try resolveSecret(text, endpointID: id, field: field))
                    }
                }
            }
            let signer: WebhookSigner
            do {
                let signing = signatureScheme == .nself ? retiringSecrets + secretValues : secretValues + retiringSecrets
                signer = try WebhookSigner(scheme: signatureScheme, secrets: signing)
            } catch {
                throw fail("secrets", "\(error)")
            }

            var tenant: String?
            if let node = fields["tenant"] {
                guard let text = node.scalar?.string, !text.isEmpty, HeaderText.isPrintable(text) else {
                    throw fail("tenant", "must be 1-256 printable characters")
                }
                tenant = text
            }

            var events: [EventPattern] = []
            if let eventsNode = fields["events"] {
                guard let sequence = eventsNode.sequence else { throw fail("events", "must be a list of patterns") }
                for item in sequence {
                    guard let pattern = item.scalar?.string, !pattern.isEmpty else { throw fail("events", "patterns must be non-empty strings") }
                    events.append(EventPattern(pattern))
                }
            }

            var timeout = Duration.seconds(10)
            if let node = fields["timeout"] {
                guard let text = node.scalar?.string, let value = DurationText.parse(text), value > .zero, value <= .seconds(300) else {
                    throw fail("timeout", "expected a duration from 1ms to 300s, like 10s")
                }
                timeout = value
            }

            var maxInFlight = 32
            if let node = fields["max_in_flight"] {
                guard let text = node.scalar?.string, let value = Int(text), (1...10_000).contains(value) else {
                    throw fail("max_in_flight", "expected a whole number from 1 to 10000")
                }
                maxInFlight = value
            }

            var headers: [(name: String, value: String)] = []
            if let node = fields["headers"] {
                guard let headerMapping = node.mapping else { throw fail("headers", "must be a mapping of names to values") }
                for (key, value) in headerMapping {
                    guard let name = key.string, HTTPFieldName.isValid(name), let text = value.scalar?.string,
                        text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F })
                    else { throw fail("headers", "'\(EndpointsFile.shown(key.string ?? "?"))' must be a header name with a printable value") }
                    headers.append((name, text))
                }
            }

            func flag(_ field: String) throws(ConfigurationError) -> Bool? {
                guard let node = fields[field] else { return nil }
                guard let value = node.scalar?.string, let parsed = ["true": true, "false": false][value] else {
                    throw fail(field, "expected true or false")
                }
                return parsed
            }
            func count(_ field: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
                guard let node = fields[field] else { return nil }
                guard let text = node.scalar?.string, let value = Int(text), range.contains(value) else {
                    throw fail(field, "expected a whole number from \(range.lowerBound) to \(range.upperBound)")
                }
                return value
            }
            func duration(_ field: String) throws(ConfigurationError) -> Duration? {
                guard let node = fields[field] else { return nil }
                guard let text = node.scalar?.string, let value = DurationText.parse(text), value > .zero else {
                    throw fail(field, "expected a duration like 10m")
                }
                return value
            }

            if try flag("https_only") == true && scheme != "https" {
                throw fail("url", "'\(EndpointURL.shown(url))' is not https:// but https_only is set")
            }
            var policy = EndpointPolicy()
            if let node = fields["rate_limit"] {
                guard let text = node.scalar?.string, let rate = RateLimit.Rate(text) else {
                    throw fail("rate_limit", "expected requests per period, like 50/s, 600/m or 100/10s")
                }
                policy.rateLimit = rate
            }
            policy.permanent4xx = try flag("permanent_4xx") ?? false
            policy.ordered = try flag("ordered") ?? false
            if fields["auto_disable_after"]?.scalar?.string == "never" {
                policy.autoDisableAfter = nil
            } else if let after = try duration("auto_disable_after") {
                policy.autoDisableAfter = after
            }
            policy.circuit.failureThreshold = try count("circuit_failure_threshold", 1...1_000_000) ?? policy.circuit.failureThreshold
            policy.circuit.successesToClose = try count("circuit_successes_to_close", 1...1_000) ?? policy.circuit.successesToClose
            policy.circuit.openDuration = try duration("circuit_open_duration") ?? policy.circuit.openDuration
            policy.circuitMaxAge = try duration("circuit_max_age") ?? policy.circuitMaxAge

            return Endpoint(
                id: id, url: url, scheme: signatureScheme, signer: signer, events: events, timeout: timeout,
                maxInFlight: maxInFlight, headers: headers, policy: policy, tenant: tenant
            )
        }

        /// A valid secret of the scheme, standing for a reference checked elsewhere.
        static func placeholder(for scheme: SignatureScheme) -> String {
            switch scheme {
            case .standard: SecretGenerator.standardSecret().exposeSecret()
            case .nself: SecretGenerator.nselfSecret().exposeSecret()
            case .ed25519: SecretGenerator.ed25519KeyPair().signingKey.exposeSecret()
            }
        }

        /// `env:NAME`, `file:PATH`, `enc:v1:…` (sealed with the registry key) or the value itself
        /// (not in the registry).
        func resolveSecret(_ text: String, endpointID: String, field: (String) -> ConfigurationError) throws(ConfigurationError) -> String {
            if SecretKeyring.isSealed(text) {
                guard let keyring else { throw field("a sealed secret (enc:), but no registry key is given (--registry-key)") }
                do {
                    return try keyring.open(text, endpointID: endpointID)
                } catch {
                    throw field(error.description)
                }
            }
            if text.hasPrefix("env:") {
                let name = String(text.dropFirst(4))
                guard let value = environment[name] else { throw field("environment variable '\(EndpointsFile.shown(name))' is not set") }
                return value
            }
            if text.hasPrefix("file:") {
                var path = String(text.dropFirst(5))
                if !path.hasPrefix("/") { path = (baseDirectory as NSString).appendingPathComponent(path) }
                let bytes: [UInt8]
                do {
                    bytes = try readSecretFile(path)
                } catch {
                    throw field("cannot read secret file '\(EndpointsFile.shown(path))' (\(error.message))")
                }
                guard var value = String(validating: bytes, as: UTF8.self) else {
                    throw field("secret file '\(EndpointsFile.shown(path))' is not UTF-8")
                }
                while value.hasSuffix("\n") || value.hasSuffix("\r") { value.removeLast() }
                return value
            }
            // Not echoed: it is a secret.
            if registry { throw field("a plaintext secret; the registry holds secrets sealed (enc:) or as references (env:, file:)") }
            return text
        }
    }
}
