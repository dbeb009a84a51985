import Foundation
import Kafka
import Logging
import ServiceLifecycle
import WebhookSignature

/// One relay replica: consumes the deliveries and delay topics, POSTs each record to its endpoint
/// with signed headers, forwards failed attempts to the delay topic of the next retry and
/// exhausted or invalid records to the dead-letter topic.
///
/// At least once: a record's offset is stored only when its delivery is finished — a 2xx was
/// received, or the record was handed to a delay or dead-letter topic and the broker acknowledged
/// it. Runs as a ``Service`` until graceful shutdown, then stops fetching, lets attempts on the
/// wire finish within ``RelayConfiguration/drainTimeout``, commits and closes.
///
/// The parts (docs/architecture.md): this service owns the Kafka clients and the consumer loop;
/// ``DeliveryExecutor`` runs each record's ``DeliveryStateMachine``; ``OffsetLedger`` tracks what
/// is finished; ``EndpointRegistry`` holds each endpoint's in-memory state.
public final class RelayService: Service, Sendable {
    let configuration: RelayConfiguration
    let registry: EndpointRegistry
    let logger: Logger
    let metrics: RelayMetrics
    /// Set when graceful shutdown began: revocations then drain for the whole drain timeout.
    let shuttingDown = LockedValue(false)
    /// Whether the consumer took part in a completed rebalance and has not lost it since.
    private let groupMember = LockedValue(false)
    /// The executor while the relay consumes.
    let executor = LockedValue<DeliveryExecutor?>(nil)
    /// What happened to deliveries since start, per endpoint.
    public let statistics = DeliveryStatistics()

    /// Where a replica's endpoints come from: one source per deployment.
    public enum EndpointSource: Sendable {
        /// A fixed list (the endpoints file; SIGHUP reloads it with ``reload(endpoints:)``).
        case list([Endpoint])
        /// The registry topic (`<prefix>.endpoints`), read whole at start and followed live;
        /// `keyring` opens sealed secrets.
        case registry(keyring: SecretKeyring?)
    }

    let source: EndpointSource
    /// The registry topic's reader while the relay runs in registry mode.
    let catalog = LockedValue<EndpointCatalog?>(nil)
    /// Endpoint status shared between replicas (registry mode).
    let statusBoard = LockedValue<EndpointStatusBoard?>(nil)
    private let manager = LockedValue<EndpointManager?>(nil)

    /// What the management API changes the registry through: in registry mode, once the registry
    /// was read; `nil` before, and with an endpoints file.
    public var endpointManager: EndpointManager? { manager.value }

    /// Whether the endpoints come from the registry topic.
    public var isRegistryMode: Bool {
        if case .registry = source { true } else { false }
    }

    func setManager(_ manager: EndpointManager?) {
        self.manager.value = manager
    }

    /// Creates a replica for the given endpoints, reporting to `metrics`.
    public convenience init(configuration: RelayConfiguration, endpoints: [Endpoint], logger: Logger, metrics: RelayMetrics = RelayMetrics()) {
        self.init(configuration: configuration, source: .list(endpoints), logger: logger, metrics: metrics)
    }

    /// Creates a replica whose endpoints come from `source`, reporting to `metrics`.
    public init(configuration: RelayConfiguration, source: EndpointSource, logger: Logger, metrics: RelayMetrics = RelayMetrics()) {
        self.configuration = configuration
        self.metrics = metrics
        self.source = source
        if case .list(let endpoints) = source {
            self.registry = EndpointRegistry(endpoints)
        } else {
            self.registry = EndpointRegistry([])
        }
        self.logger = logger
    }

    /// Replaces the endpoints (SIGHUP) without dropping in-flight work: deliveries already attempted
    /// finish with the settings they started with; every endpoint's circuit, rate limit and
    /// `410` disabling start afresh.
    public func reload(endpoints: [Endpoint]) {
        let parked = registry.reload(endpoints)
        requeue(parked)
        logger.notice("Endpoints reloaded", metadata: ["relay.endpoints": "\(endpoints.count)"])
    }

    /// Records parked by replaced endpoint states look their endpoint up again.
    func requeue(_ parked: consuming ParkedRecords) {
        guard let executor = executor.value else { return }
        executor.requeue(parked)
    }

    /// The health of each endpoint this replica owns: circuit state and health score.
    public var endpointHealth: [String: (circuit: String, healthScore: Int)] {
        registry.snapshots.mapValues { ($0.circuit.name, $0.healthScore) }
    }

    /// What the replica knows about each endpoint whose partition it owns.
    public var endpointStatus: [EndpointStatus] {
        registry.snapshots.map { id, snapshot in
            EndpointStatus(
                id: id, circuit: snapshot.circuit.name, healthScore: snapshot.healthScore, inFlight: snapshot.inFlight,
                waiting: snapshot.waiting, lastStatus: snapshot.lastStatus, disabledReason: snapshot.disabledReason
            )
        }.sorted { $0.id < $1.id }
    }

    /// Ready for traffic: the consumer joined its group and holds an assignment — possibly an empty
    /// one, when there are more replicas than partitions (legitimately idle).
    public var isReady: Bool { groupMember.value }

