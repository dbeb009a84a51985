import Kafka
import Synchronization

/// Which partitions this replica owns and how far each is done, shared by the consumer loop, the
/// delivery tasks and the rebalance handler.
///
/// Every record gets a ``Ticket`` when its work starts; finishing the ticket moves the partition's
/// "done up to" offset, which is stored in the consumer under the ledger's lock so stores of one
/// partition never go backwards. A ticket from before a revocation cannot finish anything in a
/// later assignment of the same partition (each assignment has its own generation).
///
/// What an earlier owner finished (its ``PartitionProgress`` from the progress topic) is handed
/// to ``assign(_:inherited:)``: those records start as ``Start/alreadyDone`` and are finished at
/// once, so a hand-over repeats only what was really left unfinished.
final class OffsetLedger: Sendable {
    /// The claim of one record on its partition's progress.
    struct Ticket: Sendable, Hashable {
        let topicPartition: KafkaTopicPartition
        let offset: Int64
        let generation: UInt64
    }

    /// What ``start(_:)`` decided for a record.
    enum Start: Sendable {
        /// Work on it; finish or abandon the ticket exactly once.
        case work(Ticket)
        /// An earlier owner finished it: finish the ticket without doing anything.
        case alreadyDone(Ticket)
        /// Its partition is not owned or is being revoked, or it was started before: leave it.
        case refused
    }

    private struct Partition {
        var offsets = PartitionOffsets()
        var generation: UInt64
        var revoking = false
        /// What earlier owners finished, as read when the partition was assigned.
        var inherited: PartitionProgress?
        /// The progress last written to the progress topic for this assignment.
        var written: PartitionProgress?

        /// Everything known to be finished: this owner's records and the inherited ones.
        var progress: PartitionProgress? {
            let own = offsets.doneUpTo.map { PartitionProgress(next: $0, finished: offsets.finishedAboveDone) }
            switch (own, inherited) {
            case (let own?, let inherited?): return own.merged(with: inherited)
            case (let own?, nil): return own
            case (nil, let inherited): return inherited
            }
        }
    }

    private struct State {
        var partitions: [KafkaTopicPartition: Partition] = [:]
        var nextGeneration: UInt64 = 1
    }

    private let state = Mutex(State())
    /// Woken when partitions begin to be revoked or are removed, and when a record of a
    /// partition being revoked finishes or is abandoned.
    private let revokingProgress = WakeSignal()
    private let store: @Sendable (KafkaTopicPartition, Int64) -> Void

    /// - Parameter store: stores "done up to" for a partition (the consumer's `storeOffset`).
    init(store: @escaping @Sendable (KafkaTopicPartition, Int64) -> Void) {
        self.store = store
    }

    /// Takes ownership of partitions, each with what earlier owners are known to have finished.
    func assign(_ topicPartitions: [KafkaTopicPartition], inherited: [KafkaTopicPartition: PartitionProgress] = [:]) {
        state.withLock { state in
            for topicPartition in topicPartitions {
                state.partitions[topicPartition] = Partition(generation: state.nextGeneration, inherited: inherited[topicPartition])
                state.nextGeneration += 1
            }
        }
    }

    /// Starts work on a record.
    func start(_ record: KafkaConsumerRecord) -> Start {
        state.withLock { state in
            guard var partition = state.partitions[record.topicPartition], !partition.revoking else { return .refused }
            state.partitions[record.topicPartition] = nil
            defer { state.partitions[record.topicPartition] = partition }
            guard partition.offsets.start(record.offset) else { return .refused }
            let ticket = Ticket(topicPartition: record.topicPartition, offset: record.offset, generation: partition.generation)
            return partition.inherited?.contains(record.offset) == true ? .alreadyDone(ticket) : .work(ticket)
        }
    }

    /// Marks a record done and stores the partition's new "done up to" offset if it moved.
    func finish(_ ticket: Ticket) {
        let revoking = state.withLock { state -> Bool in
            guard var partition = state.partitions[ticket.topicPartition], partition.generation == ticket.generation else { return false }
            state.partitions[ticket.topicPartition] = nil
            defer { state.partitions[ticket.topicPartition] = partition }
            if let doneUpTo = partition.offsets.finish(ticket.offset) {
                store(ticket.topicPartition, doneUpTo)
            }
            return partition.revoking
        }
        if revoking { revokingProgress.wakeAll() }
    }

