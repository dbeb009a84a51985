import Foundation
import Kafka
import Logging

/// Producing the scenario's records and reading the relay's topics back, in this test process.
enum SuiteKafka {
    static var logger: Logger {
        var logger = Logger(label: "reliability")
        logger.logLevel = .error
        return logger
    }

    /// A consumer reading fixed partitions from their oldest record, outside any group; `group`
    /// names whose committed offsets ``KafkaConsumer/committedOffsets(_:timeout:)`` reports.
    static func reader(
        _ topicPartitions: [KafkaTopicPartition], bootstrap: String, group: String = "reliability-reader"
    ) throws -> KafkaConsumer {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupID: group)
        configuration.clientID = "reliability-reader"
        return try KafkaConsumer(
            configuration: configuration,
            assignment: Dictionary(uniqueKeysWithValues: topicPartitions.map { ($0, KafkaConsumer.beginning) }), logger: logger
        )
    }

    /// Sends every record (up to 2,000 in flight) and waits for all acknowledgements.
    static func produce(_ records: [KafkaProducerRecord], bootstrap: String) async throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrap)
        configuration.clientID = "reliability-producer"
        // Allows records beyond the relay's limits, as another client may.
        configuration.properties["message.max.bytes"] = "4000000"
        try await KafkaProducer.withProducer(configuration: configuration, logger: logger) { producer in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, record) in records.enumerated() {
                    if index >= 2_000 { try await group.next() }
                    group.addTask { _ = try await producer.send(record) }
                }
                try await group.waitForAll()
            }
        }
    }

    /// Every record of the topic's partitions, from the oldest kept to the end as seen now.
    static func readAll(topic: String, partitions: Int, bootstrap: String) async throws -> [KafkaConsumerRecord] {
        let topicPartitions = (0..<partitions).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) }
        let consumer = try reader(topicPartitions, bootstrap: bootstrap)
        let ends = try await consumer.watermarks(topicPartitions)
        var remaining = ends.filter { !$0.value.isEmpty }.mapValues(\.high)
        var records: [KafkaConsumerRecord] = []
        if !remaining.isEmpty {
            for await record in consumer.records {
                if let end = remaining[record.topicPartition], record.offset < end {
                    records.append(record)
                    if record.offset + 1 >= end { remaining[record.topicPartition] = nil }
                }
                if remaining.isEmpty { break }
            }
        }
        try await consumer.close(timeout: .seconds(10))
        return records
    }

    /// Waits until the topic holds at least `count` records; returns them.
    static func waitForRecords(
        topic: String, partitions: Int, bootstrap: String, count: Int, upTo limit: Duration
    ) async throws -> [KafkaConsumerRecord] {
        let deadline = ContinuousClock.now.advanced(by: limit)
        var records: [KafkaConsumerRecord] = []
        repeat {
            records = try await readAll(topic: topic, partitions: partitions, bootstrap: bootstrap)
            if records.count >= count { return records }
            try await Task.sleep(for: .seconds(1))
        } while ContinuousClock.now < deadline
        return records
    }
}

extension KafkaConsumerRecord {
    /// A header's value as text.
    func header(_ name: String) -> String? {
        headers.first { $0.key == name }?.stringValue
    }
}

extension SuiteKafka {
    /// Where the records with these ids are now (every copy on the relay's topics), with the
    /// group's committed offset of each partition: what a failed scenario prints.
    static func locate(
        ids: Set<String>, topics: [String], partitions: Int, bootstrap: String, group: String
    ) async throws -> [String] {
        var lines: [String] = []
        for topic in topics {
            let records = try await readAll(topic: topic, partitions: partitions, bootstrap: bootstrap)
            let found = records.filter { ids.contains($0.header("webhook-id") ?? "") }
            lines.append("\(topic): \(records.count) records read, \(found.count) copies of the missing ids")
            guard !found.isEmpty else { continue }
            let partitionsFound = Set(found.map(\.topicPartition)).sorted()
            let inspector = try reader(partitionsFound, bootstrap: bootstrap, group: group)
            let committed = try await inspector.committedOffsets(partitionsFound)
            try await inspector.close(timeout: .seconds(10))
            for record in found {
                let mark = committed[record.topicPartition].flatMap { $0 }.map(String.init) ?? "none"
                lines.append(
                    "\(record.header("webhook-id") ?? "?") at \(record.topicPartition)@\(record.offset) "
                        + "attempts \(record.header("relay-attempts") ?? "0") due \(record.header("relay-due-at") ?? "-") "
                        + "reason \(record.header("relay-dlq-reason") ?? "-"); group committed \(mark)"
                )
            }
        }
        return lines
    }
}

extension SuiteKafka {
    /// Partitions of the topic whose oldest kept record is not the first one: the mock broker
    /// keeps at most 5 MiB per partition and drops older records silently. Printed when records
    /// are missing, so a scenario too big for the broker is not mistaken for a lost delivery.
    static func trimmedPartitions(topic: String, partitions: Int, bootstrap: String) async throws -> [String] {
        let topicPartitions = (0..<partitions).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) }
        let consumer = try reader(topicPartitions, bootstrap: bootstrap)
        let marks = try await consumer.watermarks(topicPartitions)
        try await consumer.close(timeout: .seconds(10))
        return marks.filter { $0.value.low > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) starts at \($0.value.low)" }
    }
}
