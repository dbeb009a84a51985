/// The offsets of one partition that were started and are not all finished, and how far the
/// partition is done: the highest contiguous finished offset + 1, the value to store.
///
/// Offsets are started in increasing order (as Kafka hands them out, possibly with gaps) and may
/// finish in any order. Pure state, no locking.
public struct PartitionOffsets: Sendable {
    private enum Status: UInt8 { case started, finished, abandoned }

    private var entries: [(offset: Int64, status: Status)] = []
    private var head = 0
    private var lastStarted: Int64?

    public init() {}

    /// Offsets started and neither finished nor abandoned.
    public private(set) var inFlight = 0

    /// Everything below this offset is finished (`nil` before anything was started).
    public var doneUpTo: Int64? {
        if head < entries.count { return entries[head].offset }
        return lastStarted.map { $0 + 1 }
    }

    /// The offsets above ``doneUpTo`` that are finished, as ranges. Offsets between two finished
    /// records that were never started belong to the range: Kafka handed out nothing there.
    public var finishedAboveDone: [ClosedRange<Int64>] {
        var ranges: [ClosedRange<Int64>] = []
        var open: ClosedRange<Int64>?
        for index in head..<entries.count {
            let entry = entries[index]
            if entry.status == .finished {
                open = open.map { $0.lowerBound...entry.offset } ?? entry.offset...entry.offset
            } else if let range = open {
                ranges.append(range)
                open = nil
            }
        }
        if let open { ranges.append(open) }
        return ranges
    }

    /// Records an offset as started. Offsets must increase.
    /// - Returns: `false` (and records nothing) for an offset not above the last one started.
    @discardableResult
    public mutating func start(_ offset: Int64) -> Bool {
        if let lastStarted, offset <= lastStarted { return false }
        entries.append((offset, .started))
        lastStarted = offset
        inFlight += 1
        return true
    }

    /// Records an offset as finished.
    /// - Returns: the new ``doneUpTo`` when it moved, else `nil`.
    public mutating func finish(_ offset: Int64) -> Int64? {
        guard let index = indexOf(offset), entries[index].status == .started else { return nil }
        entries[index].status = .finished
        inFlight -= 1
        guard index == head else { return nil }
        while head < entries.count && entries[head].status == .finished { head += 1 }
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4_096 && head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
        return doneUpTo
    }

    /// Gives up on a started offset: it no longer counts as in flight, and ``doneUpTo`` never
    /// passes it (the record is left for the partition's next owner).
    public mutating func abandon(_ offset: Int64) {
        guard let index = indexOf(offset), entries[index].status == .started else { return }
        entries[index].status = .abandoned
        inFlight -= 1
    }

    private func indexOf(_ offset: Int64) -> Int? {
        var low = head
        var high = entries.count - 1
        while low <= high {
            let middle = (low + high) / 2
            let value = entries[middle].offset
            if value == offset { return middle }
            if value < offset { low = middle + 1 } else { high = middle - 1 }
        }
        return nil
    }
}