    public func run() async throws {
        let http = WebhookHTTPClient(configuration: configuration.httpConfiguration)
        let producer = try KafkaProducer(configuration: configuration.producerConfiguration, logger: logger)
        // Beside the consumer, not before it: brokers that cannot describe topics (the embedded
        // one) answer only when the request times out. Awaited before the producer closes.
        let sizeCheck = Task { await self.checkTopicSizeLimits(producer) }
        do {
            let partitions = try await checkTopics(producer)
            let fanOut = try await fanOutStage(producer, partitions: partitions)
            let operational = try await operationalLog(producer)
            let catalogTask = try await readRegistry(producer, operational: operational)
            let progress = try ProgressLog(
                topic: configuration.topics.progress, partitions: partitions,
                consumerConfiguration: configuration.consumerConfiguration, producer: producer, logger: logger
            )
            try await consume(producer: producer, http: http, progress: progress, fanOut: fanOut, operational: operational)
            setManager(nil)
            await progress.close()
            await catalog.value?.close()
            await catalogTask?.value
            await sizeCheck.value
        } catch {
            await catalog.value?.close()
            await sizeCheck.value
            await producer.close(timeout: .seconds(5))
            await http.shutdown()
            throw error
        }
        await producer.close(timeout: configuration.drainTimeout)
        await http.shutdown()
        logger.info("Relay stopped")
    }

    private func consume(
        producer: KafkaProducer, http: WebhookHTTPClient, progress: ProgressLog, fanOut: EventFanOutStage?, operational: OperationalLog?
    ) async throws {
        let consumerReference = LockedValue<KafkaConsumer?>(nil)
        let logger = self.logger
        let ledger = OffsetLedger { topicPartition, doneUpTo in
            guard let consumer = consumerReference.value else { return }
            do throws(KafkaError) {
                try consumer.storeOffset(doneUpTo, for: topicPartition)
            } catch {
                // Not assigned: revoked meanwhile, the next owner starts from the last commit.
                if !error.isNotAssigned {
                    logger.error("Storing an offset failed", metadata: ["kafka.partition": "\(topicPartition)", "kafka.error": "\(error)"])
                }
            }
        }
        let executorReference = self.executor
        let groupMember = self.groupMember
        let consumer = try KafkaConsumer(
            configuration: configuration.consumerConfiguration,
            topics: configuration.topics.consumed,
            logger: logger
        ) { event in
            switch event {
            case .assigned: groupMember.value = true
            case .lost: groupMember.value = false
            case .revoking: break
            }
            await self.rebalance(event, ledger: ledger, executor: executorReference.value, progress: progress)
        }
        defer { groupMember.value = false }
        consumerReference.value = consumer
        let executor = DeliveryExecutor(
            configuration: configuration, registry: registry, ledger: ledger,
            dependencies: .init(source: consumer, sink: producer, transport: http, operational: operational),
            metrics: metrics, statistics: statistics, logger: logger
        )
        executorReference.value = executor
        let drainTimeout = configuration.drainTimeout
        let closeTimeout = drainTimeout + .seconds(10)
        logger.info(
            "Relay consuming",
            metadata: ["kafka.topics": "\(configuration.topics.consumed)", "kafka.group": "\(configuration.groupID)"]
        )

        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    // Gauges: sampled every second while consuming; freed heap memory returned too.
                    while !Task.isCancelled {
                        self.sampleGauges(consumer: consumer, producer: producer, ledger: ledger, executor: executor)
                        HeapTrim.run()
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
                if let board = self.statusBoard.value {
                    group.addTask {
                        // Endpoint status for the other replicas, on its own: a slow Kafka holds up nothing else.
                        while !Task.isCancelled {
                            await board.publish(self.registry.snapshots, producer: producer, now: WallClock.nowMilliseconds)
                            try? await Task.sleep(for: .seconds(1))
                        }
                    }
                }
                group.addTask { await progress.run() }
                if let fanOut {
                    group.addTask { await fanOut.run() }
                }
                if let operational {
                    group.addTask { await operational.run(producer: producer) }
                }
                group.addTask { await self.writeProgress(ledger: ledger, progress: progress) }
                group.addTask { await executor.runTimers() }
                let loops = EventLoopTaskExecutor.forSharedLoops()
                for index in 0..<executor.attemptWorkers.workers {
                    group.addTask(executorPreference: loops[index % loops.count]) { await executor.runAttemptWorker() }
                }
                for _ in 0..<executor.writeWorkers.workers {
                    group.addTask {
                        while let flight = await executor.writeWorkers.next() {
                            await executor.drive(flight, at: .writeWorker)
                        }
                    }
                }
                await self.readRecords(from: consumer, executor: executor)
                // The consumer is closed: every partition was revoked and what is still running
                // was abandoned to the next owner.
                executor.attemptWorkers.close()
                executor.writeWorkers.close()
                executor.timers.close()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            logger.info("Graceful shutdown: draining in-flight deliveries", metadata: ["relay.drain_timeout": "\(drainTimeout)"])
            self.shuttingDown.value = true
            Task {
                do {
                    try await consumer.close(timeout: closeTimeout)
                } catch {
                    logger.error("Consumer did not close in time", metadata: ["kafka.error": "\(error)"])
                }
            }
        }
    }

    /// The consumer loop: it feeds records to attempt workers that have nothing to do, at most
    /// ``RelayLimits/recordsInProgress`` in progress at a time (busy workers feed themselves,
    /// ``DeliveryExecutor/runAttemptWorker()``). Ends when the consumer is closed.
    private func readRecords(from consumer: KafkaConsumer, executor: DeliveryExecutor) async {
        var holdsPlace = false
        while true {
            if !holdsPlace {
                await executor.attemptWorkers.waitForIdleWorker()
                await executor.recordsInProgress.acquire()
                holdsPlace = true
            }
            // The record's place goes with it: settling gives it back.
            switch executor.takeBuffered(at: .dispatcher) {
            case .some:
                holdsPlace = false
            case .none:
                guard await consumer.waitForRecords() else {
                    executor.recordsInProgress.release()
                    return
                }
            }
        }
    }
}
