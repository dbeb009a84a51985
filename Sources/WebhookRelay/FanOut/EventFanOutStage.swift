import Foundation
import Kafka
import Logging
import Synchronization

/// Turns the events topic into deliveries: each replica, a member of the group
/// `<group>.fanout`, reads its partitions of `<prefix>.events` and writes, for each event, one
/// delivery per subscribed endpoint (``FanOutDecision``) — in Kafka transactions that also hold
/// the events' offsets, so an event's deliveries and its "done" count together or not at all.
///
/// A batch of events is one transaction (or a few, for many deliveries). When one fails, it is
/// aborted and the consumer starts again from the group's committed offsets; a fenced producer is
/// replaced. After a batch, its offsets are committed through the group as well: a no-op on
/// Kafka, and what keeps the position on brokers that drop transactional offsets (librdkafka's
/// mock, which the embedded broker is; docs/fan-out.md says what that broker gives).
///
/// Partitions leave only between transactions: the rebalance handler waits for the one in flight,
/// and records of partitions no longer assigned are not written.
final class EventFanOutStage: Sendable {
    /// Settings of the stage.
    struct Configuration: Sendable {
        /// Events in one transaction, at most.
        var maxEvents = 2_000
        /// Deliveries in one transaction, at most (an event's own deliveries are never split).
        var maxDeliveries = 20_000
        /// Time limit of each transactional call.
        var callTimeout: Duration = .seconds(30)
        /// Wait before a new session after a failure.
        var restartDelay: Duration = .seconds(1)
    }

    private let relay: RelayConfiguration
    private let configuration: Configuration
    private let registry: EndpointRegistry
    private let metrics: RelayMetrics
    private let logger: Logger
    private let transactionalID: String
    private let gate = Mutex(Gate())

    /// Partitions assigned and whether a transaction is in flight.
    private struct Gate {
        var assigned: Set<KafkaTopicPartition> = []
        var busy = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    init(relay: RelayConfiguration, configuration: Configuration = Configuration(), registry: EndpointRegistry, metrics: RelayMetrics, logger: Logger) {
        self.relay = relay
        self.configuration = configuration
        self.registry = registry
        self.metrics = metrics
        self.transactionalID = relay.fanOutTransactionalID
        var logger = logger
        logger[metadataKey: "relay.stage"] = "fanout"
        self.logger = logger
    }

    /// Fans events out until the task is cancelled.
    func run() async {
        var producer: KafkaProducer?
        while !Task.isCancelled {
            do {
                if producer == nil {
                    let created = try KafkaProducer(configuration: producerConfiguration, logger: logger)
                    producer = created
                    try await created.initTransactions(timeout: configuration.callTimeout)
                }
                guard let producer else { continue }
                try await session(producer)
            } catch {
                logger.error("Fan-out stopped; starting again", metadata: ["kafka.error": "\(error)"])
                if let kafkaError = error as? KafkaError, !kafkaError.requiresAbort {
                    // Fenced or not initialized: only a new producer goes on.
                    await producer?.close(timeout: .seconds(5))
                    producer = nil
                }
                try? await Task.sleep(for: configuration.restartDelay)
            }
        }
        await producer?.close(timeout: relay.drainTimeout)
    }

    private var producerConfiguration: KafkaProducerConfiguration {
        var configuration = relay.producerConfiguration
        configuration.clientID = "webhook-relay-fanout"
        configuration.transactionalID = transactionalID
        configuration.transactionTimeout = relay.fanOutTransactionTimeout
        return configuration
    }

    private var consumerConfiguration: KafkaConsumerConfiguration {
        var configuration = relay.consumerConfiguration
        configuration.groupID += ".fanout"
        configuration.autoCommit = false
        // Kafka's default: the stage reads only committed events.
        configuration.properties["isolation.level"] = "read_committed"
        if let instance = configuration.groupInstanceID { configuration.groupInstanceID = instance + ".fanout" }
        return configuration
    }

    /// One consumer's life: batches until cancelled or a transaction fails.
    private func session(_ producer: KafkaProducer) async throws {
        let consumer = try KafkaConsumer(configuration: consumerConfiguration, topics: [relay.topics.events], logger: logger) { event in
            await self.rebalance(event)
        }
        do {
            var records = consumer.records.makeAsyncIterator()
            while let first = await records.next() {
                var batch = [first]
                while batch.count < configuration.maxEvents, let next = consumer.nextBuffered() { batch.append(next) }
                try await write(batch, producer: producer, consumer: consumer)
                await commitThroughGroup(consumer)
            }
            try? await consumer.close(timeout: relay.drainTimeout)
        } catch {
            try? await consumer.close(timeout: relay.drainTimeout)
            throw error
        }
    }

