import Kafka
import Synchronization

/// One fan-out consumer's partitions, and whether a transaction is being written: partitions
/// leave only between transactions (the rebalance handler waits), and a transaction writes only
/// records of partitions still assigned, with the group membership of that moment.
final class FanOutGate: Sendable {
    private struct State {
        var assigned: Set<KafkaTopicPartition> = []
        var busy = false
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Starts a transaction: the partitions assigned now and the group membership (`nil` when
    /// the consumer is not a member). Call ``leave()`` when it committed or aborted.
    func enter(_ consumer: KafkaConsumer) -> (assigned: Set<KafkaTopicPartition>, membership: KafkaGroupMetadata?) {
        state.withLock { state in
            state.busy = true
            return (state.assigned, consumer.groupMetadata())
        }
    }

    /// Ends a transaction: a waiting revocation goes on.
    func leave() {
        let waiters = state.withLock { state in
            state.busy = false
            defer { state.idleWaiters = [] }
            return state.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The consumer's rebalance handler: assigned partitions join; revoked or lost ones leave
    /// once no transaction is being written.
    func rebalance(_ event: KafkaRebalanceEvent) async {
        switch event {
        case .assigned(let partitions):
            state.withLock { $0.assigned.formUnion(partitions) }
        case .revoking(let partitions), .lost(let partitions):
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let idle = state.withLock { state -> Bool in
                    state.assigned.subtract(partitions)
                    if state.busy { state.idleWaiters.append(continuation) }
                    return !state.busy
                }
                if idle { continuation.resume() }
            }
        }
    }
}
