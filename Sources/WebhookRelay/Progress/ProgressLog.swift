import Kafka
import Logging
import Synchronization

/// The progress topic (`<prefix>.progress`): what the owner of each consumed partition finished,
/// written by the owner and read by the next one.
///
/// Kafka's committed offset says only "everything below N is done": records finished out of
/// order above it, and everything finished while the group re-forms (the mock broker refuses
/// commits then), are repeated by the next owner. Each owner also writes a ``PartitionProgress``
/// (record key = the consumed topic, partition = the consumed partition's number) every commit
/// interval and when it lets a partition go; every replica reads the whole topic all the time,
/// and a replica that is assigned a partition first catches up to the topic's end as it is then,
/// so it sees what the previous owner wrote before it let go. Unlike a commit, a produce is not
/// fenced by the group's generation: it works while the group re-forms. Entries only state facts,
/// so a late or duplicated write is harmless, and one that is missed only repeats work.
final class ProgressLog: Sendable {
    private struct State {
        /// The merged entry of each consumed partition.
        var entries: [KafkaTopicPartition: PartitionProgress] = [:]
        /// The next offset to read of each progress partition.
        var positions: [Int32: Int64] = [:]
    }

    let topic: String
    private let reader: KafkaConsumer
    private let producer: KafkaProducer
    private let logger: Logger
    private let state = Mutex(State())
    /// Woken for every entry read.
    private let readProgress = WakeSignal()

    /// Starts reading the topic's `partitions` from the beginning; call ``run()`` to consume them.
    init(
        topic: String, partitions: Int, consumerConfiguration: KafkaConsumerConfiguration, producer: KafkaProducer, logger: Logger
    ) throws(KafkaError) {
        self.topic = topic
        self.producer = producer
        self.logger = logger
        reader = try KafkaConsumer.wholeTopicReader(
            topic, partitions: partitions, consumerConfiguration: consumerConfiguration, role: "progress-reader", logger: logger
        )
    }

    /// Reads entries until ``close()``.
    func run() async {
        for await record in reader.records {
            let entry = PartitionProgress(encoded: record.value)
            let key = record.key.flatMap { String(validating: $0, as: UTF8.self) }
            if entry == nil || key == nil {
                logger.warning("Unreadable progress entry ignored", metadata: [
                    "kafka.partition": "\(record.topicPartition)", "kafka.offset": "\(record.offset)",
                ])
            }
            state.withLock { state in
                if let entry, let key {
                    let consumed = KafkaTopicPartition(topic: key, partition: record.partition)
                    state.entries[consumed] = state.entries[consumed].map { $0.merged(with: entry) } ?? entry
                }
                state.positions[record.partition] = record.offset + 1
            }
            readProgress.wakeAll()
        }
    }

    /// Stops reading.
    func close() async {
        try? await reader.close(timeout: .seconds(5))
    }

    /// What earlier owners finished in these partitions, read up to the topic's end as it is now
    /// (at most `timeout`; after it, what was read so far — which may repeat more work).
    func read(_ topicPartitions: [KafkaTopicPartition], timeout: Duration) async -> [KafkaTopicPartition: PartitionProgress] {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        let partitions = Set(topicPartitions.map(\.partition)).map { KafkaTopicPartition(topic: topic, partition: $0) }
        do {
            let marks = try await reader.watermarks(partitions, timeout: timeout)
            let caughtUp = await readProgress.wait(until: deadline) {
                !state.withLock { state in
                    marks.allSatisfy { partition, mark in mark.high <= max(mark.low, state.positions[partition.partition] ?? 0) }
                }
            }
            if !caughtUp {
                logger.warning("Progress topic not read to its end in time; a hand-over may repeat finished deliveries",
                               metadata: ["relay.timeout": "\(timeout)"])
            }
        } catch {
            logger.warning("Progress topic unreadable; a hand-over may repeat finished deliveries", metadata: ["kafka.error": "\(error)"])
        }
        return state.withLock { state in
            var result: [KafkaTopicPartition: PartitionProgress] = [:]
            for topicPartition in topicPartitions { result[topicPartition] = state.entries[topicPartition] }
            return result
        }
    }

    /// Writes entries; returns those the broker acknowledged within `timeout` (the others may
    /// still arrive later).
    func write(_ entries: [KafkaTopicPartition: PartitionProgress], timeout: Duration) async -> [KafkaTopicPartition: PartitionProgress] {
        guard !entries.isEmpty else { return [:] }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let answered = LockedValue<(acknowledged: [KafkaTopicPartition: PartitionProgress], count: Int)>(([:], 0))
        let answers = WakeSignal()
        for (topicPartition, entry) in entries {
            let record = KafkaProducerRecord(
                topic: topic, partition: topicPartition.partition, key: Array(topicPartition.topic.utf8), value: entry.encoded
            )
            // Not a child task: a send cannot be cancelled, and the timeout must not wait for it.
            Task { [producer] in
                let sent = (try? await producer.send(record)) != nil
                answered.withLock { answered in
                    answered.count += 1
                    if sent { answered.acknowledged[topicPartition] = entry }
                }
                answers.wakeAll()
            }
        }
        _ = await answers.wait(until: deadline) { answered.withLock { $0.count } < entries.count }
        let (acknowledged, count) = answered.value
        if count < entries.count || acknowledged.count < entries.count {
            logger.warning("Progress entries not acknowledged in time", metadata: [
                "relay.unacknowledged": "\(entries.count - acknowledged.count)",
            ])
        }
        return acknowledged
    }
}
