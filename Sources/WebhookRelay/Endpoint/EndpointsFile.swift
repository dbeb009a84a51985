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
///     tenant: acme                   # optional: subscribes to acme's events (events topic)
///     events: ["order.*"]            # optional globs
///     timeout: 5s
///     max_in_flight: 16
///     headers: {X-Team: payments}
///     rate_limit: 50/s               # requests per period at most
///     permanent_4xx: true            # 4xx but 408/429 dead-letters at once ("rejected")
///     https_only: true               # refuse an http:// URL
///     ordered: true                  # one at a time, in produce order; failures retried in place
///     auto_disable_after: 5d         # every attempt failing this long disables it (or never)
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
        "id", "url", "scheme", "secrets", "tenant", "events", "timeout", "max_in_flight", "headers", "rate_limit", "permanent_4xx",
        "https_only", "ordered", "auto_disable_after", "circuit_failure_threshold", "circuit_open_duration", "circuit_successes_to_close", "circuit_max_age",
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
}
