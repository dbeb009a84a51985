import ArgumentParser
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import WebhookReceiver
import WebhookRelay
import Synchronization
import WebhookSignature

/// `webhook-relay demo` (`make demo`): the whole relay on this machine in under a minute.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the relay end to end on this machine: embedded broker, a local receiver, sample webhooks.",
        discussion: """
            Starts the embedded broker and a receiver on 127.0.0.1 with three endpoints — 'healthy' \
            (Standard Webhooks HMAC), 'flaky' (nSelf headers; fails each message's first two attempts) \
            and 'broken' (Ed25519; always answers 503), all three subscribed to the tenant 'demo-shop' — \
            publishes sample events once each on the events topic, fans each out to the three endpoints \
            and relays the deliveries with a short retry schedule (1s,2s,4s); the circuit breaker is relaxed so that every \
            delivery walks the whole schedule. Shows live progress, then a summary in which \
            the receiver has verified every signature. Exits 0 when every outcome is as expected.
            """
    )

    @Option(help: "Sample events per endpoint.")
    var events: Int = 1_000

    @Option(help: ArgumentHelp("Give up after this long.", valueName: "duration"))
    var timeout: String = "120s"

    func validate() throws {
        guard (1...100_000).contains(events) else { throw ValidationError("--events must be between 1 and 100000") }
        guard DurationText.parse(timeout) != nil else { throw ValidationError("--timeout expects a duration like 120s") }
    }

    func run() async throws {
        let logger: Logger = {
            var logger = Logger(label: "webhook-relay.demo") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = .warning
            return logger
        }()
        let limit = DurationText.parse(timeout) ?? .seconds(120)

        let broker = try EmbeddedBroker(logger: logger)
        defer { broker.shutdown() }
        let topics = try RelayTopics(prefix: "demo", schedule: RetrySchedule(parsing: "1s,2s,4s"))
        for topic in topics.all { try broker.createTopic(topic, partitions: 8) }

        let standardSecret = SecretGenerator.standardSecret()
        let nselfSecret = SecretGenerator.nselfSecret()
        let signingKey = Ed25519SigningKey.generate()
        let receiver = WebhookReceiver(endpoints: [
            .init(id: "healthy", verifier: try WebhookVerifier(scheme: .standard, secrets: [standardSecret.exposeSecret()])),
            .init(id: "flaky", verifier: try WebhookVerifier(scheme: .nself, secrets: [nselfSecret.exposeSecret()]),
                  behaviour: .init(failFirstAttempts: 2)),
            .init(id: "broken", verifier: try WebhookVerifier(scheme: .ed25519, secrets: [signingKey.verifyingKey.serialized]),
                  behaviour: .init(alwaysFail: true, failureStatus: 503)),
        ])
        let eventsPerEndpoint = events
        let outcome = try await receiver.withServer(logger: logger) { url in
            let yaml = """
                defaults:
                  tenant: demo-shop
                endpoints:
                  - id: healthy
                    url: \(url)/healthy
                    scheme: standard
                    secrets: ["\(standardSecret.exposeSecret())"]
                  - id: flaky
                    url: \(url)/flaky
                    scheme: nself
                    secrets: ["\(nselfSecret.exposeSecret())"]
                    circuit_failure_threshold: 1000000
                  - id: broken
                    url: \(url)/broken
                    scheme: ed25519
                    secrets: ["\(signingKey.exposeSecret())"]
                    circuit_failure_threshold: 1000000
                """
            let endpoints = try EndpointsFile.parse(yaml, source: "demo endpoints", environment: [:])
            Console.line("webhook-relay demo: broker \(broker.bootstrapServers), receiver \(url)")
            Console.line("publishing \(eventsPerEndpoint) events of tenant demo-shop, fanned out to healthy, flaky and broken ...")
            try await Self.produce(eventsPerEndpoint, topics: topics, broker: broker, logger: logger)

            var configuration = RelayConfiguration(bootstrapServers: broker.bootstrapServers, topics: topics)
            configuration.groupID = "webhook-relay-demo"
            configuration.sessionTimeout = .seconds(6)
            // The demo's receiver is on loopback, which the SSRF guard refuses unless allowed.
            configuration.http.addressPolicy = AddressPolicy(allowedNetworks: [CIDR("127.0.0.0/8")].compactMap { $0 })
            let relay = RelayService(configuration: configuration, endpoints: endpoints, logger: logger)
            let group = ServiceGroup(configuration: .init(services: [relay], logger: logger))
            let running = Task { try await group.run() }

            let progress = ProgressView(endpoints: ["healthy", "flaky", "broken"], total: eventsPerEndpoint)
            let started = ContinuousClock.now
            var finished = false
            while ContinuousClock.now - started < limit {
                let snapshot = relay.statistics.snapshot
                progress.draw(snapshot, elapsed: ContinuousClock.now - started)
                if progress.isComplete(snapshot) {
                    finished = true
                    break
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            await group.triggerGracefulShutdown()
            try await running.value
            return (finished, relay.statistics.snapshot, ContinuousClock.now - started)
        }

        let requests = receiver.requests
        let accepted = requests.filter { (200..<300).contains($0.status) }
        let unverified = requests.filter { !$0.verified }
        Console.line("")
        Console.line("Summary")
        for id in ["healthy", "flaky", "broken"] {
            let counts = outcome.1[id] ?? .init()
            let attempts = requests.filter { $0.endpointID == id }.count
            Console.line("  \(id.padding(toLength: 8, withPad: " ", startingAt: 0))  delivered \(counts.delivered)  dead-lettered \(counts.deadLettered)  HTTP attempts \(attempts)")
        }
        Console.line("  receiver: \(requests.count) requests, \(accepted.count) accepted; signatures verified: \(requests.count - unverified.count)/\(requests.count)")
        let seconds = Double(outcome.2.components.seconds) + Double(outcome.2.components.attoseconds) / 1e18
        Console.line("  finished in \(String(format: "%.1f", seconds)) s")
        let expected = outcome.0 && unverified.isEmpty
            && accepted.allSatisfy(\.verified)
            && outcome.1["healthy"]?.delivered == eventsPerEndpoint
            && outcome.1["flaky"]?.delivered == eventsPerEndpoint
            && outcome.1["broken"]?.deadLettered == eventsPerEndpoint
        if expected {
            Console.line("  every delivery ended as the policy says: healthy on attempt 1, flaky on attempt 3, broken on the dead-letter topic after 4 attempts.")
        } else {
            Console.line("  UNEXPECTED: some deliveries did not end as the policy says (see above).")
            throw ExitCode.failure
        }
    }

    static func produce(_ count: Int, topics: RelayTopics, broker: EmbeddedBroker, logger: Logger) async throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers)
        configuration.linger = .milliseconds(5)
        try await KafkaProducer.withProducer(configuration: configuration, logger: logger) { producer in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let kinds = ["order.created", "order.paid", "invoice.sent", "customer.updated"]
                for index in 0..<count {
                    let event = kinds[index % kinds.count]
                    let body = "{\"id\":\"evt_\(index)\",\"type\":\"\(event)\",\"amount\":\(index * 7 % 1000),\"currency\":\"EUR\"}"
                    let record = DeliveryLines.record(
                        topics: topics, target: .tenant("demo-shop", endpoints: nil), event: event, id: "msg_\(index)",
                        contentType: nil, body: Array(body.utf8)
                    )
                    group.addTask { _ = try await producer.send(record) }
                }
                try await group.waitForAll()
            }
        }
    }
}

