import Foundation
import Kafka
import Logging

/// The endpoint registry topic as the `webhook-relay endpoints` commands use it: read whole, and
/// written one document or tombstone at a time. Replicas follow it with ``EndpointCatalog``.
public struct EndpointRegistryTopic: Sendable {
    /// The Kafka cluster.
    public let bootstrapServers: String
    /// The relay's topics (the registry is ``RelayTopics/endpoints``).
    public let topics: RelayTopics
    /// Extra librdkafka properties (security settings).
    public let properties: [String: String]
    public let logger: Logger

    /// A registry topic on the cluster at `bootstrapServers`.
    public init(bootstrapServers: String, topics: RelayTopics, properties: [String: String] = [:], logger: Logger) {
        self.bootstrapServers = bootstrapServers
        self.topics = topics
        self.properties = properties
        self.logger = logger
    }

    /// Every endpoint's current document (its latest record, unless that is a tombstone), by id.
    public func documents() async throws -> [String: [UInt8]] {
        let records = try await DeadLetterArchive.readAll(
            topic: topics.endpoints, bootstrapServers: bootstrapServers, properties: properties, logger: logger
        )
        var documents: [String: [UInt8]] = [:]
        // Each key lives in one partition, in order: the last record of a key is its state.
        for record in records {
            guard let key = record.key.flatMap({ String(validating: $0, as: UTF8.self) }) else { continue }
            documents[key] = record.isTombstone ? nil : record.value
        }
        return documents
    }

    /// Writes an endpoint's document (checked by the caller) and waits for the broker's
    /// acknowledgement; then tells operators what changed against `previous` (its document
    /// before, `nil`: none) on the operational topic, when that exists.
    public func put(id: String, document: [UInt8], previous: [UInt8]?) async throws {
        try await write(
            KafkaProducerRecord(topic: topics.endpoints, key: Array(id.utf8), value: document),
            announcing: OperationalEvent.registryChange(id: id, before: previous, after: document, at: WallClock.nowMilliseconds)
        )
    }

    /// Deletes an endpoint: writes its tombstone (and tells operators).
    public func delete(id: String, previous: [UInt8]) async throws {
        try await write(
            .tombstone(topic: topics.endpoints, key: Array(id.utf8)),
            announcing: OperationalEvent.registryChange(id: id, before: previous, after: nil, at: WallClock.nowMilliseconds)
        )
    }

    private func write(_ record: KafkaProducerRecord, announcing event: OperationalEvent?) async throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrapServers)
        configuration.properties = properties
        try await KafkaProducer.withProducer(configuration: configuration, logger: logger) { producer in
            _ = try await producer.send(record)
            // The change is made; telling it is information: a failure is logged, not thrown.
            guard let event else { return }
            do {
                guard try await producer.partitionCounts(of: [topics.operational])[topics.operational] != nil else { return }
                _ = try await producer.send(event.record(topic: topics.operational))
            } catch {
                logger.warning("The change was written but not told on the operational topic", metadata: ["kafka.error": "\(error)"])
            }
        }
    }
}
