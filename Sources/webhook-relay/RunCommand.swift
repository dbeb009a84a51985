import ArgumentParser
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import UnixSignals
import WebhookRelay

/// `webhook-relay run`: a relay replica.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Deliver webhooks: consume the relay's topics and POST each record to its endpoint.",
        discussion: """
            Replicas with the same --group share the partitions. SIGTERM or SIGINT stops gracefully \
            (in-flight deliveries finish within --drain-timeout, offsets are committed); a second \
            signal exits at once.
            """
    )

    @OptionGroup var relay: RelayOptions

    @Option(help: ArgumentHelp("The endpoints file (env: WEBHOOK_RELAY_ENDPOINTS).", valueName: "path"))
    var endpoints: String?

    @Option(help: ArgumentHelp("Consumer group of the replicas (env: WEBHOOK_RELAY_GROUP; default webhook-relay).", valueName: "name"))
    var group: String?

    @Option(help: ArgumentHelp("Deliveries in flight at once, all endpoints together (env: WEBHOOK_RELAY_MAX_IN_FLIGHT; default 1024).", valueName: "n"))
    var maxInFlight: Int?

    @Option(help: ArgumentHelp("Largest body delivered, in bytes; larger records are dead-lettered (env: WEBHOOK_RELAY_BODY_LIMIT; default 1048576).", valueName: "bytes"))
    var bodyLimit: Int?

    @Option(help: ArgumentHelp("Time in-flight deliveries get to finish on shutdown or rebalance (env: WEBHOOK_RELAY_DRAIN_TIMEOUT; default 15s).", valueName: "duration"))
    var drainTimeout: String?

    @Flag(help: "Start the embedded development broker in this process with every relay topic created (not for production).")
    var embeddedBroker = false

    @Option(help: ArgumentHelp("Partitions of each topic with --embedded-broker.", valueName: "n"))
    var partitions: Int = 8

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger(label: "webhook-relay")
        let topics = try relay.topics()
        guard let endpointsPath = environmentValue(endpoints, "WEBHOOK_RELAY_ENDPOINTS") else {
            throw ValidationError("--endpoints is required (or set WEBHOOK_RELAY_ENDPOINTS)")
        }
        let endpointList = try EndpointsFile.load(path: endpointsPath)

        var broker: EmbeddedBroker?
        defer { broker?.shutdown() }
        let bootstrap: String
        if embeddedBroker {
            let embedded = try EmbeddedBroker(logger: logger)
            for topic in topics.all { try embedded.createTopic(topic, partitions: partitions) }
            broker = embedded
            bootstrap = embedded.bootstrapServers
            logger.notice("Embedded development broker started", metadata: ["kafka.bootstrap": "\(bootstrap)"])
        } else {
            bootstrap = try relay.resolvedBrokers() ?? ""
        }

        var configuration = RelayConfiguration(bootstrapServers: bootstrap, topics: topics)
        configuration.groupID = environmentValue(group, "WEBHOOK_RELAY_GROUP") ?? "webhook-relay"
        configuration.kafkaProperties = try relay.kafkaProperties()
        if let text = maxInFlight.map(String.init) ?? RelayOptions.environment["WEBHOOK_RELAY_MAX_IN_FLIGHT"] {
            guard let value = Int(text), value >= 1 else { throw ValidationError("--max-in-flight must be a positive whole number") }
            configuration.maxInFlight = value
        }
        if let text = bodyLimit.map(String.init) ?? RelayOptions.environment["WEBHOOK_RELAY_BODY_LIMIT"] {
            guard let value = Int(text), value >= 1 else { throw ValidationError("--body-limit must be a positive number of bytes") }
            configuration.bodyLimit = value
        }
        if let text = environmentValue(drainTimeout, "WEBHOOK_RELAY_DRAIN_TIMEOUT") {
            guard let value = DurationText.parse(text) else { throw ValidationError("--drain-timeout expects a duration like 15s") }
            configuration.drainTimeout = value
        }

        let pipeline = DeliveryPipeline(configuration: configuration, endpoints: endpointList, logger: logger)
        logger.info("Starting relay", metadata: [
            "relay.endpoints": "\(endpointList.count)", "relay.retry_schedule": "\(topics.schedule)",
            "kafka.group": "\(configuration.groupID)",
        ])
        try await ServiceRunner.run([pipeline], logger: logger, gracePeriod: configuration.drainTimeout + .seconds(20))
    }
}

/// Runs services until they end; the first SIGTERM/SIGINT shuts them down gracefully, a second
/// one exits the process at once.
enum ServiceRunner {
    static func run(_ services: [any Service], logger: Logger, gracePeriod: Duration) async throws {
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.maximumGracefulShutdownDuration = gracePeriod
        let group = ServiceGroup(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                var received = 0
                for await signal in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                    received += 1
                    if received == 1 {
                        logger.notice("Shutting down gracefully; send the signal again to exit at once", metadata: ["signal": "\(signal)"])
                        await group.triggerGracefulShutdown()
                    } else {
                        logger.warning("Second signal: exiting now", metadata: ["signal": "\(signal)"])
                        exit(130)
                    }
                }
            }
            try await group.run()
            tasks.cancelAll()
        }
    }
}
