import ArgumentParser
import Foundation
import Kafka
import Logging
import UnixSignals
import WebhookRelay

/// `webhook-relay broker`: the embedded Kafka-protocol broker as a process of its own.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run an in-memory Kafka-protocol broker for development and tests (not for production).",
        discussion: """
            Starts librdkafka's mock cluster on 127.0.0.1 with random ports and prints the bootstrap \
            servers (host:port,...) as the first line on standard output. Stops on SIGTERM or SIGINT.

            Faults can be injected while it runs, one command per line on standard input, each \
            answered by one line on standard output (ok … or error: …): down ID|all, up ID|all, \
            rtt ID|all DURATION, request-errors TYPE CODE[,CODE...], clear-request-errors TYPE, \
            topic-error TOPIC CODE, help. See docs/reliability.md.

            FOR DEVELOPMENT AND TESTS ONLY: data lives in memory and is lost when the process \
            stops; each partition keeps at most 5 MiB or 100,000 records and silently drops older \
            data; topics that are not created with --topic get 4 partitions when first used.
            """
    )

    @Option(name: .customLong("brokers"), help: "Number of brokers in the cluster.")
    var brokerCount: Int = 1

    @Option(
        name: .customLong("topic"),
        help: ArgumentHelp("A topic to create, as NAME:PARTITIONS (repeatable).", valueName: "name:partitions")
    )
    var topics: [TopicSpec] = []

    @Flag(help: "Also create every topic webhook-relay needs (deliveries, delay topics, dead letters, replay marks).")
    var relayTopics = false

    @Option(help: "Partitions of each relay topic with --relay-topics.")
    var partitions: Int = 8

    @Option(help: ArgumentHelp("Topic prefix with --relay-topics.", valueName: "prefix"))
    var topicPrefix: String = "webhooks"

    @Option(help: ArgumentHelp("Retry schedule whose delays name the delay topics, with --relay-topics.", valueName: "delays"))
    var retrySchedule: String = RetrySchedule.standard.description

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...32).contains(brokerCount) else {
            throw ValidationError("--brokers must be between 1 and 32, got \(brokerCount)")
        }
        guard (1...1_000).contains(partitions) else {
            throw ValidationError("--partitions must be between 1 and 1000, got \(partitions)")
        }
    }

    func run() async throws {
        let logger = logging.makeLogger(label: "webhook-relay.broker")
        let broker = try EmbeddedBroker(brokers: brokerCount, logger: logger)
        defer { broker.shutdown() }
        for topic in topics {
            try broker.createTopic(topic.name, partitions: topic.partitions)
        }
        if relayTopics {
            let relay = try RelayTopics(prefix: topicPrefix, schedule: RetrySchedule(parsing: retrySchedule))
            for topic in relay.all { try broker.createTopic(topic, partitions: partitions) }
        }
        // Unbuffered, so a parent process reading a pipe sees the line at once.
        FileHandle.standardOutput.write(Data((broker.bootstrapServers + "\n").utf8))
        BrokerControl(broker: broker).serveStandardInput()
        logger.info(
            "Embedded broker running",
            metadata: ["kafka.bootstrap": "\(broker.bootstrapServers)", "kafka.topics": "\(topics.map(\.description))"]
        )
        for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
            logger.info("Stopping embedded broker", metadata: ["signal": "\(signal)"])
            break
        }
    }
}

/// `NAME:PARTITIONS` on the command line.
struct TopicSpec: ExpressibleByArgument, CustomStringConvertible, Sendable {
    var name: String
    var partitions: Int

    init?(argument: String) {
        guard let colon = argument.lastIndex(of: ":") else { return nil }
        let name = String(argument[..<colon])
        guard !name.isEmpty, let partitions = Int(argument[argument.index(after: colon)...]), partitions >= 1 else {
            return nil
        }
        self.name = name
        self.partitions = partitions
    }

    var description: String { "\(name):\(partitions)" }
}
