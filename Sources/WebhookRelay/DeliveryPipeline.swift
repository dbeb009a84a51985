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
public final class DeliveryPipeline: Service, Sendable {
    private let configuration: RelayConfiguration
    private let registry: EndpointRegistry
    private let planner: RetryPlanner
    private let logger: Logger
    /// HTTP attempts in flight across all endpoints.
    private let attemptsInFlight: AsyncSemaphore
    /// Whether the consumer took part in a completed rebalance and has not lost it since.
    private let groupMember = LockedValue(false)
    private let metrics: RelayMetrics
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
        do {
            try await checkTopics(producer)
            try await consume(producer: producer, http: http)
        } catch {
            await producer.close(timeout: .seconds(5))
            await http.shutdown()
            throw error
        }
        await producer.close(timeout: configuration.drainTimeout)
        await http.shutdown()
        logger.info("Relay stopped")
    }

    /// Every consumed topic and the dead-letter topic must exist with the deliveries topic's
    /// partition count, so that a partition number means the same endpoints on every topic.
    private func checkTopics(_ producer: KafkaProducer) async throws {
        let topics = configuration.topics
        let needed = topics.consumed + [topics.deadLetters]
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
    }

    private func consume(producer: KafkaProducer, http: WebhookHTTPClient) async throws {
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
        let drainTimeout = configuration.drainTimeout
        let registry = self.registry
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
            await Self.rebalance(event, ledger: ledger, registry: registry, drainTimeout: drainTimeout, logger: logger)
        }
        defer { groupMember.value = false }
        consumerReference.value = consumer
        // Records being worked on (parked for their endpoint, attempted, or forwarded). Parking is
        // bounded per endpoint, so one slow endpoint cannot take all of them.
        let inFlight = AsyncSemaphore(permits: 4 * configuration.maxInFlight)
        // Tasks that work on records: enough for every attempt in flight, and some to forward
        // records and wait for rate limits meanwhile. Parked records need none.
        let workers = WorkerPool<Work>(maxWorkers: configuration.maxInFlight + 256)
        let context = WorkContext(producer: producer, http: http, ledger: ledger, resume: { workers.resume($0) })
        let closeTimeout = configuration.drainTimeout + .seconds(10)
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
                var lastStarted: [KafkaTopicPartition: OffsetLedger.Ticket] = [:]
                // Workers run on the HTTP client's event loops, spread evenly over them.
                let loopExecutors = EventLoopTaskExecutor.forSharedLoops()
                var startedWorkers = 0
                for await record in consumer.records {
                    await inFlight.acquire()
                    guard let ticket = ledger.start(record) else {
                        inFlight.release()
                        continue
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
                    let decoded = DeliveryRecord.decode(record, bodyLimit: configuration.bodyLimit)
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
                    if workers.submit(Work(decoded: decoded, record: record, ticket: ticket)) {
                        let executor = loopExecutors[startedWorkers % loopExecutors.count]
                        startedWorkers += 1
                        group.addTask(executorPreference: executor) {
                            while let work = await workers.next() {
                                // A parked record stays in flight until it is resumed and done.
                                if await self.process(work, context: context) { inFlight.release() }
                            }
                        }
                    }
                }
                // The consumer is closed: every partition was revoked and what is still running
                // was abandoned to the next owner.
                workers.close()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            logger.info("Graceful shutdown: draining in-flight deliveries", metadata: ["relay.drain_timeout": "\(drainTimeout)"])
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

    private static func rebalance(
        _ event: KafkaRebalanceEvent, ledger: OffsetLedger, registry: EndpointRegistry, drainTimeout: Duration, logger: Logger
    ) async {
        switch event {
        case .assigned(let partitions):
            ledger.assign(partitions)
        case .revoking(let partitions):
            // Stop starting work, let in-flight work finish (bounded), then let the partitions go.
            ledger.beginRevoking(partitions)
            let deadline = ContinuousClock.now.advanced(by: drainTimeout)
            while ledger.inFlight(partitions) > 0 && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
            let abandoned = ledger.inFlight(partitions)
            if abandoned > 0 {
                logger.warning(
                    "In-flight deliveries did not finish before revocation; the next owner repeats them",
                    metadata: ["relay.abandoned": "\(abandoned)"]
                )
            }
            ledger.remove(partitions)
            registry.forget(partitions: Set(partitions.map(\.partition)))
        case .lost(let partitions):
            ledger.remove(partitions)
            registry.forget(partitions: Set(partitions.map(\.partition)))
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

    /// Sleeps until `dueAt` while the ticket's partition stays ours; `false` when it was revoked.
    private func waitUntilDue(_ dueAt: Int64, ticket: OffsetLedger.Ticket, ledger: OffsetLedger) async -> Bool {
        while true {
            let remaining = dueAt - WallClock.nowMilliseconds
            if remaining <= 0 { return true }
            guard ledger.isCurrent(ticket), !Task.isCancelled else { return false }
            try? await Task.sleep(for: .milliseconds(min(remaining, 200)))
        }
    }

    /// A record handed to a worker.
    private struct Work: Sendable {
        let decoded: Result<DeliveryRecord, DeliveryRecordDefect>
        let record: KafkaConsumerRecord
        let ticket: OffsetLedger.Ticket
        /// Set when the record was parked by its endpoint and is now resumed: the endpoint and the
        /// runtime that reserved a slot for it.
        var resumedAt: (endpoint: Endpoint, runtime: EndpointRuntime)? = nil
    }

    private struct WorkContext: Sendable {
        let producer: KafkaProducer
        let http: WebhookHTTPClient
        let ledger: OffsetLedger
        /// Gives a resumed record back to the workers, ahead of new ones.
        let resume: @Sendable (Work) -> Void
    }

    /// Works on one record until it is done (delivered, forwarded, dead-lettered, skipped or
    /// abandoned): returns `true`; or until its endpoint parks it: returns `false`, and the record
    /// comes back through `context.resume`.
    private func process(_ work: Work, context: WorkContext) async -> Bool {
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

        let admission: EndpointRuntime.Admission
        let decision = await runtime.enter(
            now: { MonotonicClock.milliseconds }, resumed: work.resumedAt != nil,
            park: Self.resumption(of: work, endpoint: endpoint, runtime: runtime, context: context)
        )
        switch decision {
        case .parked:
            return false
        case .attempt(let admitted):
            admission = admitted
            if admitted.waited { metrics.rateLimitWait(endpoint.id) }
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
        guard context.ledger.isCurrent(ticket), !Task.isCancelled else {
            runtime.cancel(admission, now: MonotonicClock.milliseconds)
            return await handOff(record, delivery: delivery, ticket: ticket, context: context, endpointID: endpoint.id)
        }
        let attemptAt = WallClock.nowMilliseconds
        await attemptsInFlight.acquire()
        let result = await attempt(delivery, endpoint: endpoint, at: attemptAt, http: context.http)
        attemptsInFlight.release()
        metrics.attemptDuration(endpoint.id, result.duration)
        runtime.leave(admission, .init(success: result.succeeded, status: result.status, now: MonotonicClock.milliseconds))

        let attempts = delivery.attempts + 1
        if result.succeeded {
            count(.delivered, endpoint.id)
            logger.debug("Delivered", metadata: [
                "endpoint.id": "\(endpoint.id)", "webhook.id": "\(delivery.webhookID)", "attempt": "\(attempts)",
                "http.status": "\(result.status ?? 0)",
            ])
            context.ledger.finish(ticket)
            return true
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
            return true
        }
        var headers = hopHeaders(delivery: delivery, attempts: attempts, firstAttemptAt: firstAttemptAt,
                                 lastStatus: result.status, lastError: result.error)
        headers.append(KafkaHeader(key: RelayHeader.dueAt, value: String(WallClock.nowMilliseconds + next.wait.wholeMilliseconds)))
        let hop = hopRecord(record, topic: configuration.topics.retry(next.tier), delivery: delivery, headers: headers)
        if await forward(hop, ticket: ticket, ledger: context.ledger, producer: context.producer) {
            count(.retried, endpoint.id)
            metrics.retry(tier: DurationText.format(next.tier))
            context.ledger.finish(ticket)
        } else {
            context.ledger.abandon(ticket)
        }
        return true
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
    private func count(_ outcome: DeliveryStatistics.Outcome, _ endpointID: String) {
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

    /// A record that waited for its endpoint and was not attempted when its partition began to be
    /// revoked (rebalance or shutdown). While the partition is still ours it goes to the shortest
    /// delay topic, due at once, without using an attempt: its offset is then done, so the commit
    /// passes it. Abandoning it instead would hold the committed offset before it, and the next
    /// owner would repeat every later record of the partition that this replica had finished.
    private func handOff(
        _ record: KafkaConsumerRecord, delivery: DeliveryRecord, ticket: OffsetLedger.Ticket, context: WorkContext, endpointID: String
    ) async -> Bool {
        guard context.ledger.isOwned(ticket) else {
            context.ledger.abandon(ticket)
            return true
        }
        return await postpone(record, delivery: delivery, wait: .zero, ticket: ticket, context: context, endpointID: endpointID)
    }

    /// Sends a record to a delay topic without using an attempt (circuit open, endpoint busy).
    /// Returns whether the record is done (`false`: parked after waiting here, see ``process(_:context:)``).
    private func postpone(
        _ record: KafkaConsumerRecord, delivery: DeliveryRecord, wait: Duration, ticket: OffsetLedger.Ticket,
        context: WorkContext, endpointID: String
    ) async -> Bool {
        guard let next = planner.fitting(wait) else {
            // No delay topics (schedule `none`): wait here instead.
            try? await Task.sleep(for: wait)
            return await process(Work(decoded: .success(delivery), record: record, ticket: ticket), context: context)
        }
        var headers = hopHeaders(
            delivery: delivery, attempts: delivery.attempts,
            firstAttemptAt: delivery.firstAttemptAtMilliseconds ?? WallClock.nowMilliseconds,
            lastStatus: delivery.lastStatus, lastError: delivery.lastError
        )
        headers.append(KafkaHeader(key: RelayHeader.dueAt, value: String(WallClock.nowMilliseconds + next.wait.wholeMilliseconds)))
        let hop = hopRecord(record, topic: configuration.topics.retry(next.tier), delivery: delivery, headers: headers)
        if await forward(hop, ticket: ticket, ledger: context.ledger, producer: context.producer) {
            count(.postponed, endpointID)
            context.ledger.finish(ticket)
        } else {
            context.ledger.abandon(ticket)
        }
        return true
    }

    /// Signs and POSTs one attempt.
    private func attempt(_ delivery: DeliveryRecord, endpoint: Endpoint, at now: Int64, http: WebhookHTTPClient) async -> AttemptResult {
        var headers: [(name: String, value: String)]
        do {
            headers = try endpoint.signer.headers(
                id: delivery.webhookID, timestamp: now / 1_000, event: delivery.event, body: delivery.body
            )
        } catch {
            return AttemptResult(status: nil, error: "signing failed: \(error)", duration: .zero)
        }
        if endpoint.scheme != .nself {
            headers.append(("Content-Type", delivery.contentType))
        }
        // Informational (not signed): which attempt this is, for the receiver's logs.
        headers.append((RelayHeader.attemptHTTPHeader, String(delivery.attempts + 1)))
        headers.append(contentsOf: endpoint.headers)
        return await http.post(url: endpoint.url, headers: headers, body: delivery.body, timeout: endpoint.timeout)
    }

    private func deadLetter(
        _ record: KafkaConsumerRecord,
        delivery: DeliveryRecord?,
        reason: DeadLetterReason,
        lastError: String?,
        lastStatus: Int?,
        attempts: Int,
        firstAttemptAt: Int64? = nil,
        ticket: OffsetLedger.Ticket,
        context: WorkContext,
        endpointID: String
    ) async {
        var headers = hopHeaders(
            delivery: delivery, attempts: attempts,
            firstAttemptAt: firstAttemptAt ?? delivery?.firstAttemptAtMilliseconds,
            lastStatus: lastStatus, lastError: lastError,
            origin: delivery?.origin ?? DeliveryRecord.Origin(topic: record.topic, partition: record.partition, offset: record.offset)
        )
        headers.append(KafkaHeader(key: RelayHeader.deadLetterReason, value: reason.rawValue))
        headers.append(KafkaHeader(key: RelayHeader.diedAt, value: String(WallClock.nowMilliseconds)))
        let hop = hopRecord(record, topic: configuration.topics.deadLetters, delivery: delivery, headers: headers)
        if await forward(hop, ticket: ticket, ledger: context.ledger, producer: context.producer) {
            count(.deadLettered, endpointID)
            metrics.deadLetter(reason: reason)
            context.ledger.finish(ticket)
        } else {
            context.ledger.abandon(ticket)
        }
    }

    /// The relay's headers for a hop (replacing any from an earlier hop).
    private func hopHeaders(
        delivery: DeliveryRecord?, attempts: Int, firstAttemptAt: Int64?, lastStatus: Int?, lastError: String?,
        origin: DeliveryRecord.Origin? = nil
    ) -> [KafkaHeader] {
        var headers: [KafkaHeader] = [KafkaHeader(key: RelayHeader.attempts, value: String(attempts))]
        if let firstAttemptAt { headers.append(KafkaHeader(key: RelayHeader.firstAttemptAt, value: String(firstAttemptAt))) }
        if let origin = origin ?? delivery?.origin {
            headers.append(KafkaHeader(key: RelayHeader.originTopic, value: origin.topic))
            headers.append(KafkaHeader(key: RelayHeader.originPartition, value: String(origin.partition)))
            headers.append(KafkaHeader(key: RelayHeader.originOffset, value: String(origin.offset)))
        }
        if let lastStatus { headers.append(KafkaHeader(key: RelayHeader.lastStatus, value: String(lastStatus))) }
        if let lastError { headers.append(KafkaHeader(key: RelayHeader.lastError, value: Self.truncate(lastError))) }
        return headers
    }

    /// The record for a hop: same key, body and partition number; the producer's headers kept
    /// (with `webhook-id` added when it was derived), the relay's headers replaced.
    private func hopRecord(
        _ record: KafkaConsumerRecord, topic: String, delivery: DeliveryRecord?, headers relayHeaders: [KafkaHeader]
    ) -> KafkaProducerRecord {
        var headers = record.headers.filter { !RelayHeader.relayOwned.contains($0.key) }
        if let delivery, !headers.contains(where: { $0.key == RelayHeader.id }) {
            headers.append(KafkaHeader(key: RelayHeader.id, value: delivery.webhookID))
        }
        headers.append(contentsOf: relayHeaders)
        return KafkaProducerRecord(topic: topic, partition: record.partition, key: record.key, value: record.value, headers: headers)
    }

    /// Produces a hop, retrying with backoff until the broker acknowledges it or the partition is
    /// no longer ours. Returns whether it was acknowledged.
    private func forward(_ hop: KafkaProducerRecord, ticket: OffsetLedger.Ticket, ledger: OffsetLedger, producer: KafkaProducer) async -> Bool {
        var backoff = Duration.milliseconds(100)
        while true {
            do {
                let report = try await producer.send(hop)
                logger.trace("Forwarded", metadata: [
                    "kafka.topic": "\(hop.topic)", "kafka.partition": "\(report.partition)", "kafka.offset": "\(report.offset)",
                    "kafka.from": "\(ticket.topicPartition)@\(ticket.offset)",
                ])
                return true
            } catch {
                logger.warning(
                    "Producing to \(hop.topic) failed; retrying",
                    metadata: ["kafka.error": "\(error)", "kafka.partition": "\(ticket.topicPartition)", "kafka.offset": "\(ticket.offset)"]
                )
                guard ledger.isOwned(ticket), !Task.isCancelled else { return false }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    static func truncate(_ text: String) -> String {
        guard text.utf8.count > RelayHeader.lastErrorLimit else { return text }
        var result = ""
        for character in text {
            if result.utf8.count + character.utf8.count > RelayHeader.lastErrorLimit - 3 { break }
            result.append(character)
        }
        return result + "..."
    }
}

