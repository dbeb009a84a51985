import ArgumentParser
import Foundation
import Kafka
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals
import WebhookRelay
import WebhookRelayAdmin

/// `webhook-relay run`: a relay replica.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Deliver webhooks: consume the relay's topics and POST each record to its endpoint.",
        discussion: """
            Replicas with the same --group share the partitions. SIGTERM or SIGINT stops gracefully \
            (in-flight deliveries finish within --drain-timeout, offsets are committed); a second \
            signal exits at once. SIGHUP reloads the endpoints file without dropping in-flight \
            work (an invalid file is rejected with a log line and the old endpoints stay); reloading \
            also re-enables endpoints that a 410 Gone disabled. With --endpoint-registry the \
            endpoints come from the registry topic instead, followed live (`webhook-relay endpoints`).

            Deliveries only go to globally routable addresses unless --allow-network or \
            --allow-private-network says otherwise (SSRF guard).
            """
    )

    @OptionGroup var options: RunOptions

    @Flag(help: "Start the embedded development broker in this process with every relay topic created (not for production).")
    var embeddedBroker = false

    @Option(help: ArgumentHelp("Partitions of each topic with --embedded-broker.", valueName: "n"))
    var partitions: Int = 8

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        // Trapped before any other work: a SIGTERM that arrives while the replica is still starting
        // (a restart followed at once by a rollout) stops it gracefully instead of killing it.
        let stopSignals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        var settings = try options.resolve(brokersRequired: !embeddedBroker)
        let logger = logging.makeLogger(label: "webhook-relay", layers: settings.layers)
        let source: RelayService.EndpointSource
        if let path = settings.endpointsPath {
            source = .list(try EndpointsFile.load(path: path))
        } else {
            source = .registry(keyring: settings.keyring)
        }

        var broker: EmbeddedBroker?
        defer { broker?.shutdown() }
        if embeddedBroker {
            let embedded = try EmbeddedBroker(logger: logger)
            for topic in settings.relay.topics.all { try embedded.createTopic(topic, partitions: partitions) }
            broker = embedded
            settings.relay.bootstrapServers = embedded.bootstrapServers
            logger.notice("Embedded development broker started", metadata: ["kafka.bootstrap": "\(embedded.bootstrapServers)"])
        }
        let configuration = settings.relay

        let descriptors = DescriptorBudget.raiseToHardLimit()
        if descriptors.limit < DescriptorBudget.deliveriesNeed(maxInFlight: configuration.maxInFlight) {
            logger.warning("The file-descriptor limit is low for --max-in-flight; raise it (ulimit -n) or lower max_in_flight", metadata: [
                "process.descriptor_limit": "\(descriptors.limit)",
                "relay.descriptors_needed": "\(DescriptorBudget.deliveriesNeed(maxInFlight: configuration.maxInFlight))",
            ])
        }
        let registry = PrometheusCollectorRegistry()
        let metrics = RelayMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let relay = RelayService(configuration: configuration, source: source, logger: logger, metrics: metrics)
        var services: [any Service] = [relay]
        if var admin = settings.admin {
            admin.maxConnections = descriptors.adminConnections(wanted: admin.maxConnections, maxInFlight: configuration.maxInFlight)
            services.append(AdminServer.service(admin, relay: relay, metrics: registry, logger: logger))
        }
        let endpointCount = if case .list(let endpoints) = source { "\(endpoints.count)" } else { "registry \(configuration.topics.endpoints)" }
        logger.info("Starting relay", metadata: [
            "relay.endpoints": "\(endpointCount)", "relay.retry_schedule": "\(configuration.topics.schedule)",
            "kafka.group": "\(configuration.groupID)",
        ])
        let endpointsPath = settings.endpointsPath
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // SIGHUP: reload the endpoints file; an invalid file is rejected and the old one stays.
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    guard let endpointsPath else {
                        logger.notice("SIGHUP ignored: the endpoints come from the registry topic, which is followed live")
                        continue
                    }
                    do {
                        relay.reload(endpoints: try EndpointsFile.load(path: endpointsPath))
                    } catch {
                        logger.error("Endpoints file rejected on reload; keeping the previous endpoints", metadata: ["error": "\(error)"])
                    }
                }
            }
            try await ServiceRunner.run(services, signals: stopSignals, logger: logger, gracePeriod: configuration.drainTimeout + .seconds(20))
            tasks.cancelAll()
        }
    }
}

/// Runs services until they end; the first of `signals` shuts them down gracefully, a second one
/// exits the process at once.
enum ServiceRunner {
    static func run(_ services: [any Service], signals: UnixSignalsSequence, logger: Logger, gracePeriod: Duration) async throws {
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.maximumGracefulShutdownDuration = gracePeriod
        let group = ServiceGroup(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                var received = 0
                for await signal in signals {
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