/// Live progress: redrawn in place on a terminal, a line every few seconds otherwise.
final class ProgressView: Sendable {
    let endpoints: [String]
    let total: Int
    private let interactive = isatty(STDOUT_FILENO) != 0
    private let lastPlainLine = Mutex<ContinuousClock.Instant?>(nil)
    private let drawn = Mutex(false)

    init(endpoints: [String], total: Int) {
        self.endpoints = endpoints
        self.total = total
    }

    func isComplete(_ snapshot: [String: DeliveryStatistics.Counts]) -> Bool {
        endpoints.allSatisfy { (snapshot[$0]?.delivered ?? 0) + (snapshot[$0]?.deadLettered ?? 0) == total }
    }

    func draw(_ snapshot: [String: DeliveryStatistics.Counts], elapsed: Duration) {
        let lines = endpoints.map { id -> String in
            let counts = snapshot[id] ?? .init()
            let waiting = total - counts.delivered - counts.deadLettered
            return "  \(id.padding(toLength: 8, withPad: " ", startingAt: 0))  delivered \(pad(counts.delivered))  waiting to retry \(pad(waiting))  dead \(pad(counts.deadLettered))"
        }
        if interactive {
            let up = drawn.withLock { drawn in defer { drawn = true }; return drawn } ? "\u{1B}[\(lines.count)A" : ""
            Console.line(up + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\n"))
        } else {
            let now = ContinuousClock.now
            let due = lastPlainLine.withLock { last in
                guard last.map({ now - $0 >= .seconds(3) }) ?? true else { return false }
                last = now
                return true
            }
            if due { Console.line("[\(elapsed.components.seconds)s]\n" + lines.joined(separator: "\n")) }
        }
    }

    private func pad(_ value: Int) -> String {
        let text = String(value)
        return String(repeating: " ", count: max(0, 6 - text.count)) + text
    }
}
