import Foundation
import Kafka
import Logging
import ServiceLifecycle
import Synchronization
import WebhookSignature

/// One relay replica: consumes the deliveries and delay topics, POSTs each record to its endpoint
/// with signed headers, forwards failed attempts to the delay topic of the next retry and
/// exhausted or invalid records to the dead-letter topic.
///
/// At least once: a record's offset is stored only when its delivery is finished — a 2xx was
/// received, or the record was handed to a delay or dead-letter topic and the broker acknowledged
/// it. Runs as a ``Service`` until graceful shutdown, then stops fetching, lets in-flight work
/// finish within ``RelayConfiguration/drainTimeout``, commits and closes.
///
/// Threads: the consumer loop, admission and everything that writes to Kafka run on Swift's
/// cooperative pool; only admitted HTTP attempts run on NIO's event loops, the threads that read
/// and write the connections. An event loop reads its sockets only when it has no task left to
/// run, so work driven by Kafka (a backlog being deferred or dead-lettered at broker speed) must
/// not run there: it kept loops from reading answers that had arrived until the attempts' timers
/// expired, and answered requests were recorded as timeouts.
public final class DeliveryPipeline: Service, Sendable {
    let configuration: RelayConfiguration
    let registry: EndpointRegistry
    let planner: RetryPlanner
    let logger: Logger
    /// HTTP attempts in flight across all endpoints.
    let attemptsInFlight: AsyncSemaphore
    /// The attempts on the wire, so that those of revoked partitions can be cut short.
    let attemptsOnTheWire = InFlightAttempts()
    /// Set when graceful shutdown began: revocations then drain for the whole drain timeout.
    let shuttingDown = LockedValue(false)
    /// Whether the consumer took part in a completed rebalance and has not lost it since.
    private let groupMember = LockedValue(false)
    let metrics: RelayMetrics
    /// What happened to deliveries since start, per endpoint.
    public let statistics = DeliveryStatistics()

    /// Creates a replica for the given endpoints, reporting to `metrics`.
    public init(configuration: RelayConfiguration, endpoints: [Endpoint], logger: Logger, metrics: RelayMetrics = RelayMetrics()) {
        self.configuration = configuration
        self.metrics = metrics
        self.registry = EndpointRegistry(endpoints)
        self.planner = RetryPlanner(topics: configuration.topics, jitter: configuration.retryJitter)
        self.attemptsInFlight = AsyncSemaphore(permits: configuration.maxInFlight)
        self.logger = logger
    }

