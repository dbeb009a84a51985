import Kafka
import Synchronization

/// The HTTP attempts on the wire, by partition, so that the relay can cut short those of
/// partitions it lets go (after the drain allowed them time to finish).
final class InFlightAttempts: Sendable {
    private struct State {
        var attempts: [KafkaTopicPartition: [ObjectIdentifier: AttemptCancellation]] = [:]
    }

    private let state = Mutex(State())

    /// Registers an attempt of a record of `topicPartition`; returns its cancellation.
    func begin(_ topicPartition: KafkaTopicPartition) -> AttemptCancellation {
        let cancellation = AttemptCancellation()
        state.withLock { $0.attempts[topicPartition, default: [:]][ObjectIdentifier(cancellation)] = cancellation }
        return cancellation
    }

    /// The attempt is over.
    func end(_ topicPartition: KafkaTopicPartition, _ cancellation: AttemptCancellation) {
        state.withLock { state in
            state.attempts[topicPartition]?[ObjectIdentifier(cancellation)] = nil
            if state.attempts[topicPartition]?.isEmpty == true { state.attempts[topicPartition] = nil }
        }
    }

    /// Attempts on the wire now.
    var count: Int { state.withLock { $0.attempts.values.reduce(0) { $0 + $1.count } } }

    /// Cuts short every attempt of the partitions; returns how many there were.
    @discardableResult
    func cutShort(_ topicPartitions: [KafkaTopicPartition]) -> Int {
        let cancellations = state.withLock { state in
            topicPartitions.flatMap { state.attempts[$0].map { Array($0.values) } ?? [] }
        }
        for cancellation in cancellations { cancellation.cancel() }
        return cancellations.count
    }
}
