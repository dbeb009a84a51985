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
///
/// Each request has a ticket (1, 2, …, in submission order), and one thread at a time may wait
/// until a ticket's request has been performed (``waitUntilPerformed(_:)``).
final class RDKafkaFetchControl: Sendable {
    private struct State {
        var queue = Deque<(ticket: UInt64, action: ConsumerBuffer.FetchAction)>()
        var lastTicket: UInt64 = 0
        var performed: UInt64 = 0
        /// The ticket a thread waits for in ``waitUntilPerformed(_:)``.
        var awaited: UInt64?
        var stopped = false

        /// Records the ticket as performed; whether the waiting thread must be woken.
        mutating func markPerformed(_ ticket: UInt64) -> Bool {
            performed = ticket
            guard let awaited, awaited <= ticket else { return false }
            self.awaited = nil
            return true
        }
    }

    private let client: RDKafkaClient
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let performedSignal = DispatchSemaphore(value: 0)

    init(client: RDKafkaClient) {
        self.client = client
        RDKafkaThread.start(name: "kafka-fetch-control") { [self] in run() }
    }

    /// Queues a pause/resume request; returns at once, with the request's ticket (`nil` when
    /// there is nothing to do or the control has stopped).
    @discardableResult
    func submit(_ action: ConsumerBuffer.FetchAction) -> UInt64? {
        guard !action.isEmpty else { return nil }
        let ticket = state.withLock { state -> UInt64? in
            guard !state.stopped else { return nil }
            state.lastTicket += 1
            state.queue.append((state.lastTicket, action))
            return state.lastTicket
        }
        if ticket != nil { wake.signal() }
        return ticket
    }

    /// Requests queued and not yet begun.
    var pendingCount: Int { state.withLock { $0.queue.count } }

    /// Blocks until the request with the ticket (and every one before it) has been performed, or
    /// the control has stopped. One thread at a time.
    func waitUntilPerformed(_ ticket: UInt64) {
        let mustWait = state.withLock { state -> Bool in
            guard state.performed < ticket && !state.stopped else { return false }
            state.awaited = ticket
            return true
        }
        if mustWait { performedSignal.wait() }
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
            while let (ticket, action) = state.withLock({ $0.queue.popFirst() }) {
                if !action.pause.isEmpty {
                    _ = RDKafkaTopicPartitionList.with(action.pause.map { ($0, -1001) }) { rd_kafka_pause_partitions(handle, $0) }
                }
                if !action.resume.isEmpty {
                    _ = RDKafkaTopicPartitionList.with(action.resume.map { ($0, -1001) }) { rd_kafka_resume_partitions(handle, $0) }
                }
                if state.withLock({ $0.markPerformed(ticket) }) { performedSignal.signal() }
            }
            if state.withLock({ $0.stopped && $0.queue.isEmpty }) { break }
        }
        // Nothing more will be performed: a thread still waiting goes on.
        if state.withLock({ $0.markPerformed(.max) }) { performedSignal.signal() }
        finished.signal()
    }
}
