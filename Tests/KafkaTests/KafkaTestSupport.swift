import Foundation
import Kafka
import Logging
import Synchronization
import Testing

/// Shared helpers for the suites that run against the embedded broker.
enum KafkaTestSupport {
    /// A logger that prints warnings and above (set `KAFKA_TEST_LOG=debug` for more).
    static let logger: Logger = {
        var logger = Logger(label: "kafka-tests") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = ProcessInfo.processInfo.environment["KAFKA_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }()

    /// A name no other test uses.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Consumer settings for tests: the mock cluster never forms a group with a session timeout
    /// of 2 s or less, and a rebalance after a member leaves takes the session timeout minus 1 s.
    static func consumerConfiguration(_ broker: EmbeddedBroker, group: String) -> KafkaConsumerConfiguration {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupID: group)
        configuration.sessionTimeout = .seconds(4)
        configuration.commitInterval = .milliseconds(200)
        configuration.properties["heartbeat.interval.ms"] = "500"
        return configuration
    }

    static func producerConfiguration(_ broker: EmbeddedBroker) -> KafkaProducerConfiguration {
        var configuration = KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers)
        configuration.linger = .milliseconds(1)
        return configuration
    }

    /// Reads records until `count` have arrived or `timeout` passed; returns what arrived.
    static func read(
        _ count: Int,
        from consumer: KafkaConsumer,
        timeout: Duration = .seconds(30),
        where include: @escaping @Sendable (KafkaConsumerRecord) -> Bool = { _ in true }
    ) async -> [KafkaConsumerRecord] {
        await withTaskGroup(of: [KafkaConsumerRecord]?.self) { group in
            group.addTask {
                var result: [KafkaConsumerRecord] = []
                for await record in consumer.records where include(record) {
                    result.append(record)
                    if result.count == count { break }
                }
                return result
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            var collected: [KafkaConsumerRecord] = []
            for await result in group {
                if let result {
                    collected = result
                    group.cancelAll()
                    break
                }
                group.cancelAll()
            }
            // The reader returns what it has when cancelled by the timeout.
            for await result in group {
                if let result { collected = result }
            }
            return collected
        }
    }

    /// Polls `condition` every 50 ms until it holds or `timeout` passes.
    static func eventually(timeout: Duration = .seconds(30), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    /// Produces `count` records to each listed partition and returns their delivery reports.
    @discardableResult
    static func produce(
        _ producer: KafkaProducer, topic: String, partitions: [Int32], count: Int, tag: String = "v"
    ) async throws -> [KafkaDeliveryReport] {
        var reports: [KafkaDeliveryReport] = []
        for partition in partitions {
            for index in 0..<count {
                reports.append(try await producer.send(
                    KafkaProducerRecord(topic: topic, partition: partition, value: Array("\(tag)-\(partition)-\(index)".utf8))
                ))
            }
        }
        return reports
    }
}

/// A value shared between a test and the closures it hands out.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) {
        mutex = Mutex(value)
    }

    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R {
        mutex.withLock { body(&$0) }
    }
}