    /// Writes a batch in transactions; an error leaves no transaction open.
    private func write(_ batch: [KafkaConsumerRecord], producer: KafkaProducer, consumer: KafkaConsumer) async throws {
        let owned = gate.withLock { gate -> [KafkaConsumerRecord] in
            gate.busy = true
            return batch.filter { gate.assigned.contains($0.topicPartition) }
        }
        defer { becomeIdle() }
        var start = owned.startIndex
        while start < owned.endIndex {
            var decisions: [FanOutDecision] = []
            var deliveries = 0
            var end = start
            let now = WallClock.nowMilliseconds
            while end < owned.endIndex && (end == start || deliveries < configuration.maxDeliveries) {
                let decision = FanOutDecision.decide(
                    owned[end], bodyLimit: relay.bodyLimit, topics: relay.topics, now: now, subscribers: registry.subscribers(of:)
                )
                if case .deliver(let records) = decision { deliveries += records.count }
                if end > start && deliveries > configuration.maxDeliveries { break }
                decisions.append(decision)
                end += 1
            }
            try await transaction(decisions, records: owned[start..<end], producer: producer, consumer: consumer)
            start = end
        }
    }

    private func transaction(
        _ decisions: [FanOutDecision], records: ArraySlice<KafkaConsumerRecord>, producer: KafkaProducer, consumer: KafkaConsumer
    ) async throws {
        var offsets: [KafkaTopicPartition: Int64] = [:]
        for record in records { offsets[record.topicPartition] = max(offsets[record.topicPartition] ?? 0, record.offset + 1) }
        do {
            try producer.beginTransaction()
            for decision in decisions {
                switch decision {
                case .deliver(let deliveries):
                    for delivery in deliveries { try await producer.produce(delivery) }
                case .deadLetter(let record, _):
                    try await producer.produce(record)
                case .noSubscriber:
                    continue
                }
            }
            try await producer.sendOffsetsToTransaction(offsets, of: consumer, timeout: configuration.callTimeout)
            try await producer.commitTransaction(timeout: configuration.callTimeout)
        } catch {
            metrics.fanOutTransaction(committed: false)
            if error.requiresAbort {
                do {
                    try await producer.abortTransaction(timeout: configuration.callTimeout)
                } catch {
                    logger.error("Aborting a fan-out transaction failed", metadata: ["kafka.error": "\(error)"])
                    throw error
                }
            }
            throw error
        }
        metrics.fanOutTransaction(committed: true)
        for decision in decisions {
            switch decision {
            case .deliver(let deliveries): metrics.fanOut(.delivered, deliveries: deliveries.count)
            case .noSubscriber: metrics.fanOut(.noSubscriber, deliveries: 0)
            case .deadLetter(_, let reason):
                metrics.fanOut(.deadLettered, deliveries: 0)
                metrics.deadLetter(reason: reason)
            }
        }
        // The same offsets through the group after the batch (see the type's documentation).
        try? consumer.storeOffsets(offsets)
    }

    /// Commits the stored offsets through the group. A broker refuses this while the group
    /// rebalances (the embedded one always does): no new batch is written until it is accepted
    /// or the partitions went (then nothing is stored), so that a rebalance repeats at most the
    /// last batch instead of everything written while it lasted.
    private func commitThroughGroup(_ consumer: KafkaConsumer) async {
        let clock = ContinuousClock(), giveUp = clock.now.advanced(by: relay.sessionTimeout)
        while !Task.isCancelled {
            do {
                try await consumer.commit()
                return
            } catch {
                guard clock.now < giveUp else {
                    logger.warning("Fan-out offsets not committed through the group", metadata: ["kafka.error": "\(error)"])
                    return
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    private func becomeIdle() {
        let waiters = gate.withLock { gate in
            gate.busy = false
            defer { gate.idleWaiters = [] }
            return gate.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Partitions come and go only between transactions.
    private func rebalance(_ event: KafkaRebalanceEvent) async {
        switch event {
        case .assigned(let partitions):
            gate.withLock { $0.assigned.formUnion(partitions) }
        case .revoking(let partitions), .lost(let partitions):
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let idle = gate.withLock { gate -> Bool in
                    gate.assigned.subtract(partitions)
                    if gate.busy { gate.idleWaiters.append(continuation) }
                    return !gate.busy
                }
                if idle { continuation.resume() }
            }
        }
    }
}
