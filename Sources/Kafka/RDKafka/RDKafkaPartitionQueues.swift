import CRdKafka
import Dispatch
import Synchronization

/// Each assigned partition's own librdkafka queue, in place of the one queue all partitions
/// forward their fetched records to by default, and what wakes the poll thread when any of them
/// (or the consumer's own queue: rebalances, errors) gets something.
///
/// Why: librdkafka 2.0.2 checks its prefetch limit (`queued.max.messages.kbytes`) against a
/// partition's queue, which by default *is* the shared one. One large fetch answer took the shared
/// queue over the limit, every partition became "not fetchable" at once, and nothing woke the
/// broker thread when the poll thread had emptied the queue again: fetching stood still for up to
/// a second (measured: a 54,000-record drain stood still for 450–500 ms in three runs of four;
/// BENCHMARKS.md, sixth cut). With a queue per partition the limit holds per partition, and one
/// partition over it holds up only itself. Deciding whether to fetch also took nine lock round
/// trips on the shared queue (contended with the poll thread) per partition, per pass of the
/// broker thread; now three, uncontended.
///
/// A queue is set up before its partition is first assigned (librdkafka keeps an application's
/// forwarding across fetch restarts, `RD_KAFKA_Q_F_FWD_APP`) and kept until the consumer closes.
/// Only the poll thread calls the methods that take queues; librdkafka's threads only call
/// ``Readiness/mark(_:)`` through the queues' event callbacks.
final class RDKafkaPartitionQueues: Sendable {
    /// Which queues got something since the poll thread last looked; wakes the poll thread.
    final class Readiness: Sendable {
        private struct State {
            var partitions: [Int] = []
            var flagged: [Bool] = []
            var consumer = false
            /// The poll thread waits on `wake` (a marker signals it once).
            var sleeping = false
        }

        /// The index that stands for the consumer's own queue.
        static let consumerQueue = -1
        private let state = Mutex(State())
        private let wake = DispatchSemaphore(value: 0)

        /// Notes that queue `index` (or ``consumerQueue``) has something, waking the poll thread.
        /// Called from librdkafka's threads with the queue's lock held: no librdkafka calls here.
        func mark(_ index: Int) {
            let signal = state.withLock { state -> Bool in
                if index == Self.consumerQueue {
                    state.consumer = true
                } else {
                    if index >= state.flagged.count {
                        state.flagged.append(contentsOf: repeatElement(false, count: index + 1 - state.flagged.count))
                    }
                    if !state.flagged[index] {
                        state.flagged[index] = true
                        state.partitions.append(index)
                    }
                }
                guard state.sleeping else { return false }
                state.sleeping = false
                return true
            }
            if signal { wake.signal() }
        }

        /// The queues marked since the last call, in the order they were marked, and whether the
        /// consumer's own queue was; waits up to `timeout` for one when none was. Marks are
        /// cleared before the caller reads the queues, so a record enqueued meanwhile marks again.
        func take(waitingUpTo timeout: DispatchTimeInterval) -> (partitions: [Int], consumer: Bool) {
            let sleep = state.withLock { state -> Bool in
                state.sleeping = state.partitions.isEmpty && !state.consumer
                return state.sleeping
            }
            if sleep, wake.wait(timeout: .now() + timeout) == .timedOut {
                let signalled = state.withLock { state -> Bool in
                    defer { state.sleeping = false }
                    return !state.sleeping
                }
                // A marker cleared `sleeping` after the wait timed out and signals: take that signal.
                if signalled { wake.wait() }
            }
            return state.withLock { state in
                let partitions = state.partitions
                state.partitions.removeAll(keepingCapacity: true)
                for index in partitions { state.flagged[index] = false }
                defer { state.consumer = false }
                return (partitions, state.consumer)
            }
        }
    }

    /// What librdkafka's event callback is given: the queue's index and where to mark it.
    private final class Slot: Sendable {
        let index: Int
        let readiness: Readiness

        init(index: Int, readiness: Readiness) {
            self.index = index
            self.readiness = readiness
        }
    }

    /// An `rd_kafka_queue_t`. `@unchecked Sendable`: librdkafka's queues are thread-safe; the
    /// pointer is only handed to librdkafka and destroyed once, in ``close()``.
    private struct Queue: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    private struct Entry: Sendable {
        let queue: Queue
        let slot: Slot
    }

    private struct State {
        var indexByPartition: [KafkaTopicPartition: Int] = [:]
        var entries: [Entry] = []
        var consumer: Entry?
        var closed = false
    }

    let readiness = Readiness()
    private let state = Mutex(State())

    /// librdkafka calls this when a queue that was empty gets an element.
    private static let event: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Void = { _, opaque in
        guard let opaque else { return }
        let slot = Unmanaged<Slot>.fromOpaque(opaque).takeUnretainedValue()
        slot.readiness.mark(slot.index)
    }

    /// Watches the consumer's own queue (rebalances, errors, and the records of any partition
    /// without a queue of its own).
    func watchConsumerQueue(handle: OpaquePointer) {
        guard let queue = rd_kafka_queue_get_consumer(handle) else { return }
        let slot = Slot(index: Readiness.consumerQueue, readiness: readiness)
        state.withLock { $0.consumer = Entry(queue: Queue(pointer: queue), slot: slot) }
        rd_kafka_queue_cb_event_enable(queue, Self.event, Unmanaged.passUnretained(slot).toOpaque())
    }

    /// Gives each partition that has none its own queue; call before the partitions are assigned.
    func attach(_ partitions: [KafkaTopicPartition], handle: OpaquePointer) {
        for topicPartition in partitions {
            let made = state.withLock { state -> Entry? in
                guard !state.closed, state.indexByPartition[topicPartition] == nil,
                    let queue = rd_kafka_queue_get_partition(handle, topicPartition.topic, topicPartition.partition)
                else { return nil }
                let entry = Entry(queue: Queue(pointer: queue), slot: Slot(index: state.entries.count, readiness: readiness))
                state.indexByPartition[topicPartition] = entry.slot.index
                state.entries.append(entry)
                return entry
            }
            guard let made else { continue }
            // No forwarding: fetched records stay in the partition's queue.
            rd_kafka_queue_forward(made.queue.pointer, nil)
            rd_kafka_queue_cb_event_enable(made.queue.pointer, Self.event, Unmanaged.passUnretained(made.slot).toOpaque())
            // Anything it held before is read on the next pass.
            readiness.mark(made.slot.index)
        }
    }

    /// The queue at `index` (``attach(_:handle:)`` order); `nil` once closed.
    func queue(at index: Int) -> OpaquePointer? {
        state.withLock { state in
            guard !state.closed, state.entries.indices.contains(index) else { return nil }
            return state.entries[index].queue.pointer
        }
    }

    /// Stops the callbacks and releases every queue; call after the consumer closed and before
    /// its handle is destroyed.
    func close() {
        let entries = state.withLock { state -> [Entry] in
            guard !state.closed else { return [] }
            state.closed = true
            // The slots live on in `consumer` and the returned entries until the callbacks stopped.
            defer {
                state.entries = []
                state.indexByPartition = [:]
            }
            return state.entries + (state.consumer.map { [$0] } ?? [])
        }
        for entry in entries {
            // Takes the queue's lock, so no callback is running once it returns.
            rd_kafka_queue_cb_event_enable(entry.queue.pointer, nil, nil)
            rd_kafka_queue_destroy(entry.queue.pointer)
        }
    }
}
