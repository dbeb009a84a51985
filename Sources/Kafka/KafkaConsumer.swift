import CRdKafka
import Logging

/// A group consumer for at-least-once processing.
///
/// Records arrive through ``records``. Nothing is committed on its own: the application calls
/// ``storeOffset(_:for:)`` with "done up to" (the next offset to read) for a partition, and
/// librdkafka commits stored offsets periodically, when partitions are unassigned and on close.
/// Polling and rebalance callbacks run on a dedicated thread. Fetching is bounded: a partition
/// whose buffered records reach the configured limit is paused until the application catches up.
///
/// The rebalance handler hears about revoked partitions *before* they are unassigned and may
/// still store offsets for them; a lost assignment is reported as such (nothing can be stored).
public final class KafkaConsumer: Sendable {
    let core: KafkaConsumerCore

    /// Creates a consumer subscribed to `topics` and starts polling.
    /// - Parameter rebalanceHandler: called for every assignment change; the poll thread waits for
    ///   it (at most ``KafkaConsumerConfiguration/revocationTimeout``) before letting partitions go.
    public init(
        configuration: KafkaConsumerConfiguration,
        topics: [String],
        logger: Logger,
        rebalanceHandler: (@Sendable (KafkaRebalanceEvent) async -> Void)? = nil
    ) throws(KafkaError) {
        core = try KafkaConsumerCore(
            configuration: configuration, source: .topics(topics), logger: logger, rebalanceHandler: rebalanceHandler
        )
    }

    /// Creates a consumer that reads fixed partitions from fixed offsets, outside any consumer
    /// group (nothing is committed; `groupID` only names the client). Use
    /// ``KafkaConsumer/beginning`` to start at the oldest record kept.
    public init(configuration: KafkaConsumerConfiguration, assignment: [KafkaTopicPartition: Int64], logger: Logger) throws(KafkaError) {
        core = try KafkaConsumerCore(configuration: configuration, source: .partitions(assignment), logger: logger, rebalanceHandler: nil)
    }

    /// The offset that means "the oldest record kept", for ``init(configuration:assignment:logger:)``.
    public static let beginning: Int64 = -2

    deinit {
        core.requestClose()
    }

    /// Runs `body` with a consumer and closes it afterwards (at most `closeTimeout`).
    @discardableResult
    public static func withConsumer<T>(
        configuration: KafkaConsumerConfiguration,
        topics: [String],
        logger: Logger,
        closeTimeout: Duration = .seconds(30),
        rebalanceHandler: (@Sendable (KafkaRebalanceEvent) async -> Void)? = nil,
        _ body: (KafkaConsumer) async throws -> T
    ) async throws -> T {
        let consumer = try KafkaConsumer(
            configuration: configuration, topics: topics, logger: logger, rebalanceHandler: rebalanceHandler
        )
        do {
            let result = try await body(consumer)
            try await consumer.close(timeout: closeTimeout)
            return result
        } catch {
            try? await consumer.close(timeout: closeTimeout)
            throw error
        }
    }

    /// The records of the assigned partitions, round-robin across partitions, in offset order
    /// within each. The sequence ends when the consumer is closed.
    public var records: KafkaConsumerRecords { KafkaConsumerRecords(core: core) }

    /// Marks everything before `nextOffset` in the partition as done; librdkafka commits it.
    /// - Throws: ``KafkaError`` (``KafkaError/isNotAssigned`` when the partition is not ours any more).
    public func storeOffset(_ nextOffset: Int64, for topicPartition: KafkaTopicPartition) throws(KafkaError) {
        try core.storeOffset(nextOffset, for: topicPartition)
    }

    /// Stores several "done up to" offsets at once; see ``storeOffset(_:for:)``.
    public func storeOffsets(_ offsets: [KafkaTopicPartition: Int64]) throws(KafkaError) {
        try core.storeOffsets(offsets.map { ($0.key, $0.value) })
    }