    /// Replaces the endpoints (SIGHUP) without dropping in-flight work: deliveries already attempted
    /// finish with the settings they started with; every endpoint's circuit, rate limit and
    /// `410` disabling start afresh.
    public func reload(endpoints: [Endpoint]) {
        registry.reload(endpoints)
        logger.notice("Endpoints reloaded", metadata: ["relay.endpoints": "\(endpoints.count)"])
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
            let progress = try ProgressLog(
                topic: configuration.topics.progress, partitions: partitions,
                consumerConfiguration: configuration.consumerConfiguration, producer: producer, logger: logger
            )
            try await consume(producer: producer, http: http, progress: progress)
            await progress.close()
            await sizeCheck.value
        } catch {
            await sizeCheck.value
            await producer.close(timeout: .seconds(5))
            await http.shutdown()
            throw error
        }
        await producer.close(timeout: configuration.drainTimeout)
        await http.shutdown()
        logger.info("Relay stopped")
    }

    /// Every consumed topic, the dead-letter topic and the progress topic must exist with the
    /// deliveries topic's partition count, so that a partition number means the same endpoints on
    /// every topic. Returns that count.
    private func checkTopics(_ producer: KafkaProducer) async throws -> Int {
        let topics = configuration.topics
        let needed = topics.consumed + [topics.deadLetters, topics.progress]
        let counts = try await producer.partitionCounts(of: needed)
        let missing = needed.filter { counts[$0] == nil }
        guard missing.isEmpty else {
            throw ConfigurationError(
                "topics missing on the brokers: \(missing.joined(separator: ", ")) (create them with `webhook-relay topics create`)"
            )
        }
        let expected = counts[topics.deliveries] ?? 0
        let different = needed.filter { counts[$0] != expected }
        guard different.isEmpty else {
            let list = different.map { "\($0) has \(counts[$0] ?? 0)" }.joined(separator: ", ")
            throw ConfigurationError(
                "every relay topic needs the partition count of \(topics.deliveries) (\(expected)): \(list)"
            )
        }
        return expected
    }

    /// Compares the topics' `max.message.bytes` with the records the relay writes, where the
    /// brokers tell it (DescribeConfigs; the embedded broker does not), and says in the log which
    /// topic would refuse large records. Nothing stops: such records still end on the DLQ
    /// (`forward_failed`, or without their body), but the operator learns it before they do.
    func checkTopicSizeLimits(_ producer: KafkaProducer) async {
        let topics = configuration.topics
        let written = topics.consumed + [topics.deadLetters]
        let needed = configuration.sizeLimits.recordLimit
        let configs: [String: [String: String]]
        do {
            configs = try await producer.topicConfigs(written, names: ["max.message.bytes"], timeout: .seconds(3))
        } catch {
            logger.info("Topic size limits not checked: the brokers did not describe the topics' configuration", metadata: [
                "kafka.error": "\(error.name)",
            ])
            return
        }
        for topic in written {
            guard let text = configs[topic]?["max.message.bytes"], let limit = Int(text) else { continue }
            if limit < needed {
                logger.warning("A relay topic accepts smaller records than the body limit needs: larger ones will be dead-lettered as forward_failed or kept without their body; raise the topic's max.message.bytes or lower --body-limit", metadata: [
                    "kafka.topic": "\(topic)", "kafka.max_message_bytes": "\(limit)", "relay.record_limit": "\(needed)",
                    "relay.body_limit": "\(configuration.bodyLimit)",
                ])
            }
        }
    }

    private func consume(producer: KafkaProducer, http: WebhookHTTPClient, progress: ProgressLog) async throws {
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
            await self.rebalance(event, ledger: ledger, progress: progress)
        }
        defer { groupMember.value = false }
        consumerReference.value = consumer
        // Records being worked on (parked for their endpoint, attempted, or forwarded). Parking is
        // bounded per endpoint, so one slow endpoint cannot take all of them.
        let inFlight = AsyncSemaphore(permits: 4 * configuration.maxInFlight)
        // On the event loops: admitted attempts, enough for every attempt in flight and some
        // more that forward a failed attempt's record meanwhile.
        let attemptWorkers = WorkerPool<Admitted>(workers: configuration.maxInFlight + 64)
        // On the cooperative pool: everything else that waits (dead letters, postponements, rate
        // limits, resumed deliveries deciding again). Parked records need no task.
        let otherWorkers = WorkerPool<Work>(workers: 256)
        let context = WorkContext(
            producer: producer, http: http, ledger: ledger,
            attempt: { attemptWorkers.submit($0) }, resume: { otherWorkers.resume($0) }
        )
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
                        self.sampleGauges(consumer: consumer, producer: producer, ledger: ledger)
                        HeapTrim.run()
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
                group.addTask { await progress.run() }
                group.addTask { await self.writeProgress(ledger: ledger, progress: progress) }
                let loops = EventLoopTaskExecutor.forSharedLoops()
                for index in 0..<attemptWorkers.workers {
                    group.addTask(executorPreference: loops[index % loops.count]) {
                        while let admitted = await attemptWorkers.next() {
                            await self.proceed(admitted, context: context)
                            inFlight.release()
                        }
                    }
                }
                for _ in 0..<otherWorkers.workers {
                    group.addTask {
                        while let work = await otherWorkers.next() {
                            // A parked or admitted record stays in flight until it is done.
                            if await self.process(work, context: context) { inFlight.release() }
                        }
                    }
                }
                var lastStarted: [KafkaTopicPartition: OffsetLedger.Ticket] = [:]
                for await record in consumer.records {
                    await inFlight.acquire()
                    let ticket: OffsetLedger.Ticket
                    switch ledger.start(record) {
                    case .refused:
                        inFlight.release()
                        continue
                    case .alreadyDone(let done):
                        // An earlier owner finished it (progress topic): nothing to do again.
                        ledger.finish(done)
                        metrics.alreadyDone(topic: record.topic)
                        inFlight.release()
                        continue
                    case .work(let started):
                        ticket = started
                    }
                    let tier = configuration.topics.delay(ofRetryTopic: record.topic)
                    if tier != nil {
                        // The relay writes its delay topics without transactions, so within one
                        // assignment their offsets have no holes: a jump means records were skipped.
                        if let last = lastStarted[record.topicPartition], last.generation == ticket.generation,
                            record.offset > last.offset + 1
                        {
                            logger.error("Offset gap on a delay topic: records were skipped", metadata: [
                                "kafka.partition": "\(record.topicPartition)", "kafka.offset": "\(record.offset)",
                                "kafka.last_offset": "\(last.offset)",
                            ])
                        }
                        lastStarted[record.topicPartition] = ticket
                    }
                    let decoded = DeliveryRecord.decode(record, bodyLimit: configuration.bodyLimit, trustingRelayHeaders: tier != nil)
                    if case .success(let delivery) = decoded, let tier, let requestedDueAt = delivery.dueAtMilliseconds,
                        requestedDueAt > WallClock.nowMilliseconds
                    {
                        let dueAt = self.boundedDueAt(requestedDueAt, tier: tier, record: record)
                        // Not due: hold it and stop fetching its partition until it is.
                        consumer.pause([record.topicPartition])
                        statistics.update(delivery.endpointID) { $0.waiting += 1 }
                        group.addTask {
                            let due = await self.waitUntilDue(dueAt, ticket: ticket, ledger: ledger)
                            self.statistics.update(delivery.endpointID) { $0.waiting -= 1 }
                            if due {
                                consumer.resume([record.topicPartition])
                                let work = Work(decoded: .success(delivery), record: record, ticket: ticket)
                                if await self.process(work, context: context) { inFlight.release() }
                            } else {
                                ledger.abandon(ticket)
                                inFlight.release()
                            }
                        }
                        continue
                    }
                    let work = Work(decoded: decoded, record: record, ticket: ticket)
                    switch admit(work, context: context) {
                    case .done: inFlight.release()
                    case .handedOver: break
                    case .elsewhere: otherWorkers.submit(work)
                    }
                }
                // The consumer is closed: every partition was revoked and what is still running
                // was abandoned to the next owner.
                attemptWorkers.close()
                otherWorkers.close()
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

    private func sampleGauges(consumer: KafkaConsumer, producer: KafkaProducer, ledger: OffsetLedger) {
        metrics.attemptsInFlight(configuration.maxInFlight - attemptsInFlight.available)
        metrics.producerQueueDepth(producer.pendingCount)
        for (id, snapshot) in registry.snapshots {
            metrics.endpoint(id, healthScore: snapshot.healthScore, circuit: snapshot.circuit)
        }
        for (topicPartition, doneUpTo) in ledger.progress {
            guard let high = consumer.cachedHighWatermark(topicPartition), let doneUpTo else { continue }
            metrics.consumerLag(topic: topicPartition.topic, partition: topicPartition.partition, lag: max(0, high - doneUpTo))
        }
    }

    /// A delay topic's record is never due later than the topic's delay (with the most jitter)
    /// from now: the relay never writes a later `relay-due-at`, and a forged or corrupt one would
    /// otherwise hold the partition paused until then.
    private func boundedDueAt(_ dueAt: Int64, tier: Duration, record: KafkaConsumerRecord) -> Int64 {
        let latest = WallClock.nowMilliseconds + Int64((Double(tier.wholeMilliseconds) * (1 + configuration.retryJitter)).rounded(.up))
        guard dueAt > latest else { return dueAt }
        logger.warning("A delay-topic record is due later than its topic allows; attempting it at the topic's delay", metadata: [
            "kafka.partition": "\(record.topicPartition)", "kafka.offset": "\(record.offset)", "relay.due_at": "\(dueAt)",
        ])
        return latest
    }

    /// Waits until `dueAt` while the ticket's partition stays ours; `false` when it was revoked.
    private func waitUntilDue(_ dueAt: Int64, ticket: OffsetLedger.Ticket, ledger: OffsetLedger) async -> Bool {
        let remaining = max(0, dueAt - WallClock.nowMilliseconds)
        return await ledger.waitWhileCurrent(ticket, until: ContinuousClock.now.advanced(by: .milliseconds(remaining)))
    }

    /// A record handed to a worker.
    struct Work: Sendable {
        let decoded: Result<DeliveryRecord, DeliveryRecordDefect>
        let record: KafkaConsumerRecord
        let ticket: OffsetLedger.Ticket
        /// Set when the record was parked by its endpoint and is now resumed: the endpoint and the
        /// runtime that reserved a slot for it.
        var resumedAt: (endpoint: Endpoint, runtime: EndpointRuntime)? = nil
    }

    /// A record its endpoint admitted for an attempt.
    struct Admitted: Sendable {
        let work: Work
        let delivery: DeliveryRecord
        let endpoint: Endpoint
        let runtime: EndpointRuntime
        let admission: EndpointRuntime.Admission
    }

    struct WorkContext: Sendable {
        let producer: KafkaProducer
        let http: WebhookHTTPClient
        let ledger: OffsetLedger
        /// Hands an admitted record to the attempt workers (on the event loops).
        let attempt: @Sendable (Admitted) -> Void
        /// Gives a resumed record back to the other workers, ahead of new ones.
        let resume: @Sendable (Work) -> Void
    }

    /// Where ``admit(_:context:)`` sent a record.
    enum Routing {
        /// Finished without anything to send (its endpoint does not take its event).
        case done
        /// Handed to the attempt workers, or parked by its endpoint: it comes back by itself.
        case handedOver
        /// Needs waiting (a dead letter, a postponement, the rate limit): for the other workers.
        case elsewhere
    }

    /// Decides about a new record on the consumer loop, without waiting, in the common case: its
    /// endpoint takes it now (an attempt) or parks it. Anything else goes to ``process(_:context:)``.
    private func admit(_ work: Work, context: WorkContext) -> Routing {
        guard case .success(let delivery) = work.decoded,
              let (endpoint, runtime) = registry.lookup(delivery.endpointID, partition: work.record.partition)
        else { return .elsewhere }
        guard endpoint.accepts(event: delivery.event) else {
            count(.skipped, endpoint.id)
            context.ledger.finish(work.ticket)
            return .done
        }
        let decision = runtime.tryEnter(
            now: MonotonicClock.milliseconds, park: Self.resumption(of: work, endpoint: endpoint, runtime: runtime, context: context)
        )
        switch decision {
        case .attempt(let admission)?:
            context.attempt(Admitted(work: work, delivery: delivery, endpoint: endpoint, runtime: runtime, admission: admission))
            return .handedOver
        case .parked?:
            return .handedOver
        default:
            return .elsewhere
        }
    }

    func process(_ work: Work, context: WorkContext) async -> Bool {
        let (record, ticket) = (work.record, work.ticket)
        let delivery: DeliveryRecord
        switch work.decoded {
        case .failure(let defect):
            logger.warning(
                "Invalid record dead-lettered",
                metadata: [
                    "relay.reason": "\(defect.reason)", "relay.detail": "\(defect.detail)",
                    "kafka.topic": "\(record.topic)", "kafka.partition": "\(record.partition)", "kafka.offset": "\(record.offset)",
                ]
            )
            let endpointID = record.key.flatMap { String(validating: $0, as: UTF8.self) } ?? ""
            await deadLetter(record, delivery: nil, reason: defect.reason, lastError: defect.detail, lastStatus: nil,
                             attempts: 0, ticket: ticket, context: context, endpointID: endpointID)
            return true
        case .success(let value):
            delivery = value
        }

        guard let (endpoint, runtime) = work.resumedAt ?? registry.lookup(delivery.endpointID, partition: record.partition) else {
            logger.warning(
                "Record for an unknown endpoint dead-lettered",
                metadata: ["endpoint.id": "\(delivery.endpointID)", "webhook.id": "\(delivery.webhookID)",
                           "kafka.partition": "\(record.partition)", "kafka.offset": "\(record.offset)"]
            )
            await deadLetter(record, delivery: delivery, reason: .unknownEndpoint,
                             lastError: "no endpoint '\(delivery.endpointID)' is configured", lastStatus: nil,
                             attempts: delivery.attempts, ticket: ticket, context: context, endpointID: delivery.endpointID)
            return true
        }
        guard endpoint.accepts(event: delivery.event) else {
            count(.skipped, endpoint.id)
            context.ledger.finish(ticket)
            return true
        }

        let decision = await runtime.enter(
            now: { MonotonicClock.milliseconds }, resumed: work.resumedAt != nil,
            park: Self.resumption(of: work, endpoint: endpoint, runtime: runtime, context: context)
        )
        switch decision {
        case .parked:
            return false
        case .attempt(let admission):
            if admission.waited { metrics.rateLimitWait(endpoint.id) }
            context.attempt(Admitted(work: work, delivery: delivery, endpoint: endpoint, runtime: runtime, admission: admission))
            return false
        case .disabled(let reason):
            await deadLetter(record, delivery: delivery, reason: .gone, lastError: reason, lastStatus: delivery.lastStatus,
                             attempts: delivery.attempts, ticket: ticket, context: context, endpointID: endpoint.id)
            return true
        case .circuitOpen(let wait):
            let firstSeen = delivery.firstAttemptAtMilliseconds ?? WallClock.nowMilliseconds
            if WallClock.nowMilliseconds - firstSeen > endpoint.policy.circuitMaxAge.wholeMilliseconds {
                await deadLetter(record, delivery: delivery, reason: .circuitOpen,
                                 lastError: delivery.lastError ?? "circuit open", lastStatus: delivery.lastStatus,
                                 attempts: delivery.attempts, ticket: ticket, context: context, endpointID: endpoint.id)
                return true
            }
            return await postpone(record, delivery: delivery, wait: wait, ticket: ticket, context: context, endpointID: endpoint.id)
        case .deferred(let wait):
            metrics.rateLimitWait(endpoint.id)
            return await postpone(record, delivery: delivery, wait: wait, ticket: ticket, context: context, endpointID: endpoint.id)
        }
    }

    /// Makes an admitted attempt (on an event loop) and does what its result asks: finish the
    /// record, forward it to the delay topic of its next attempt, or dead-letter it.
    ///
    /// An attempt is not started for a partition that is being let go (the next owner makes it),
    /// and one the relay cuts short (``InFlightAttempts/cutShort(_:)``) is not the endpoint's
    /// failure: its circuit and health are left as they were, and the record is left unfinished
    /// for the next owner.
    func proceed(_ admitted: Admitted, context: WorkContext) async {
        let (record, ticket, delivery) = (admitted.work.record, admitted.work.ticket, admitted.delivery)
        let (endpoint, runtime) = (admitted.endpoint, admitted.runtime)
        // Still ours, and not being let go? Asked before and after waiting for a slot.
        func mayStart() -> Bool {
            guard context.ledger.isCurrent(ticket), !Task.isCancelled else {
                runtime.cancel(admitted.admission, now: MonotonicClock.milliseconds)
                context.ledger.abandon(ticket)
                return false
            }
            return true
        }
        guard mayStart() else { return }
        await attemptsInFlight.acquire()
        guard mayStart() else {
            attemptsInFlight.release()
            return
        }
        let attemptAt = WallClock.nowMilliseconds
        let cancellation = attemptsOnTheWire.begin(ticket.topicPartition)
        var result = await attempt(delivery, endpoint: endpoint, at: attemptAt, http: context.http, cancellation: cancellation)
        if result.localShortage {
            // No descriptor for a connection (something else holds them): the relay's shortage,
            // not the endpoint's failure. The attempt keeps its slot and is made when one is free.
            logger.warning("No file descriptor for a connection; the attempt waits for one", metadata: [
                "endpoint.id": "\(endpoint.id)", "webhook.id": "\(delivery.webhookID)", "error": "\(result.error ?? "")",
            ])
            while result.localShortage && !cancellation.isCancelled && !Task.isCancelled {
                metrics.localShortage()
                try? await Task.sleep(for: .milliseconds(250))
                result = await attempt(delivery, endpoint: endpoint, at: WallClock.nowMilliseconds, http: context.http, cancellation: cancellation)
            }
        }
        attemptsOnTheWire.end(ticket.topicPartition, cancellation)
        attemptsInFlight.release()
        let attempts = delivery.attempts + 1
        if result.cutShort || result.localShortage {
            runtime.cancel(admitted.admission, now: MonotonicClock.milliseconds)
            count(.cutShort, endpoint.id)
            logger.info("Attempt cut short: its partition was let go; the next owner makes it", metadata: [
                "endpoint.id": "\(endpoint.id)", "webhook.id": "\(delivery.webhookID)", "attempt": "\(attempts)",
            ])
            context.ledger.abandon(ticket)
            return
        }
        metrics.attemptDuration(endpoint.id, result.duration)
        runtime.leave(admitted.admission, .init(success: result.succeeded, status: result.status, now: MonotonicClock.milliseconds))

        if result.succeeded {
            count(.delivered, endpoint.id)
            logger.debug("Delivered", metadata: [
                "endpoint.id": "\(endpoint.id)", "webhook.id": "\(delivery.webhookID)", "attempt": "\(attempts)",
                "http.status": "\(result.status ?? 0)",
            ])
            context.ledger.finish(ticket)
            return
        }
        count(.failedAttempt, endpoint.id)
        logger.info("Attempt failed", metadata: [
            "endpoint.id": "\(endpoint.id)", "webhook.id": "\(delivery.webhookID)", "attempt": "\(attempts)",
            "http.status": "\(result.status.map(String.init) ?? "-")", "error": "\(result.error ?? "")",
        ])
        let firstAttemptAt = delivery.firstAttemptAtMilliseconds ?? attemptAt
        let final = Self.finalReason(result, policy: endpoint.policy)
        if let refusal = result.refusal {
            logger.warning("Endpoint address refused by the SSRF guard", metadata: [
                "endpoint.id": "\(endpoint.id)", "relay.reason": "\(refusal.reason)",
            ])
        }
        if final == .gone {
            runtime.disable(reason: "410 Gone at \(Date())")
            logger.warning("Endpoint answered 410 Gone: disabled on this replica until the endpoints file is reloaded",
                           metadata: ["endpoint.id": "\(endpoint.id)"])
        }
        let retryAfter = result.status == 429 || result.status == 503 ? RetryAfter.parse(result.retryAfter) : nil
        guard final == nil, let next = planner.afterFailure(attempts: attempts, retryAfter: retryAfter) else {
            await deadLetter(record, delivery: delivery, reason: final ?? .exhausted, lastError: result.error, lastStatus: result.status,
                             attempts: attempts, firstAttemptAt: firstAttemptAt, ticket: ticket, context: context,
                             endpointID: endpoint.id)
            return
        }
        var state = Self.hopState(delivery: delivery, attempts: attempts, firstAttemptAt: firstAttemptAt,
                                  lastStatus: result.status, lastError: result.error)
        state.dueAt = WallClock.nowMilliseconds + next.wait.wholeMilliseconds
        let hop = state.hop(of: record, to: configuration.topics.retry(next.tier), webhookID: delivery.webhookID)
        await forwardToDelayTopic(hop, record: record, delivery: delivery, attempts: attempts, ticket: ticket, context: context, endpointID: endpoint.id) {
            self.count(.retried, endpoint.id)
            self.metrics.retry(tier: DurationText.format(next.tier))
        }
    }

    /// What resumes a parked record: it comes back to the workers with its endpoint and runtime.
    private static func resumption(
        of work: Work, endpoint: Endpoint, runtime: EndpointRuntime, context: WorkContext
    ) -> @Sendable () -> Void {
        var parked = work
        parked.resumedAt = (endpoint, runtime)
        return { [parked] in context.resume(parked) }
    }

    /// Counts an outcome in the statistics and the metrics.
    func count(_ outcome: DeliveryStatistics.Outcome, _ endpointID: String) {
        statistics.count(outcome, endpointID)
        metrics.delivery(endpointID, outcome)
    }

    /// A failed attempt that ends the delivery at once: a refused address, `410 Gone`, or a 4xx
    /// the endpoint's policy calls permanent (never 408 or 429).
    static func finalReason(_ result: AttemptResult, policy: EndpointPolicy) -> DeadLetterReason? {
        if result.refusal != nil { return .blockedAddress }
        switch result.status {
        case 410?: return .gone
        case let status? where policy.permanent4xx && (400..<500).contains(status) && status != 408 && status != 429:
            return .rejected
        default: return nil
        }
    }

}
