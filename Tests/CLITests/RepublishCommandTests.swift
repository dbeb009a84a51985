import Foundation
import Kafka
import Logging
import Testing

/// `dlq` and `republish` as processes against `webhook-relay broker`.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct RepublishCommandTests {
    let logger: Logger = {
        var logger = Logger(label: "cli-tests")
        logger.logLevel = .warning
        return logger
    }()

    /// A broker process with the relay's topics and `count` synthetic dead letters on 4 partitions.
    func withDeadLetters<T>(_ count: Int, _ body: (String) async throws -> T) async throws -> T {
        let broker = try BrokerProcess(partitions: 4)
        defer { broker.stop() }
        let bootstrap = broker.bootstrap
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrap)
        configuration.linger = .milliseconds(5)
        try await KafkaProducer.withProducer(configuration: configuration, logger: logger) { producer in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<count {
                    let record = KafkaProducerRecord(
                        topic: "webhooks.dlq", partition: Int32(index % 4), key: Array("ep\(index % 3)".utf8), value: Array("{\"i\":\(index)}".utf8),
                        headers: [
                            KafkaHeader(key: "webhook-event", value: "order.paid"), KafkaHeader(key: "webhook-id", value: "msg_\(index)"),
                            KafkaHeader(key: "relay-attempts", value: "9"), KafkaHeader(key: "relay-dlq-reason", value: index % 2 == 0 ? "exhausted" : "gone"),
                            KafkaHeader(key: "relay-died-at", value: String(1_700_000_000_000 + Int64(index))),
                            KafkaHeader(key: "relay-last-status", value: "503"), KafkaHeader(key: "relay-last-error", value: "HTTP 503"),
                        ]
                    )
                    group.addTask { _ = try await producer.send(record) }
                }
                try await group.waitForAll()
            }
        }
        return try await body(bootstrap)
    }

    @Test func listJSONParsesAndMatchesShow() async throws {
        try await withDeadLetters(20) { bootstrap in
            let list = try ProcessRunner.run(["dlq", "list", "--brokers", bootstrap, "--json", "--limit", "5", "--reason", "gone"])
            #expect(list.status == 0, "\(list.stderr)")
            let entries = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
            #expect(entries.count == 5)
            #expect(entries.allSatisfy { $0["reason"] as? String == "gone" })
            let diedAt = entries.compactMap { $0["died_at"] as? String }
            #expect(diedAt == diedAt.sorted(by: >), "most recent first")
            for entry in entries {
                let id = try #require(entry["id"] as? String)
                let show = try ProcessRunner.run(["dlq", "show", "--brokers", bootstrap, "--json", id])
                #expect(show.status == 0, "\(show.stderr)")
                let shown = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
                for key in ["id", "endpoint", "webhook_id", "event", "reason", "attempts", "died_at", "last_status", "last_error", "size"] {
                    #expect(String(describing: shown[key] ?? "nil") == String(describing: entry[key] ?? "nil"), "\(id) \(key)")
                }
                #expect((shown["body"] as? String)?.hasPrefix("{\"i\":") == true)
            }
            let table = try ProcessRunner.run(["dlq", "list", "--brokers", bootstrap, "--limit", "3"])
            #expect(table.stdout.split(separator: "\n").first?.hasPrefix("ID  ") == true)
            let stats = try ProcessRunner.run(["dlq", "stats", "--brokers", bootstrap])
            #expect(stats.stdout.contains("entries: 20"), "\(stats.stdout)")
            let dryRun = try ProcessRunner.run(["republish", "--brokers", bootstrap, "--reason", "gone", "--dry-run"])
            #expect(dryRun.stdout.contains("dry run: 10 would be republished"), "\(dryRun.stdout)")
        }
    }

    @Test func republishKilledHalfwayAndRunAgainLosesNothing() async throws {
        try await withDeadLetters(2_000) { bootstrap in
            let first = Process()
            first.executableURL = try WebhookRelayBinary.url()
            first.arguments = ["republish", "--brokers", bootstrap, "--rate", "500/s", "--log-level", "error"]
            first.standardOutput = FileHandle.nullDevice
            try first.run()
            try await Task.sleep(for: .seconds(3))  // about halfway
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
            #expect(first.terminationReason == .uncaughtSignal)

            let second = try ProcessRunner.run(["republish", "--brokers", bootstrap], timeout: 120)
            #expect(second.status == 0, "\(second.stderr)")
            let third = try ProcessRunner.run(["republish", "--brokers", bootstrap], timeout: 120)
            #expect(third.stdout.contains("republished 0,"), "\(third.stdout)")

            // Read back what reached the deliveries topic.
            var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupID: "verify-replays")
            configuration.sessionTimeout = .seconds(4)
            let replays = try await KafkaConsumer.withConsumer(configuration: configuration, topics: ["webhooks.deliveries"], logger: logger) { consumer in
                let partitions = (0..<4).map { KafkaTopicPartition(topic: "webhooks.deliveries", partition: Int32($0)) }
                let ends = try await consumer.watermarks(partitions).filter { !$0.value.isEmpty }
                var origins: [String] = []
                var finished = Set<KafkaTopicPartition>()
                for await record in consumer.records {
                    if let from = record.headers.first(named: "replayed-from")?.stringValue { origins.append(String(from.split(separator: " ")[0])) }
                    if record.offset == (ends[record.topicPartition]?.high ?? 0) - 1 { finished.insert(record.topicPartition) }
                    if finished.count == ends.count { break }
                }
                return origins
            }
            #expect(Set(replays).count == 2_000, "every entry republished")
            let duplicates = replays.count - Set(replays).count
            #expect(duplicates <= 64, "\(duplicates) entries republished twice; the documented bound is 64")
        }
    }
}
