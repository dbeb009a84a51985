import ArgumentParser
import Foundation
import Logging
import Synchronization
import UnixSignals
import WebhookReceiver
import WebhookRelay
import WebhookSignature

/// `webhook-relay listen`: a verifying webhook receiver for development, inspection and tests.
struct ListenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listen",
        abstract: "Receive webhooks locally: verify every signature and print each delivery as a JSON line.",
        discussion: """
            Serves POST /<endpoint id> for the endpoints of --endpoints (the relay's endpoints \
            file: ids, schemes and secrets are used, URLs are ignored) or for the single endpoint \
            of --endpoint/--scheme/--secret. Every request is verified and written as one JSON \
            object per line to standard output (or --log): received_at_ms, endpoint, webhook_id, \
            attempt (1 for the first request with that id), sender_attempt (the relay's \
            Webhook-Attempt header: tells a retry from a duplicate), verified, answer (the status, \
            "timeout" or "reset"), error (why verification failed) and, with --bodies, the body.

            --behaviour ID:SPEC scripts failures (ID * means every endpoint), SPEC being \
            comma-separated keys: 5xx=F (fraction answered with status=N, default 500), \
            timeout=F (never answered, held for hang=D), reset=F (connection reset), 429=F \
            (with retry-after=S), slow=F (answered after slow-delay=D), delay=D (before every \
            answer), fail-first=N (fail the first N attempts of every id), gone-after=N (410 \
            after N requests), fail (always fail). Which request gets which answer is a hash \
            of endpoint, id and attempt: the same traffic gets the same answers.

            Listens on 127.0.0.1 unless --bind says otherwise; announces its URL on standard \
            error; stops on SIGTERM or SIGINT with a summary on standard error.
            """
    )

    @Option(help: "Port to listen on (0: a free one).")
    var port: Int = 8080

    @Option(help: ArgumentHelp("Address to bind.", valueName: "address"))
    var bind: String = "127.0.0.1"

    @Option(help: ArgumentHelp("The relay's endpoints file; the receiver serves each endpoint at /<id>.", valueName: "path"))
    var endpoints: String?

    @Option(help: ArgumentHelp("With --secret: the id of the one endpoint (served at /<id>).", valueName: "id"))
    var endpoint: String = "webhook"

    @Option(help: "With --secret: the signature scheme (standard, nself, ed25519).")
    var scheme: SignatureScheme = .standard

    @Option(help: ArgumentHelp(
        "The one endpoint's secret (whsec_…, an nSelf secret or a whpk_ key; repeatable), or env:NAME to read it from a variable.",
        valueName: "secret"))
    var secret: [String] = []

    @Option(help: ArgumentHelp("Scripted answers for an endpoint, ID:KEY=VALUE,... (repeatable; see above).", valueName: "id:spec"))
    var behaviour: [String] = []

    @Option(help: ArgumentHelp("Write the JSON lines to this file instead of standard output.", valueName: "path"))
    var log: String?

    @Flag(help: "Include each body in the JSON lines (as text when it is UTF-8, else body_base64).")
    var bodies = false

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, got \(port)") }
        if endpoints != nil && !secret.isEmpty {
            throw ValidationError("use either --endpoints or --secret, not both")
        }
        if endpoints == nil && secret.isEmpty {
            throw ValidationError("--endpoints FILE or --secret SECRET is required")
        }
        for spec in behaviour { _ = try BehaviourSpec.validated(spec) }
    }

    func run() async throws {
        var logger = logging.makeLogger(label: "webhook-relay.listen")
        if logging.logLevel == nil { logger.logLevel = .warning }
        let receiving = try receiverEndpoints()
        let output = try JSONLineWriter(path: log)
        let counts = Mutex([String: ListenTally]())
        var configuration = WebhookReceiver.Configuration()
        configuration.recordsRequests = false
        let includeBodies = bodies
        configuration.onRequest = { request in
            output.write(Self.line(request, includeBody: includeBodies))
            counts.withLock { $0[request.endpointID, default: ListenTally()].add(request) }
        }
        let receiver = WebhookReceiver(endpoints: receiving, configuration: configuration)
        let flusher = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                output.flush()
            }
        }
        try await receiver.withServer(host: bind, port: port, logger: logger) { url in
            FileHandle.standardError.write(Data("webhook-relay listen: \(url) (endpoints: \(receiving.map(\.id).sorted().joined(separator: ", ")))\n".utf8))
            for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { break }
        }
        flusher.cancel()
        output.flush()
        let summary = counts.withLock { $0 }.sorted { $0.key < $1.key }.map { id, tally in
            "\(id): \(tally.requests) requests, \(tally.distinctIDs.count) ids, \(tally.unverified) unverified, answers \(tally.answers.sorted { $0.key < $1.key }.map { "\($0.key)×\($0.value)" }.joined(separator: " "))"
        }
        FileHandle.standardError.write(Data(("webhook-relay listen: stopped\n" + summary.map { "  \($0)\n" }.joined()).utf8))
    }

    private func receiverEndpoints() throws -> [WebhookReceiver.Endpoint] {
        let specs = try behaviour.map(BehaviourSpec.validated)
        var verifiers: [(String, WebhookVerifier)] = []
        if let endpoints {
            do {
                for endpoint in try EndpointsFile.load(path: endpoints) {
                    do {
                        verifiers.append((endpoint.id, try WebhookVerifier(accepting: endpoint.signer)))
                    } catch {
                        throw ValidationError("endpoint '\(endpoint.id)': cannot verify its deliveries (\(error))")
                    }
                }
            } catch let error as ConfigurationError {
                throw ValidationError(error.message)
            }
        } else {
            let secrets = try secret.map { text in
                guard text.hasPrefix("env:") else { return text }
                let name = String(text.dropFirst(4))
                guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                    throw ValidationError("--secret env:\(name): the variable is not set")
                }
                return value
            }
            do {
                verifiers.append((endpoint, try WebhookVerifier(scheme: scheme, secrets: secrets)))
            } catch {
                throw ValidationError("--secret: \(error)")
            }
        }
        let ids = Set(verifiers.map(\.0))
        for spec in specs where spec.endpointID != "*" && !ids.contains(spec.endpointID) {
            throw ValidationError("--behaviour '\(spec.description)': no endpoint '\(spec.endpointID)' (endpoints: \(ids.sorted().joined(separator: ", ")))")
        }
        let fallback = specs.last { $0.endpointID == "*" }?.behaviour ?? ReceiverBehaviour()
        return verifiers.map { id, verifier in
            WebhookReceiver.Endpoint(id: id, verifier: verifier, behaviour: specs.last { $0.endpointID == id }?.behaviour ?? fallback)
        }
    }

    /// One JSON line for a request.
    static func line(_ request: WebhookReceiver.Request, includeBody: Bool) -> String {
        var line = "{\"received_at_ms\":\(request.receivedAtMilliseconds),\"endpoint\":\(JSONText.quote(request.endpointID))"
        line += ",\"webhook_id\":\(JSONText.quote(request.webhookID)),\"attempt\":\(request.attempt)"
        if let senderAttempt = request.senderAttempt { line += ",\"sender_attempt\":\(senderAttempt)" }
        line += ",\"verified\":\(request.verified),\"answer\":\(JSONText.quote(request.answer.description))"
        if let error = request.verificationError { line += ",\"error\":\(JSONText.quote(error))" }
        if includeBody {
            if let text = String(validating: request.body, as: UTF8.self) {
                line += ",\"body\":\(JSONText.quote(text))"
            } else {
                line += ",\"body_base64\":\"\(Data(request.body).base64EncodedString())\""
            }
        }
        return line + "}\n"
    }
}