    /// Gives up on a record without finishing it: the partition's progress stops before it.
    func abandon(_ ticket: Ticket) {
        let revoking = state.withLock { state -> Bool in
            guard state.partitions[ticket.topicPartition]?.generation == ticket.generation else { return false }
            state.partitions[ticket.topicPartition]?.offsets.abandon(ticket.offset)
            return state.partitions[ticket.topicPartition]?.revoking ?? false
        }
        if revoking { revokingProgress.wakeAll() }
    }

    /// Whether the ticket's partition is still owned in the ticket's assignment and not being revoked:
    /// work that is not yet started should go on only then.
    func isCurrent(_ ticket: Ticket) -> Bool {
        state.withLock { state in
            guard let partition = state.partitions[ticket.topicPartition] else { return false }
            return partition.generation == ticket.generation && !partition.revoking
        }
    }

    /// Whether the ticket's assignment still holds (revoking or not): its result can still be stored.
    func isOwned(_ ticket: Ticket) -> Bool {
        state.withLock { $0.partitions[ticket.topicPartition]?.generation == ticket.generation }
    }

    /// Stops new work on the partitions; their in-flight work may still finish.
    func beginRevoking(_ topicPartitions: [KafkaTopicPartition]) {
        state.withLock { state in
            for topicPartition in topicPartitions { state.partitions[topicPartition]?.revoking = true }
        }
        revokingProgress.wakeAll()
    }

    /// Waits while the ticket stays current (``isCurrent(_:)``), at most until `deadline`;
    /// returns whether it is still current.
    func waitWhileCurrent(_ ticket: Ticket, until deadline: ContinuousClock.Instant) async -> Bool {
        !(await revokingProgress.wait(until: deadline) { isCurrent(ticket) })
    }

    /// Records started and not finished in the partitions.
    func inFlight(_ topicPartitions: [KafkaTopicPartition]) -> Int {
        state.withLock { state in Self.inFlight(state, topicPartitions) }
    }

    /// Waits until no record of the partitions (being revoked, ``beginRevoking(_:)``) is in
    /// flight, at most until `deadline`; returns whether they are idle.
    func waitUntilIdle(_ topicPartitions: [KafkaTopicPartition], until deadline: ContinuousClock.Instant) async -> Bool {
        await revokingProgress.wait(until: deadline) { inFlight(topicPartitions) > 0 }
    }

    /// "Done up to" of every owned partition (`nil` before anything was started in it).
    var progress: [KafkaTopicPartition: Int64?] {
        state.withLock { $0.partitions.mapValues(\.offsets.doneUpTo) }
    }

    /// What is known to be finished in owned partitions, for the progress topic: those whose
    /// entry changed since it was last written (``markWritten(_:_:)``), or all of `topicPartitions`.
    func unwrittenProgress(of topicPartitions: [KafkaTopicPartition]? = nil) -> [KafkaTopicPartition: PartitionProgress] {
        state.withLock { state in
            var result: [KafkaTopicPartition: PartitionProgress] = [:]
            for (topicPartition, partition) in state.partitions {
                if let topicPartitions, !topicPartitions.contains(topicPartition) { continue }
                guard let progress = partition.progress, progress != partition.written else { continue }
                if let written = partition.written, progress.isCovered(by: written) { continue }
                result[topicPartition] = progress
            }
            return result
        }
    }

    /// Notes that `progress` reached the progress topic for the partition's current assignment.
    func markWritten(_ topicPartition: KafkaTopicPartition, _ progress: PartitionProgress) {
        state.withLock { state in
            guard let written = state.partitions[topicPartition]?.written else {
                state.partitions[topicPartition]?.written = progress
                return
            }
            state.partitions[topicPartition]?.written = written.merged(with: progress)
        }
    }

    /// Forgets the partitions; tickets of them finish nothing any more.
    func remove(_ topicPartitions: [KafkaTopicPartition]) {
        state.withLock { state in
            for topicPartition in topicPartitions { state.partitions[topicPartition] = nil }
        }
        revokingProgress.wakeAll()
    }

    private static func inFlight(_ state: State, _ topicPartitions: [KafkaTopicPartition]) -> Int {
        topicPartitions.reduce(0) { $0 + (state.partitions[$1]?.offsets.inFlight ?? 0) }
    }
}
