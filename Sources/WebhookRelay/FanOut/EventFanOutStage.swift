import Foundation
import Kafka
import Logging

/// Turns the events topic into deliveries: each replica, a member of the group
/// `<group>.fanout`, reads its partitions of `<prefix>.events` and writes, for each event, one
/// delivery per subscribed endpoint (``FanOutDecision``) — in Kafka transactions that also hold
/// the events' offsets, so an event's deliveries and its "done" count together or not at all.
///
/// The events the consumer has buffered (at most ``Configuration/maxEvents``) are decided at once
/// and written in transactions of at most ``Configuration/maxDeliveries`` records and
/// ``Configuration/maxBytes`` bytes; an event's offset goes with the transaction that holds its
/// last record (an event with more deliveries than one transaction takes is split, and repeated
/// whole if the relay stops in between). Each transaction writes only records of partitions still
/// assigned, with the group membership of that moment, and partitions leave only between
/// transactions (``FanOutGate``). A failed transaction is aborted and the consumer starts again
/// from the group's committed offsets; a producer that cannot go on is replaced. After each
/// batch its offsets are committed through the group as well: a no-op on Kafka, and what keeps
/// the position on brokers that drop transactional offsets (librdkafka's mock, which the embedded
/// broker is; docs/fan-out.md says what that broker gives).
final class EventFanOutStage: Sendable {
    /// Settings of the stage.
    struct Configuration: Sendable {
        /// Events decided at once, at most.
        var maxEvents = 2_000
        /// Records in one transaction, at most.
        var maxDeliveries = 20_000
        /// Bytes in one transaction, at most (a single larger record is written alone).
        var maxBytes = 64 * 1_048_576
        /// Wait before a new session after a failure.
        var restartDelay: Duration = .seconds(1)
    }

    /// Why a session ended.
    private enum Failure: Error {
        /// The producer cannot go on (fenced, fatal, or its transaction state is unknown).
        case producer(KafkaError)
        /// The consumer starts again; the producer goes on.
        case session(KafkaError)
    }

    private let relay: RelayConfiguration
    private let configuration: Configuration
    /// The events topic and/or the operational topic.
    private let topics: [String]
    private let registry: EndpointRegistry
    private let metrics: RelayMetrics
    private let logger: Logger

    init(
        relay: RelayConfiguration, configuration: Configuration = Configuration(), topics: [String], registry: EndpointRegistry,
        metrics: RelayMetrics, logger: Logger
    ) {
        self.relay = relay
        self.topics = topics
        self.configuration = configuration
        self.registry = registry
        self.metrics = metrics
        var logger = logger
        logger[metadataKey: "relay.stage"] = "fanout"
        self.logger = logger
    }

    /// Fans events out until the task is cancelled.
    func run() async {
        var producer: KafkaProducer?
        while !Task.isCancelled {
            do throws(Failure) {
                let current: KafkaProducer
                if let producer {
                    current = producer
                } else {
                    current = try await makeProducer()
                    producer = current
                }
                try await session(current)
            } catch {
                switch error {
                case .producer(let cause):
                    logger.error("Fan-out producer replaced", metadata: ["kafka.error": "\(cause)"])
                    await producer?.close(timeout: .seconds(5))
                    producer = nil
                case .session(let cause):
                    logger.error("Fan-out consumer starting again from the committed offsets", metadata: ["kafka.error": "\(cause)"])
                }
                try? await Task.sleep(for: configuration.restartDelay)
            }
        }
        await producer?.close(timeout: relay.drainTimeout)
    }

    /// Time limit of each transactional call: the transaction's own (the broker aborts it then).
    private var callTimeout: Duration { relay.fanOutTransactionTimeout }

