import Foundation
import Kafka
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import WebhookReceiver
import WebhookRelay
import WebhookSignature

/// An embedded broker with the relay's topics, a webhook receiver on 127.0.0.1, and relay
/// replicas started and stopped on demand: the real protocol and a real HTTP server throughout.
final class RelayTestEnvironment: Sendable {
    static let logger: Logger = {
        var logger = Logger(label: "relay-tests") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = ProcessInfo.processInfo.environment["RELAY_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }()

    let broker: EmbeddedBroker
    let topics: RelayTopics
    let receiver: WebhookReceiver
    let receiverURL: String
    let partitions: Int
    let group = "relay-\(UUID().uuidString.prefix(8))"

    private init(broker: EmbeddedBroker, topics: RelayTopics, receiver: WebhookReceiver, receiverURL: String, partitions: Int) {
        self.broker = broker
        self.topics = topics
        self.receiver = receiver
        self.receiverURL = receiverURL
        self.partitions = partitions
    }

    /// Runs `body` with a fresh environment; every replica still running is stopped afterwards.
    static func with<T: Sendable>(
        schedule: String = "200ms,400ms",
        partitions: Int = 4,
        events: Bool = false,
        receiverEndpoints: [WebhookReceiver.Endpoint],
        _ body: @Sendable (RelayTestEnvironment) async throws -> T
    ) async throws -> T {
        let broker = try EmbeddedBroker(logger: logger)
        defer { broker.shutdown() }
        let topics = try RelayTopics(prefix: "webhooks", schedule: RetrySchedule(parsing: schedule))
        // The events topic turns fan-out on: only where a test asks for it.
        for topic in topics.all where events || topic != topics.events { try broker.createTopic(topic, partitions: partitions) }
        let receiver = WebhookReceiver(endpoints: receiverEndpoints)
        return try await receiver.withServer(logger: logger) { url in
            try await body(RelayTestEnvironment(broker: broker, topics: topics, receiver: receiver, receiverURL: url, partitions: partitions))
        }
    }

    /// The tests' receiver is on loopback, which the SSRF guard refuses unless allowed.
    static let loopbackAllowed = AddressPolicy(allowedNetworks: [CIDR("127.0.0.0/8")].compactMap { $0 })

    func configuration(bodyLimit: Int = 1_048_576, addressPolicy: AddressPolicy = loopbackAllowed) -> RelayConfiguration {
        var configuration = RelayConfiguration(bootstrapServers: broker.bootstrapServers, topics: topics)
        configuration.groupID = group
        configuration.sessionTimeout = .seconds(4)
        configuration.commitInterval = .milliseconds(200)
        configuration.drainTimeout = .seconds(5)
        configuration.bodyLimit = bodyLimit
        configuration.retryJitter = 0  // exact due times for the timing assertions
        configuration.http.addressPolicy = addressPolicy
        return configuration
    }

    /// A running replica; ``stop()`` shuts it down gracefully.
    final class Replica: Sendable {
        let relay: RelayService
        private let group: ServiceGroup
        private let task: Task<Void, any Error>

        init(relay: RelayService, logger: Logger) {
            self.relay = relay
            let group = ServiceGroup(configuration: .init(services: [relay], logger: logger))
            self.group = group
            task = Task { try await group.run() }
        }

        func stop() async throws {
            await group.triggerGracefulShutdown()
            try await task.value
        }
    }

    func startReplica(endpointsYAML: String, bodyLimit: Int = 1_048_576, addressPolicy: AddressPolicy = loopbackAllowed) throws -> Replica {
        let endpoints = try EndpointsFile.parse(endpointsYAML, environment: [:])
        let relay = RelayService(
            configuration: configuration(bodyLimit: bodyLimit, addressPolicy: addressPolicy), endpoints: endpoints, logger: Self.logger
        )
        return Replica(relay: relay, logger: Self.logger)
    }

    /// A replica with a configuration of its own (from ``configuration(bodyLimit:addressPolicy:)``).
    func startReplica(endpointsYAML: String, configuration: RelayConfiguration) throws -> Replica {
        let endpoints = try EndpointsFile.parse(endpointsYAML, environment: [:])
        return Replica(relay: RelayService(configuration: configuration, endpoints: endpoints, logger: Self.logger), logger: Self.logger)
    }

    /// A replica that takes its endpoints from the registry topic.
    func startRegistryReplica(keyring: SecretKeyring?) -> Replica {
        let relay = RelayService(configuration: configuration(), source: .registry(keyring: keyring), logger: Self.logger)
        return Replica(relay: relay, logger: Self.logger)
    }

    /// Produces records to the deliveries topic and returns their delivery reports.
    @discardableResult
    func produce(_ records: [KafkaProducerRecord]) async throws -> [KafkaDeliveryReport] {
        var configuration = KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers)
        configuration.linger = .milliseconds(1)
        // A producer allowing records larger than the relay's own limits, as another client may.
        configuration.properties["message.max.bytes"] = "4000000"
        return try await KafkaProducer.withProducer(configuration: configuration, logger: Self.logger) { producer in
            try await withThrowingTaskGroup(of: (Int, KafkaDeliveryReport).self) { group in
                for (index, record) in records.enumerated() {
                    group.addTask { (index, try await producer.send(record)) }
                }
                var reports = [KafkaDeliveryReport?](repeating: nil, count: records.count)
                for try await (index, report) in group { reports[index] = report }
                return reports.compactMap { $0 }
            }
        }
    }

    /// A record of the contract for `endpoint`.
    func delivery(
        endpoint: String?, event: String? = "order.created", id: String? = nil, body: [UInt8], extraHeaders: [KafkaHeader] = [],
        partition: Int32? = nil
    ) -> KafkaProducerRecord {
        var headers: [KafkaHeader] = []
        if let event { headers.append(KafkaHeader(key: "webhook-event", value: event)) }
        if let id { headers.append(KafkaHeader(key: "webhook-id", value: id)) }
        headers += extraHeaders
        return KafkaProducerRecord(
            topic: topics.deliveries, partition: partition, key: endpoint.map { Array($0.utf8) }, value: body, headers: headers
        )
    }

    /// Reads `count` records of a topic from the beginning (own consumer group).
    func read(topic: String, count: Int, timeout: Duration = .seconds(30)) async throws -> [KafkaConsumerRecord] {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: "reader-\(UUID().uuidString.prefix(8))")
        configuration.sessionTimeout = .seconds(4)
        return try await KafkaConsumer.withConsumer(configuration: configuration, topics: [topic], logger: Self.logger) { consumer in
            await withTaskGroup(of: [KafkaConsumerRecord]?.self) { group in
                group.addTask {
                    var records: [KafkaConsumerRecord] = []
                    for await record in consumer.records {
                        records.append(record)
                        if records.count >= count { break }
                    }
                    return records
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                if let first { return first }
                return await group.next().flatMap { $0 } ?? []
            }
        }
    }

    /// Waits until `condition` holds, checking it every `interval`; returns whether it did.
    static func eventually(timeout: Duration, interval: Duration = .milliseconds(50), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: interval)
        }
        return condition()
    }

    /// Waits until `condition` holds for the receiver's requests (polling every 50 ms).
    ///
    /// Call it outside `#expect` (`let reached = await env.waitForRequests { … }`, then
    /// `#expect(reached)`): with Swift 6.3.1, `#expect(await env.waitForRequests { A })` followed by
    /// `env.waitForRequests { B }` in the same test was seen calling A again instead of B, so the
    /// second wait returned at once (RestartAndRebalanceTests, reproduced 7 times out of 7; the
    /// `let` form called B every time).
    @discardableResult
    func waitForRequests(timeout: Duration = .seconds(60), _ condition: ([WebhookReceiver.Request]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if condition(receiver.requests) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition(receiver.requests)
    }
}

/// Secrets used by the tests (test-only values).
enum TestSecrets {
    static let standard = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let nself = "nself-test-secret-0123456789"
    static let ed25519 = Ed25519SigningKey.generate()

    static func verifier(_ scheme: SignatureScheme) throws -> WebhookVerifier {
        switch scheme {
        case .standard: try WebhookVerifier(scheme: .standard, secrets: [standard])
        case .nself: try WebhookVerifier(scheme: .nself, secrets: [nself])
        case .ed25519: try WebhookVerifier(scheme: .ed25519, secrets: [ed25519.verifyingKey.serialized])
        }
    }

    static func yamlSecret(_ scheme: SignatureScheme) -> String {
        switch scheme {
        case .standard: standard
        case .nself: nself
        case .ed25519: ed25519.exposeSecret()
        }
    }
}