/// Per-endpoint counts for the summary `listen` prints when it stops.
struct ListenTally {
    var requests = 0
    var unverified = 0
    var distinctIDs: Set<String> = []
    var answers: [String: Int] = [:]

    mutating func add(_ request: WebhookReceiver.Request) {
        requests += 1
        if !request.verified { unverified += 1 }
        distinctIDs.insert(request.webhookID)
        answers[request.answer.description, default: 0] += 1
    }
}

/// JSON string literals without a JSON encoder per line.
enum JSONText {
    static func quote(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case _ where scalar.value < 0x20:
                result += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }
}

/// Lines buffered in memory and written to a file or standard output by ``flush()``, so a busy
/// receiver does not make one write call per request.
final class JSONLineWriter: Sendable {
    private let handle: FileHandle
    private let buffer = Mutex([UInt8]())

    init(path: String?) throws {
        if let path {
            guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                throw ValidationError("--log \(path): cannot create the file")
            }
            self.handle = handle
        } else {
            self.handle = FileHandle.standardOutput
        }
    }

    func write(_ line: String) {
        buffer.withLock { $0.append(contentsOf: line.utf8) }
    }

    func flush() {
        let bytes = buffer.withLock { buffer -> [UInt8] in
            defer { buffer.removeAll(keepingCapacity: true) }
            return buffer
        }
        if !bytes.isEmpty { handle.write(Data(bytes)) }
    }
}
