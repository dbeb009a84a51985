import Kafka
import Synchronization

/// Which partitions this replica owns and how far each is done, shared by the consumer loop, the
/// delivery tasks and the rebalance handler.
///
/// Every record gets a ``RecordTicket`` when its work starts; finishing the ticket moves the
/// partition's "done up to" offset, which is stored in the consumer under the ledger's lock so
/// stores of one partition never go backwards. A ticket from before a revocation cannot finish
/// anything in a later assignment of the same partition (each assignment has its own generation).
///
/// What an earlier owner finished (its ``PartitionProgress`` from the progress topic) is handed
/// to ``assign(_:inherited:)``: those records start as ``Start/alreadyDone`` and are finished at
/// once, so a hand-over repeats only what was really left unfinished.
final class OffsetLedger: Sendable {
    /// What ``start(_:)`` decided for a record.
    enum Start: ~Copyable, Sendable {
        /// Work on it; the ticket settles it.
        case work(RecordTicket)
        /// An earlier owner finished it: finish the ticket without doing anything.
        case alreadyDone(RecordTicket)
        /// Its partition is not owned or is being revoked, or it was started before: leave it.
        case refused
    }

    private struct Partition {
        let topicPartition: KafkaTopicPartition
        var offsets = PartitionOffsets()
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

        /// Starts a record unless the partition is being revoked or it was started before (`nil`);
        /// whether an earlier owner finished it.
        mutating func start(_ offset: Int64) -> Bool? {
            guard !revoking, offsets.start(offset) else { return nil }
            return inherited?.contains(offset) == true
        }

        /// Finishes a record: the new "done up to" if it moved, and whether the partition is
        /// being revoked.
        mutating func finish(_ offset: Int64) -> (doneUpTo: Int64?, revoking: Bool, topicPartition: KafkaTopicPartition) {
            (offsets.finish(offset), revoking, topicPartition)
        }

        /// Abandons a record; whether the partition is being revoked.
        mutating func abandon(_ offset: Int64) -> Bool {
            offsets.abandon(offset)
            return revoking
        }
    }

    /// Partitions by the generation of their assignment (what a ticket names: one look-up of an
    /// integer per record event, the partition's state changed in place), and the generation of
    /// each partition held.
    private struct State {
        var byGeneration: [UInt64: Partition] = [:]
        var current: [KafkaTopicPartition: UInt64] = [:]
        var nextGeneration: UInt64 = 1

        func partition(_ topicPartition: KafkaTopicPartition) -> Partition? {
            current[topicPartition].flatMap { byGeneration[$0] }
        }
    }

    private let state = Mutex(State())
    private let unsettled = Atomic<Int>(0)
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
                if let previous = state.current[topicPartition] { state.byGeneration[previous] = nil }
                state.byGeneration[state.nextGeneration] = Partition(topicPartition: topicPartition, inherited: inherited[topicPartition])
                state.current[topicPartition] = state.nextGeneration
                state.nextGeneration += 1
            }
        }
    }

    /// Starts work on a record.
    func start(_ record: KafkaConsumerRecord) -> Start {
        let started = state.withLock { state -> (generation: UInt64, alreadyDone: Bool)? in
            guard let generation = state.current[record.topicPartition],
                let alreadyDone = state.byGeneration.changeValue(forKey: generation, { $0.start(record.offset) }) ?? nil
            else { return nil }
            return (generation, alreadyDone)
        }
        guard let started else { return .refused }
        let ticket = RecordTicket(generation: started.generation, offset: record.offset, ledger: self)
        return started.alreadyDone ? .alreadyDone(ticket) : .work(ticket)
    }

    /// Marks a record done and stores the partition's new "done up to" offset if it moved
    /// (``RecordTicket/finish()``).
    func finish(generation: UInt64, offset: Int64) {
        let revoking = state.withLock { state -> Bool in
            // Changed in place: the partition's offsets are not copied.
            guard let finished = state.byGeneration.changeValue(forKey: generation, { $0.finish(offset) }) else { return false }
            if let doneUpTo = finished.doneUpTo { store(finished.topicPartition, doneUpTo) }
            return finished.revoking
        }
        if revoking { revokingProgress.wakeAll() }
    }

    /// Gives up on a record without finishing it: the partition's progress stops before it
    /// (``RecordTicket/abandon()``).
    func abandon(generation: UInt64, offset: Int64) {
        let revoking = state.withLock { state -> Bool in
            state.byGeneration.changeValue(forKey: generation) { $0.abandon(offset) } ?? false
        }
        if revoking { revokingProgress.wakeAll() }
    }

    /// Whether the assignment still holds and its partition is not being revoked.
    func isCurrent(generation: UInt64) -> Bool {
        state.withLock { $0.byGeneration[generation]?.revoking == false }
    }

    /// Whether the assignment still holds (revoking or not).
    func isOwned(generation: UInt64) -> Bool {
        state.withLock { $0.byGeneration[generation] != nil }
    }

    /// A ticket was dropped without being settled (``RecordTicket``'s `deinit`).
    func noteUnsettled() {
        unsettled.add(1, ordering: .relaxed)
    }

    /// Tickets dropped without being settled since the ledger was made: always 0 unless the
    /// executor has a defect (each such record was abandoned, so repeated, never skipped).
    var unsettledTickets: Int { unsettled.load(ordering: .relaxed) }

    /// Stops new work on the partitions; their in-flight work may still finish.
    func beginRevoking(_ topicPartitions: [KafkaTopicPartition]) {
        state.withLock { state in
            for topicPartition in topicPartitions {
                if let generation = state.current[topicPartition] { state.byGeneration[generation]?.revoking = true }
            }
        }
        revokingProgress.wakeAll()
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
        state.withLock { state in state.current.compactMapValues { state.byGeneration[$0].map(\.offsets.doneUpTo) } }
    }

    /// What is known to be finished in owned partitions, for the progress topic: those whose
    /// entry changed since it was last written (``markWritten(_:_:)``), or all of `topicPartitions`.
    func unwrittenProgress(of topicPartitions: [KafkaTopicPartition]? = nil) -> [KafkaTopicPartition: PartitionProgress] {
        state.withLock { state in
            var result: [KafkaTopicPartition: PartitionProgress] = [:]
            for (topicPartition, generation) in state.current {
                if let topicPartitions, !topicPartitions.contains(topicPartition) { continue }
                guard let partition = state.byGeneration[generation] else { continue }
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
            guard let generation = state.current[topicPartition] else { return }
            let written = state.byGeneration[generation]?.written
            state.byGeneration[generation]?.written = written.map { $0.merged(with: progress) } ?? progress
        }
    }

    /// Forgets the partitions; tickets of them finish nothing any more.
    func remove(_ topicPartitions: [KafkaTopicPartition]) {
        state.withLock { state in
            for topicPartition in topicPartitions {
                if let generation = state.current.removeValue(forKey: topicPartition) { state.byGeneration[generation] = nil }
            }
        }
        revokingProgress.wakeAll()
    }

    private static func inFlight(_ state: State, _ topicPartitions: [KafkaTopicPartition]) -> Int {
        topicPartitions.reduce(0) { $0 + (state.partition($1)?.offsets.inFlight ?? 0) }
    }
}
