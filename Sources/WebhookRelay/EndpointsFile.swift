import Foundation
import WebhookSignature
import Yams
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The endpoints file (`--endpoints endpoints.yaml`):
///
/// ```yaml
/// defaults:            # optional; any endpoint field but id and url
///   timeout: 10s
///   max_in_flight: 32
/// endpoints:
///   - id: orders
///     url: https://example.com/hooks
///     scheme: standard               # standard | nself | ed25519
///     secrets: [env:ORDERS_SECRET]   # inline value, env:NAME or file:PATH
///     events: ["order.*"]            # optional globs
///     timeout: 5s
///     max_in_flight: 16
///     headers: {X-Team: payments}
///     rate_limit: 50/s               # requests per period at most
///     permanent_4xx: true            # 4xx but 408/429 dead-letters at once ("rejected")
///     https_only: true               # refuse an http:// URL
///     circuit_failure_threshold: 5   # consecutive failures that open the circuit
///     circuit_open_duration: 10m     # open time before one probe
///     circuit_successes_to_close: 2  # successful probes that close it
///     circuit_max_age: 3d            # held back by an open circuit longer: dead-lettered
/// ```
///
/// Unknown fields and bad values are errors that name the endpoint and the field; secret values
/// never appear in them.
public enum EndpointsFile {
    static let endpointFields: Set<String> = [
        "id", "url", "scheme", "secrets", "events", "timeout", "max_in_flight", "headers", "rate_limit", "permanent_4xx",
        "https_only", "circuit_failure_threshold", "circuit_open_duration", "circuit_successes_to_close", "circuit_max_age",
    ]

    /// Reads and validates the file.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigurationError) -> [Endpoint] {
        let text = try YAMLText.read(path, limit: fileLimit, what: "the endpoints file")
        return try parse(text, source: path, environment: environment, baseDirectory: (path as NSString).deletingLastPathComponent)
    }

    /// Parses endpoints from YAML text. `source` names the file in errors; `file:` secrets are
    /// read with `readSecretFile` (relative paths from `baseDirectory`).
    public static func parse(
        _ text: String,
        source: String = "endpoints",
        environment: [String: String] = ProcessInfo.processInfo.environment,
        baseDirectory: String = ".",
        readSecretFile: @escaping (_ path: String) throws(ConfigurationError) -> [UInt8] = EndpointsFile.readSecretFile(atPath:)
    ) throws(ConfigurationError) -> [Endpoint] {
        guard let root = try YAMLText.compose(text, source: source, limit: fileLimit) else { throw ConfigurationError("\(source): the file is empty") }
        let context = Context(source: source, environment: environment, baseDirectory: baseDirectory, readSecretFile: readSecretFile)
        guard let top = root.mapping else { throw context.error(at: root, "the top level must be a mapping with 'endpoints'") }
        var defaults: Node.Mapping?
        var list: Node.Sequence?
        for (keyNode, value) in top {
            switch keyNode.string {
            case "defaults":
                guard let mapping = value.mapping else { throw context.error(at: value, "'defaults' must be a mapping") }
                for (field, _) in mapping where !endpointFields.subtracting(["id", "url"]).contains(field.string ?? "") {
                    throw context.error(at: field, "defaults: unknown field '\(shown(field.string ?? "?"))'")
                }
                defaults = mapping
            case "endpoints":
                guard let sequence = value.sequence else { throw context.error(at: value, "'endpoints' must be a list") }
                list = sequence
            default:
                throw context.error(at: keyNode, "unknown top-level field '\(shown(keyNode.string ?? "?"))' (expected 'defaults' and 'endpoints')")
            }
        }
        guard let list, !list.isEmpty else { throw ConfigurationError("\(source): 'endpoints' is missing or empty") }
        var endpoints: [Endpoint] = []
        var seen = Set<String>()
        for (index, node) in list.enumerated() {
            let endpoint = try context.endpoint(node, index: index, defaults: defaults)
            guard seen.insert(endpoint.id).inserted else {
                throw context.error(at: node, "endpoint '\(shown(endpoint.id))': the id is used twice")
            }
            endpoints.append(endpoint)
        }
        return endpoints
    }

    /// The largest endpoints file: 8 MiB, about 56,000 endpoints of four fields, which `config
    /// check` (release build) loads in 3.6 s with 160 MiB. A 50 MB file of 442,446 endpoints took
    /// 83 s and 930 MB. Larger fleets belong in the endpoints API.
    public static let fileLimit = 8 * 1_048_576

    /// Text from the file as shown in an error: control characters and line separators escaped
    /// (an error is one log line), cut after `limit` bytes.
    public static func shown(_ text: String, limit: Int = 80) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            if result.utf8.count >= limit {
                result += "..."
                break
            }
            if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\u{2028}" || scalar == "\u{2029}" {
                result += scalar.escaped(asASCII: true)
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// The largest `file:` secret read, in bytes.
    public static let secretFileLimit = 64 * 1024

    /// Reads a `file:` secret: a regular file (or a link to one) of at most ``secretFileLimit``
    /// bytes. Devices (`/dev/zero`), FIFOs, sockets and directories are refused without blocking or
    /// reading them. The error's message is the reason alone; the caller names the path.
    public static func readSecretFile(atPath path: String) throws(ConfigurationError) -> [UInt8] {
        func failure(_ reason: String) -> ConfigurationError { ConfigurationError(reason) }
        func systemError() -> ConfigurationError { failure(String(cString: strerror(errno))) }
        // O_NONBLOCK: opening a FIFO must not wait for a writer. The type is checked before any read.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw systemError() }
        defer { _ = close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw systemError() }
        guard status.st_mode & S_IFMT == S_IFREG else { throw failure("not a regular file") }
        guard status.st_size <= secretFileLimit else { throw failure("larger than \(secretFileLimit) bytes") }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw systemError()
            }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
            // The file may grow after fstat.
            guard bytes.count <= secretFileLimit else { throw failure("larger than \(secretFileLimit) bytes") }
        }
    }

    private struct Context {
        var source: String
        var environment: [String: String]
        var baseDirectory: String
        var readSecretFile: (_ path: String) throws(ConfigurationError) -> [UInt8]

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
                guard EndpointsFile.endpointFields.contains(name) else {
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
                    secretValues.append(try resolveSecret(text, field: { fail("secrets", "item \(position + 1): \($0)") }))
                }
            }
            let signer: WebhookSigner
            do {
                signer = try WebhookSigner(scheme: signatureScheme, secrets: secretValues)
            } catch {
                throw fail("secrets", "\(error)")
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
            policy.circuit.failureThreshold = try count("circuit_failure_threshold", 1...1_000_000) ?? policy.circuit.failureThreshold
            policy.circuit.successesToClose = try count("circuit_successes_to_close", 1...1_000) ?? policy.circuit.successesToClose
            policy.circuit.openDuration = try duration("circuit_open_duration") ?? policy.circuit.openDuration
            policy.circuitMaxAge = try duration("circuit_max_age") ?? policy.circuitMaxAge

            return Endpoint(
                id: id, url: url, scheme: signatureScheme, signer: signer, events: events, timeout: timeout,
                maxInFlight: maxInFlight, headers: headers, policy: policy
            )
        }

        /// `env:NAME`, `file:PATH` or the value itself.
        func resolveSecret(_ text: String, field: (String) -> ConfigurationError) throws(ConfigurationError) -> String {
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
            return text
        }
    }
}
