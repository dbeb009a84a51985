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
            also re-enables endpoints that a 410 Gone disabled.

            Deliveries only go to globally routable addresses unless --allow-network or \
            --allow-private-network says otherwise (SSRF guard).
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

    @Option(help: ArgumentHelp("Vary each retry delay by up to this fraction either way (env: WEBHOOK_RELAY_RETRY_JITTER; default 0.1 = ±10 %).", valueName: "fraction"))
    var retryJitter: Double?

    @Option(name: .customLong("allow-network"), help: ArgumentHelp(
        "Let deliveries reach this network although it is not globally routable, e.g. 10.20.0.0/16 (repeatable; env: WEBHOOK_RELAY_ALLOW_NETWORK, comma-separated).",
        valueName: "cidr"))
    var allowNetworks: [String] = []

    @Flag(help: "Let deliveries reach any address, private ones included (internal deployments; env: WEBHOOK_RELAY_ALLOW_PRIVATE_NETWORK=true).")
    var allowPrivateNetwork = false

    @Option(help: ArgumentHelp("Port of the admin server: /healthz, /readyz, /endpoints, /metrics (env: WEBHOOK_RELAY_ADMIN_PORT; default 9090; 0 turns it off).", valueName: "port"))
    var adminPort: Int?

    @Option(help: ArgumentHelp("Address the admin server binds (env: WEBHOOK_RELAY_ADMIN_BIND; default 127.0.0.1).", valueName: "address"))
    var adminBind: String?

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

        if let text = retryJitter.map({ String($0) }) ?? RelayOptions.environment["WEBHOOK_RELAY_RETRY_JITTER"] {
            guard let value = Double(text), (0...0.5).contains(value) else {
                throw ValidationError("--retry-jitter must be a fraction from 0 to 0.5, like 0.1")
            }
            configuration.retryJitter = value
        }
        configuration.http.addressPolicy = try addressPolicy()

        let registry = PrometheusCollectorRegistry()
        let metrics = RelayMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let pipeline = DeliveryPipeline(configuration: configuration, endpoints: endpointList, logger: logger, metrics: metrics)
        var services: [any Service] = [pipeline]
        let port = try adminPort ?? RelayOptions.environment["WEBHOOK_RELAY_ADMIN_PORT"].map { text in
            guard let value = Int(text) else { throw ValidationError("WEBHOOK_RELAY_ADMIN_PORT must be a port number") }
            return value
        } ?? 9090
        guard (0...65_535).contains(port) else { throw ValidationError("--admin-port must be from 0 to 65535") }
        if port != 0 {
            let host = environmentValue(adminBind, "WEBHOOK_RELAY_ADMIN_BIND") ?? "127.0.0.1"
            services.append(AdminServer.service(.init(host: host, port: port), pipeline: pipeline, metrics: registry, logger: logger))
        }
        logger.info("Starting relay", metadata: [
            "relay.endpoints": "\(endpointList.count)", "relay.retry_schedule": "\(topics.schedule)",
            "kafka.group": "\(configuration.groupID)",
        ])
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // SIGHUP: reload the endpoints file; an invalid file is rejected and the old one stays.
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    do {
                        pipeline.reload(endpoints: try EndpointsFile.load(path: endpointsPath))
                    } catch {
                        logger.error("Endpoints file rejected on reload; keeping the previous endpoints", metadata: ["error": "\(error)"])
                    }
                }
            }
            try await ServiceRunner.run(services, logger: logger, gracePeriod: configuration.drainTimeout + .seconds(20))
            tasks.cancelAll()
        }
    }
}

extension RunCommand {
    /// The SSRF guard's policy from `--allow-network` and `--allow-private-network`.
    func addressPolicy() throws -> AddressPolicy {
        var texts = allowNetworks
        if texts.isEmpty, let value = RelayOptions.environment["WEBHOOK_RELAY_ALLOW_NETWORK"] {
            texts = value.split(separator: ",").map(String.init)
        }
        let networks = try texts.map { text in
            guard let network = CIDR(text) else {
                throw ValidationError("--allow-network: '\(text)' is not a network like 10.20.0.0/16 or fd00::/8")
            }
            return network
        }
        let allowPrivate = allowPrivateNetwork || RelayOptions.environment["WEBHOOK_RELAY_ALLOW_PRIVATE_NETWORK"] == "true"
        return AddressPolicy(allowedNetworks: networks, allowPrivateNetwork: allowPrivate)
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
