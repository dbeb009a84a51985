import Kafka
import Synchronization

/// The HTTP attempts on the wire, by partition, so that the relay can cut short those of
/// partitions it lets go (after the drain allowed them time to finish).
final class InFlightAttempts: Sendable {
    private struct State {
        /// One flat table: begin and end, once per attempt, hash an object identifier and never
        /// allocate (a table per partition was made and dropped whenever a partition's attempts
        /// went from none to one and back); ``cutShort(_:)``, rare, scans it.
        var attempts: [ObjectIdentifier: (topicPartition: KafkaTopicPartition, cancellation: AttemptCancellation)] = [:]
    }

    private let state = Mutex(State())

    /// Registers an attempt of a record of `topicPartition`; returns its cancellation.
    func begin(_ topicPartition: KafkaTopicPartition) -> AttemptCancellation {
        let cancellation = AttemptCancellation()
        state.withLock { $0.attempts[ObjectIdentifier(cancellation)] = (topicPartition, cancellation) }
        return cancellation
    }

    /// The attempt is over.
    func end(_ cancellation: AttemptCancellation) {
        _ = state.withLock { $0.attempts.removeValue(forKey: ObjectIdentifier(cancellation)) }
    }

    /// Attempts on the wire now.
    var count: Int { state.withLock { $0.attempts.count } }

    /// Cuts short every attempt on the wire (the attempt workers are being cancelled).
    func cutShortAll() {
        cutShort { _ in true }
    }

    /// Cuts short every attempt of the partitions; returns how many there were.
    @discardableResult
    func cutShort(_ topicPartitions: [KafkaTopicPartition]) -> Int {
        let partitions = Set(topicPartitions)
        return cutShort { partitions.contains($0) }
    }

    @discardableResult
    private func cutShort(where include: (KafkaTopicPartition) -> Bool) -> Int {
        let cancellations = state.withLock { state in
            state.attempts.values.filter { include($0.topicPartition) }.map(\.cancellation)
        }
        for cancellation in cancellations { cancellation.cancel() }
        return cancellations.count
    }
}
