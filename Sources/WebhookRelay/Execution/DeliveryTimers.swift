import BasicContainers
import Kafka
import Synchronization

/// Records waiting for a time: delay-topic records not yet due, records waiting for their
/// endpoint's rate limit or for a file descriptor, postponements kept in memory.
///
/// A waiting record costs its memory, not a task: the timers keep the records themselves in
/// deadline order, and one task (``next()``'s caller) sleeps until the earliest is due or a
/// record with an earlier deadline arrives. When partitions are let go, ``release(_:)`` hands
/// their records back at once — waits end on events, never by polling.
final class DeliveryTimers: Sendable {
    private struct Entry: Sendable {
        var deadline: Int64
        /// Orders entries with the same deadline, and tells a slot's current entry from an old one.
        var sequence: UInt64
        var slot: Int
    }

    private struct State: ~Copyable {
        /// The waiting records, by slot; `nil` marks a free slot.
        var slots = UniqueArray<RecordFlight?>()
        /// The sequence of each slot's current record (0: free).
        var sequences: [UInt64] = []
        /// The partition of each slot's record.
        var partitions: [KafkaTopicPartition?] = []
        var free: [Int] = []
        /// A min-heap of entries by (deadline, sequence); entries of released slots are skipped.
        var heap: [Entry] = []
        var nextSequence: UInt64 = 0
        var count = 0
        var closed = false
    }

    /// What ``next()`` does next.
    private enum Step: ~Copyable {
        case due(RecordFlight)
        case sleep(until: Int64?)
        case closed
    }

    private let state = Mutex(State())
    private let changed = WakeSignal()
    private let clock: any RelayClock

    init(clock: any RelayClock) {
        self.clock = clock
    }

    /// Records waiting.
    var count: Int { state.withLock { $0.count } }

    /// Keeps the record until the monotonic time `deadline`, unless its partition is being let go:
    /// then it is handed back. (Checked under the lock ``release(_:)`` takes, so a record is
    /// either released with its partition or never kept.)
    func schedule(_ flight: consuming RecordFlight, at deadline: Int64) -> RecordFlight? {
        var carried: RecordFlight? = consume flight
        let earliest = state.withLock { state -> Bool in
            guard let flight = carried.take() else { return false }
            guard flight.ticket.isCurrent else {
                carried = consume flight
                return false
            }
            let slot: Int
            let topicPartition = flight.topicPartition
            if let reused = state.free.popLast() {
                slot = reused
                state.slots[slot] = .some(flight)
            } else {
                slot = state.slots.count
                state.slots.append(flight)
                state.sequences.append(0)
                state.partitions.append(nil)
            }
            state.partitions[slot] = topicPartition
            state.nextSequence &+= 1
            state.sequences[slot] = state.nextSequence
            state.count += 1
            let entry = Entry(deadline: deadline, sequence: state.nextSequence, slot: slot)
            Self.push(entry, into: &state.heap)
            return state.heap.first?.sequence == entry.sequence
        }
        // A new earliest deadline: the sleeping task must wake sooner.
        if earliest { changed.wakeAll() }
        return carried
    }

    /// The next record whose time has come, waiting for it; `nil` once ``close()`` was called.
    func next() async -> RecordFlight? {
        while true {
            let seen = changed.generation
            let now = clock.monotonicMilliseconds
            let step = state.withLock { state -> Step in
                if state.closed { return .closed }
                while let top = state.heap.first {
                    guard state.sequences[top.slot] == top.sequence else {
                        Self.popTop(&state.heap)
                        continue
                    }
                    guard top.deadline <= now else { return .sleep(until: top.deadline) }
                    Self.popTop(&state.heap)
                    guard let flight = Self.take(top.slot, from: &state) else { continue }
                    return .due(flight)
                }
                return .sleep(until: nil)
            }
            let clock = self.clock
            switch consume step {
            case .due(let flight):
                return flight
            case .closed:
                return nil
            case .sleep(let deadline?):
                await changed.wait(after: seen) { await clock.sleep(untilMonotonic: deadline) }
            case .sleep(nil):
                await changed.wait(after: seen) { try? await Task.sleep(for: .seconds(3_600)) }
            }
        }
    }

    /// Hands back every waiting record of the partitions (they are being let go).
    func release(_ topicPartitions: Set<KafkaTopicPartition>) -> ParkedRecords {
        state.withLock { state in
            var released = ParkedRecords()
            for slot in 0..<state.slots.count {
                guard let topicPartition = state.partitions[slot], topicPartitions.contains(topicPartition) else { continue }
                if let flight = Self.take(slot, from: &state) { released.records.append(flight) }
            }
            return released
        }
    }

    /// Ends ``next()``; records still waiting are abandoned by their tickets.
    func close() {
        state.withLock { $0.closed = true }
        changed.wakeAll()
    }

    private static func take(_ slot: Int, from state: inout State) -> RecordFlight? {
        guard let flight = state.slots[slot].take() else { return nil }
        state.sequences[slot] = 0
        state.partitions[slot] = nil
        state.free.append(slot)
        state.count -= 1
        return flight
    }

    private static func before(_ a: Entry, _ b: Entry) -> Bool {
        (a.deadline, a.sequence) < (b.deadline, b.sequence)
    }

    private static func push(_ entry: Entry, into heap: inout [Entry]) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private static func popTop(_ heap: inout [Entry]) {
        guard !heap.isEmpty else { return }
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count && before(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count && before(heap[right], heap[smallest]) { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
