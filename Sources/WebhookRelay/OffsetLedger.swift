import Kafka
import Synchronization

/// Which partitions this replica owns and how far each is done, shared by the consumer loop, the
/// delivery tasks and the rebalance handler.
///
/// Every record gets a ``Ticket`` when its work starts; finishing the ticket moves the partition's
/// "done up to" offset, which is stored in the consumer under the ledger's lock so stores of one
/// partition never go backwards. A ticket from before a revocation cannot finish anything in a
/// later assignment of the same partition (each assignment has its own generation).
final class OffsetLedger: Sendable {
    /// The claim of one record on its partition's progress.
    struct Ticket: Sendable, Hashable {
        let topicPartition: KafkaTopicPartition
        let offset: Int64
        let generation: UInt64
    }

    private struct Partition {
        var offsets = PartitionOffsets()
        var generation: UInt64
        var revoking = false
    }

    private struct State {
        var partitions: [KafkaTopicPartition: Partition] = [:]
        var nextGeneration: UInt64 = 1
    }

    private let state = Mutex(State())
    private let store: @Sendable (KafkaTopicPartition, Int64) -> Void

    /// - Parameter store: stores "done up to" for a partition (the consumer's `storeOffset`).
    init(store: @escaping @Sendable (KafkaTopicPartition, Int64) -> Void) {
        self.store = store
    }

    func assign(_ topicPartitions: [KafkaTopicPartition]) {
        state.withLock { state in
            for topicPartition in topicPartitions {
                state.partitions[topicPartition] = Partition(generation: state.nextGeneration)
                state.nextGeneration += 1
            }
        }
    }

    /// Starts work on a record; `nil` when its partition is not owned or is being revoked.
    func start(_ record: KafkaConsumerRecord) -> Ticket? {
        state.withLock { state in
            guard var partition = state.partitions[record.topicPartition], !partition.revoking else { return nil }
            state.partitions[record.topicPartition] = nil
            defer { state.partitions[record.topicPartition] = partition }
            guard partition.offsets.start(record.offset) else { return nil }
            return Ticket(topicPartition: record.topicPartition, offset: record.offset, generation: partition.generation)
        }
    }

    /// Marks a record done and stores the partition's new "done up to" offset if it moved.
    func finish(_ ticket: Ticket) {
        state.withLock { state in
            guard var partition = state.partitions[ticket.topicPartition], partition.generation == ticket.generation else { return }
            state.partitions[ticket.topicPartition] = nil
            defer { state.partitions[ticket.topicPartition] = partition }
            if let doneUpTo = partition.offsets.finish(ticket.offset) {
                store(ticket.topicPartition, doneUpTo)
            }
        }
    }

    /// Gives up on a record without finishing it: the partition's progress stops before it.
    func abandon(_ ticket: Ticket) {
        state.withLock { state in
            guard state.partitions[ticket.topicPartition]?.generation == ticket.generation else { return }
            state.partitions[ticket.topicPartition]?.offsets.abandon(ticket.offset)
        }
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
    }

    /// Records started and not finished in the partitions.
    func inFlight(_ topicPartitions: [KafkaTopicPartition]) -> Int {
        state.withLock { state in topicPartitions.reduce(0) { $0 + (state.partitions[$1]?.offsets.inFlight ?? 0) } }
    }

    /// "Done up to" of every owned partition (`nil` before anything was started in it).
    var progress: [KafkaTopicPartition: Int64?] {
        state.withLock { $0.partitions.mapValues(\.offsets.doneUpTo) }
    }

    /// Forgets the partitions; tickets of them finish nothing any more.
    func remove(_ topicPartitions: [KafkaTopicPartition]) {
        state.withLock { state in
            for topicPartition in topicPartitions { state.partitions[topicPartition] = nil }
        }
    }
}