    private func makeProducer() async throws(Failure) -> KafkaProducer {
        var producerConfiguration = relay.producerConfiguration
        producerConfiguration.clientID = "webhook-relay-fanout"
        producerConfiguration.transactionalID = relay.fanOutTransactionalID
        producerConfiguration.transactionTimeout = relay.fanOutTransactionTimeout
        let producer: KafkaProducer
        do {
            producer = try KafkaProducer(configuration: producerConfiguration, logger: logger)
        } catch {
            throw .producer(error)
        }
        do {
            try await producer.initTransactions(timeout: callTimeout)
        } catch {
            await producer.close(timeout: .seconds(5))
            throw .producer(error)
        }
        return producer
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
    private func session(_ producer: KafkaProducer) async throws(Failure) {
        let gate = FanOutGate()
        let consumer: KafkaConsumer
        do {
            consumer = try KafkaConsumer(configuration: consumerConfiguration, topics: topics, logger: logger) { event in
                await gate.rebalance(event)
            }
        } catch {
            throw .session(error)
        }
        var records = consumer.records.makeAsyncIterator()
        do throws(Failure) {
            while !Task.isCancelled, let first = await records.next() {
                var batch = [first]
                while batch.count < configuration.maxEvents, let next = consumer.nextBuffered() { batch.append(next) }
                try await write(batch, producer: producer, consumer: consumer, gate: gate)
                await commitThroughGroup(consumer)
            }
        } catch {
            // What committed before the failure keeps its position on brokers that drop
            // transactional offsets.
            await commitThroughGroup(consumer, once: true)
            try? await consumer.close(timeout: relay.drainTimeout)
            throw error
        }
        await commitThroughGroup(consumer, once: true)
        try? await consumer.close(timeout: relay.drainTimeout)
    }

    /// Decides a batch and writes it in transactions.
    private func write(_ batch: [KafkaConsumerRecord], producer: KafkaProducer, consumer: KafkaConsumer, gate: FanOutGate) async throws(Failure) {
        let now = WallClock.nowMilliseconds
        let decided = batch.map { event in
            (event, FanOutDecision.decide(
                event, bodyLimit: relay.bodyLimit, recordLimit: relay.sizeLimits.recordLimit, topics: relay.topics, now: now,
                subscribers: event.topic == relay.topics.operational ? operatorSubscribers(of:) : registry.subscribers(of:)
            ))
        }
        for transaction in FanOutTransaction.plan(decided, maxRecords: configuration.maxDeliveries, maxBytes: configuration.maxBytes) {
            try await commit(transaction, producer: producer, consumer: consumer, gate: gate)
        }
    }

    /// An operational event goes to the operator's endpoint, unless it is about that endpoint
    /// (which could otherwise feed on its own failures) or the endpoint does not exist.
    private func operatorSubscribers(of event: EventRecord) -> [String] {
        guard let target = relay.operationalEndpoint, event.tenant != target else { return [] }
        switch registry.answer(target) {
        case .found, .disabled: return [target]
        case .deleted, .unknown: return []
        }
    }

    /// Writes one transaction: only what comes from partitions still assigned.
    private func commit(_ transaction: FanOutTransaction, producer: KafkaProducer, consumer: KafkaConsumer, gate: FanOutGate) async throws(Failure) {
        let (assigned, membership) = gate.enter(consumer)
        defer { gate.leave() }
        guard let membership else { throw .session(KafkaError(code: -172, name: "_STATE", message: "the fan-out consumer is not a group member")) }
        let offsets = transaction.offsets(in: assigned)
        do {
            try producer.beginTransaction()
            for (source, record) in transaction.records where assigned.contains(source) {
                try await producer.produce(record)
            }
            try await producer.sendOffsetsToTransaction(offsets, group: membership, timeout: callTimeout)
            try await producer.commitTransaction(timeout: callTimeout)
        } catch {
            metrics.fanOutTransaction(committed: false)
            if error.isFatal { throw .producer(error) }
            do {
                try await producer.abortTransaction(timeout: callTimeout)
            } catch {
                // Its transaction's state is unknown: a new producer with the same id aborts it.
                throw .producer(error)
            }
            throw .session(error)
        }
        metrics.fanOutTransaction(committed: true)
        for event in transaction.finished where assigned.contains(event.source) {
            switch event.decision {
            case .deliver(let deliveries): metrics.fanOut(.delivered, deliveries: deliveries.count)
            case .noSubscriber: metrics.fanOut(.noSubscriber, deliveries: 0)
            case .deadLetter(_, let reason):
                metrics.fanOut(.deadLettered, deliveries: 0)
                metrics.deadLetter(reason: reason)
            }
        }
        // Committed through the group after the batch (see the type's documentation).
        try? consumer.storeOffsets(offsets)
    }

    /// Commits the stored offsets through the group. A broker refuses this while the group
    /// rebalances (the embedded one always does): no new batch is written until it is accepted
    /// or the partitions went (then nothing is stored), so that a rebalance repeats at most the
    /// last batch instead of everything written while it lasted. `once`: one attempt.
    private func commitThroughGroup(_ consumer: KafkaConsumer, once: Bool = false) async {
        let clock = ContinuousClock(), giveUp = clock.now.advanced(by: relay.sessionTimeout)
        while true {
            do {
                try await consumer.commit()
                return
            } catch {
                guard !once, !Task.isCancelled, clock.now < giveUp else {
                    logger.warning("Fan-out offsets not committed through the group", metadata: ["kafka.error": "\(error)"])
                    return
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
