import Foundation
import Kafka
import Logging

/// The dead-letter topic read up to its end as seen when reading starts (entries dying meanwhile
/// are not chased), with the replay marks of `<prefix>.dlq.replayed`.
public struct DeadLetterArchive: Sendable {
    /// Every entry, in topic order (partition, then offset).
    public var entries: [DeadLetter]

    /// Reads the archive.
    public static func read(bootstrapServers: String, topics: RelayTopics, properties: [String: String] = [:], logger: Logger) async throws -> DeadLetterArchive {
        let marks = try await readAll(topic: topics.replayed, bootstrapServers: bootstrapServers, properties: properties, logger: logger)
        var replayed: [String: Int64] = [:]
        for mark in marks {
            // Compacted topic: the latest mark of a key wins.
            guard let key = mark.key.flatMap({ String(validating: $0, as: UTF8.self) }) else { continue }
            replayed[key] = String(validating: mark.value, as: UTF8.self).flatMap { Int64($0) }
        }
        let records = try await readAll(topic: topics.deadLetters, bootstrapServers: bootstrapServers, properties: properties, logger: logger)
        let entries = records.map { record in
            DeadLetter(record: record, replayedAt: replayed["\(record.partition)-\(record.offset)"])
        }
        return DeadLetterArchive(entries: entries)
    }

    /// Reads every partition of a topic from its oldest record to its end as seen now.
    static func readAll(topic: String, bootstrapServers: String, properties: [String: String], logger: Logger) async throws -> [KafkaConsumerRecord] {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrapServers, groupID: "webhook-relay-dlq-reader")
        configuration.properties = properties
        configuration.maxBufferedRecordsPerPartition = 10_000
        // A probe consumer to learn the partitions and their ends, then one that reads them.
        let probe = try KafkaConsumer(configuration: configuration, assignment: [:], logger: logger)
        let count: Int
        let ends: [KafkaTopicPartition: KafkaWatermarks]
        do {
            guard let partitions = try await probe.partitionCounts(of: [topic])[topic] else {
                try? await probe.close(timeout: .seconds(5))
                throw ConfigurationError("topic \(topic) does not exist")
            }
            count = partitions
            ends = try await probe.watermarks((0..<count).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) })
            try? await probe.close(timeout: .seconds(5))
        } catch {
            try? await probe.close(timeout: .seconds(5))
            throw error
        }
        let nonEmpty = ends.filter { !$0.value.isEmpty }
        guard !nonEmpty.isEmpty else { return [] }
        let expected = nonEmpty.values.reduce(0) { $0 + Int($1.high - $1.low) }
        return try await KafkaConsumer.withReader(
            configuration: configuration, assignment: nonEmpty.mapValues(\.low), logger: logger
        ) { consumer in
            var records: [KafkaConsumerRecord] = []
            records.reserveCapacity(expected)
            var done = Set<KafkaTopicPartition>()
            for await record in consumer.records {
                guard let end = nonEmpty[record.topicPartition]?.high, record.offset < end else { continue }
                records.append(record)
                if record.offset == end - 1 {
                    done.insert(record.topicPartition)
                    if done.count == nonEmpty.count { break }
                }
            }
            return records.sorted { ($0.partition, $0.offset) < ($1.partition, $1.offset) }
        }
    }

    /// The matching entries, most recent death first.
    public func select(_ filter: DeadLetterFilter) -> [DeadLetter] {
        entries.filter(filter.matches).sorted { lhs, rhs in
            let left = lhs.diedAt ?? 0, right = rhs.diedAt ?? 0
            return left != right ? left > right : lhs.id > rhs.id
        }
    }
}

extension KafkaConsumer {
    /// Runs `body` with a consumer of fixed partitions and closes it afterwards.
    static func withReader<T>(
        configuration: KafkaConsumerConfiguration, assignment: [KafkaTopicPartition: Int64], logger: Logger,
        _ body: (KafkaConsumer) async throws -> T
    ) async throws -> T {
        let consumer = try KafkaConsumer(configuration: configuration, assignment: assignment, logger: logger)
        do {
            let result = try await body(consumer)
            try? await consumer.close(timeout: .seconds(10))
            return result
        } catch {
            try? await consumer.close(timeout: .seconds(10))
            throw error
        }
    }
}