    /// Stops handing out and fetching records of these partitions until ``resume(_:)``.
    /// Records already fetched are kept and handed out after resuming.
    public func pause(_ topicPartitions: [KafkaTopicPartition]) {
        core.pause(topicPartitions)
    }

    /// Resumes partitions paused with ``pause(_:)``.
    public func resume(_ topicPartitions: [KafkaTopicPartition]) {
        core.resume(topicPartitions)
    }

    /// The next record if one is buffered already, without waiting (to gather a batch after
    /// ``records`` gave its first record).
    public func nextBuffered() -> KafkaConsumerRecord? { core.nextBuffered() }

    /// Waits until a record is buffered, without taking it: for an application that takes
    /// records with ``nextBuffered()`` from several tasks. Returns `false` once the consumer is
    /// closed or the task is cancelled. Another task may take the record first.
    public func waitForRecords() async -> Bool { await core.waitForRecords() }

    /// The group membership now (member id and generation), for a transaction's offsets;
    /// `nil` when the consumer is not a group member.
    public func groupMetadata() -> KafkaGroupMetadata? {
        core.groupMetadata().map(KafkaGroupMetadata.init(pointer:))
    }

    /// Records fetched but not yet taken by the application. Bounded by
    /// ``KafkaConsumerConfiguration/maxBufferedRecordsPerPartition`` per partition, plus less
    /// than one poll batch (256 records): the rest of the batch that reached the limit. The poll
    /// thread takes no further batch until librdkafka has paused the full partitions.
    public var bufferedRecordCount: Int { core.bufferedRecordCount }

    /// The partitions currently assigned to this consumer.
    public var assignment: Set<KafkaTopicPartition> { core.assignment }

    /// Commits the stored offsets now and waits for the broker's answer.
    public func commit() async throws(KafkaError) {
        try await core.commit()
    }

    /// The group's committed offsets (next offset to read) for the partitions; `nil` when none.
    public func committedOffsets(
        _ topicPartitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)
    ) async throws(KafkaError) -> [KafkaTopicPartition: Int64?] {
        try await core.committed(topicPartitions, timeout: timeout)
    }

    /// The low and high watermarks of partitions: the oldest kept offset and the offset the next
    /// record will get (so `high` is "the end as seen now").
    public func watermarks(
        _ topicPartitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)
    ) async throws(KafkaError) -> [KafkaTopicPartition: KafkaWatermarks] {
        try await core.watermarks(topicPartitions, timeout: timeout)
    }

    /// The partition's end as last reported by a fetch (no request is made), or `nil` when unknown.
    public func cachedHighWatermark(_ topicPartition: KafkaTopicPartition) -> Int64? {
        core.cachedHighWatermark(topicPartition)
    }

    /// The number of partitions of each topic; a topic that does not exist is missing.
    public func partitionCounts(of topics: [String], timeout: Duration = .seconds(10)) async throws(KafkaError) -> [String: Int] {
        try await core.partitionCounts(of: topics, timeout: timeout)
    }

    /// Leaves the group: the rebalance handler hears `revoking` for every assigned partition,
    /// stored offsets are committed, the ``records`` sequence ends and resources are released.
    /// - Throws: a timeout ``KafkaError`` when closing took longer than `timeout` (it goes on in
    ///   the background).
    public func close(timeout: Duration) async throws(KafkaError) {
        core.requestClose()
        guard await core.closed.wait(timeout: timeout) else { throw KafkaError.timedOut }
    }
}

/// The records a ``KafkaConsumer`` hands to the application.
public struct KafkaConsumerRecords: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerRecord
    public typealias Failure = Never

    let core: KafkaConsumerCore

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(core: core)
    }

    /// Iterates the records; returns `nil` once the consumer is closed or the task is cancelled.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let core: KafkaConsumerCore

        public mutating func next() async -> KafkaConsumerRecord? {
            await core.next()
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async -> KafkaConsumerRecord? {
            await core.next()
        }
    }
}
