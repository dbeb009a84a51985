import CRdKafka
import Dispatch
import DequeModule
import Synchronization

/// Pauses and resumes the fetching of partitions on a thread of its own, in the order asked.
///
/// `rd_kafka_pause_partitions` and `rd_kafka_resume_partitions` are synchronous in librdkafka
/// 2.0.2: each waits, without a time limit, until librdkafka's main thread has served an operation
/// per partition. Called from the application's threads (which are NIO event loops and Swift's
/// cooperative pool in the relay), a busy main thread stalled them, and with them every
/// connection and task they serve. Requests are queued here in the order the consumer's state
/// changed (the caller enqueues under its own lock) and performed one after another, so the last
/// request for a partition is the one that holds.
final class RDKafkaFetchControl: Sendable {
    private struct State {
        var queue = Deque<ConsumerBuffer.FetchAction>()
        var stopped = false
    }

    private let client: RDKafkaClient
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(client: RDKafkaClient) {
        self.client = client
        RDKafkaThread.start(name: "kafka-fetch-control") { [self] in run() }
    }

    /// Queues a pause/resume request; returns at once.
    func submit(_ action: ConsumerBuffer.FetchAction) {
        guard !action.isEmpty else { return }
        let accepted = state.withLock { state -> Bool in
            guard !state.stopped else { return false }
            state.queue.append(action)
            return true
        }
        if accepted { wake.signal() }
    }

    /// Performs what is queued, then ends the thread; returns when it has ended. The handle must
    /// stay alive until then.
    func stop() {
        state.withLock { $0.stopped = true }
        wake.signal()
        finished.wait()
    }

    private func run() {
        let handle = client.handle
        while true {
            wake.wait()
            while let action = state.withLock({ $0.queue.popFirst() }) {
                if !action.pause.isEmpty {
                    _ = RDKafkaTopicPartitionList.with(action.pause.map { ($0, -1001) }) { rd_kafka_pause_partitions(handle, $0) }
                }
                if !action.resume.isEmpty {
                    _ = RDKafkaTopicPartitionList.with(action.resume.map { ($0, -1001) }) { rd_kafka_resume_partitions(handle, $0) }
                }
            }
            if state.withLock({ $0.stopped && $0.queue.isEmpty }) { break }
        }
        finished.signal()
    }
}
