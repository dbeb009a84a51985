import ArgumentParser
import Foundation
import Kafka
import WebhookRelay

/// `webhook-relay topics create`: the relay's topics on a real cluster.
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Manage the relay's Kafka topics.",
        subcommands: [Create.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create every topic the relay needs, all with the same partition count.",
            discussion: """
                Creates <prefix>.deliveries (retention 7 days), one <prefix>.retry.<delay> per distinct \
                delay of the schedule (7 days or twice the delay), <prefix>.dlq (90 days) and the \
                compacted <prefix>.dlq.replayed. Topics that exist are left as they are, but a \
                different partition count is reported as an error. Choose partitions >= the most \
                replicas you will run.
                """
        )

        @OptionGroup var relay: RelayOptions

        @Option(help: "Partitions of every topic.")
        var partitions: Int

        @Option(help: "Replicas of every partition.")
        var replicationFactor: Int = 3

        @Option(help: ArgumentHelp("The relays' --body-limit: the topics accept records of that body and the relay's headers (max.message.bytes).", valueName: "bytes"))
        var bodyLimit: Int = 1_048_576

        @OptionGroup var logging: LoggingOptions

        func validate() throws {
            guard (1...10_000).contains(partitions) else { throw ValidationError("--partitions must be between 1 and 10000") }
            guard (1...32).contains(replicationFactor) else { throw ValidationError("--replication-factor must be between 1 and 32") }
            guard (1...RecordSizeLimits.maximumBodyLimit).contains(bodyLimit) else {
                throw ValidationError("--body-limit must be between 1 and \(RecordSizeLimits.maximumBodyLimit) bytes")
            }
        }

        func run() async throws {
            let resolved = try relay.resolve()
            let logger = logging.makeLogger(label: "webhook-relay.topics", layers: resolved.layers)
            let topics = resolved.topics
            var configuration = KafkaProducerConfiguration(bootstrapServers: resolved.brokers)
            configuration.properties = resolved.kafkaProperties
            let plan = topics.plan(partitions: partitions, replicationFactor: replicationFactor, sizes: RecordSizeLimits(bodyLimit: bodyLimit))
            let failed = try await KafkaProducer.withProducer(configuration: configuration, logger: logger) { producer in
                let results = try await producer.createTopics(plan)
                let counts = try await producer.partitionCounts(of: plan.map(\.name))
                var failed = 0
                for topic in plan {
                    switch results[topic.name] {
                    case .created:
                        print("created  \(topic.name) (\(topic.partitions) partitions)")
                    case .alreadyExists where counts[topic.name] == partitions:
                        print("exists   \(topic.name) (\(partitions) partitions)")
                    case .alreadyExists:
                        failed += 1
                        print("MISMATCH \(topic.name) has \(counts[topic.name] ?? 0) partitions, not \(partitions)")
                    case .failed(let error):
                        failed += 1
                        print("FAILED   \(topic.name): \(error.message)")
                    case nil:
                        failed += 1
                        print("FAILED   \(topic.name): no answer from the brokers")
                    }
                }
                return failed
            }
            if failed > 0 { throw ExitCode.failure }
        }
    }
}
