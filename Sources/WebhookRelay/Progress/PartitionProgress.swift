import Foundation

/// How far a partition of a consumed topic is done, as its owner records it on the progress topic
/// for the next owner: every offset below ``next`` is finished, and so is every offset in
/// ``finished`` (ranges above ``next``, finished out of order).
///
/// Every entry is a set of facts — "these records are finished" (delivered, forwarded to a delay
/// topic or dead-lettered, the broker having acknowledged it) — that no later event can make
/// false. So entries from any writers, read in any order, combine by union (``merge(_:)``): a late
/// write from an owner that lost the partition, or a stale entry, can only tell the next owner
/// less, never skip a record that is not finished.
public struct PartitionProgress: Sendable, Hashable {
    /// Every offset below this one is finished.
    public private(set) var next: Int64
    /// Finished offsets at or above ``next``: sorted, disjoint, not adjacent, all above `next`.
    public private(set) var finished: [ClosedRange<Int64>]

    /// The most ranges an entry keeps (the lowest ones): a bound on the record's size. Leaving
    /// some out is safe, it only repeats work.
    public static let maxRanges = 2_048

    /// Creates an entry; the ranges are normalized (sorted, joined, those below `next` folded in).
    public init(next: Int64, finished: [ClosedRange<Int64>] = []) {
        self.next = max(0, next)
        self.finished = []
        add(finished)
    }

    /// Whether the record at `offset` is known to be finished.
    public func contains(_ offset: Int64) -> Bool {
        if offset < next { return true }
        var low = 0
        var high = finished.count - 1
        while low <= high {
            let middle = (low + high) / 2
            let range = finished[middle]
            if range.contains(offset) { return true }
            if offset < range.lowerBound { high = middle - 1 } else { low = middle + 1 }
        }
        return false
    }

    /// The union of both entries' facts.
    public func merged(with other: PartitionProgress) -> PartitionProgress {
        var result = PartitionProgress(next: max(next, other.next), finished: finished)
        result.add(other.finished)
        if other.next > next { result.add([next...(other.next - 1)]) }
        return result
    }

    /// Whether this entry tells nothing that `other` does not.
    public func isCovered(by other: PartitionProgress) -> Bool {
        other.merged(with: self) == other
    }

    private mutating func add(_ ranges: [ClosedRange<Int64>]) {
        guard !ranges.isEmpty else { return }
        var all = (finished + ranges).filter { $0.upperBound >= next }.sorted { $0.lowerBound < $1.lowerBound }
        var joined: [ClosedRange<Int64>] = []
        joined.reserveCapacity(all.count)
        for range in all {
            let lower = max(range.lowerBound, next)
            if let last = joined.last, lower <= last.upperBound &+ 1 {
                joined[joined.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                joined.append(lower...range.upperBound)
            }
        }
        // A range that starts at `next` moves `next` past it.
        if let first = joined.first, first.lowerBound == next {
            next = first.upperBound + 1
            joined.removeFirst()
        }
        all = joined
        finished = Array(all.prefix(Self.maxRanges))
    }
}

extension PartitionProgress {
    /// The largest offset an entry may name: far beyond any real partition, and room to add one.
    static let maxOffset: Int64 = 1 << 62

    /// The record value on the progress topic: `{"next":N,"finished":[[from,to],…]}` (UTF-8 JSON,
    /// readable with any Kafka tool).
    public var encoded: [UInt8] {
        var text = "{\"next\":\(next),\"finished\":["
        for (index, range) in finished.enumerated() {
            if index > 0 { text += "," }
            text += "[\(range.lowerBound),\(range.upperBound)]"
        }
        text += "]}"
        return Array(text.utf8)
    }

    /// Reads a record value; `nil` when it is not a valid entry (it is then ignored: an entry only
    /// ever saves work).
    public init?(encoded bytes: [UInt8]) {
        struct Wire: Decodable {
            let next: Int64
            let finished: [[Int64]]
        }
        guard bytes.count <= 64 + Self.maxRanges * 48,
              let wire = try? JSONDecoder().decode(Wire.self, from: Data(bytes)),
              wire.finished.count <= Self.maxRanges, Self.isOffset(wire.next)
        else { return nil }
        var ranges: [ClosedRange<Int64>] = []
        ranges.reserveCapacity(wire.finished.count)
        for pair in wire.finished {
            guard pair.count == 2, Self.isOffset(pair[0]), Self.isOffset(pair[1]), pair[0] <= pair[1] else { return nil }
            ranges.append(pair[0]...pair[1])
        }
        self.init(next: wire.next, finished: ranges)
    }

    private static func isOffset(_ value: Int64) -> Bool { value >= 0 && value <= maxOffset }
}
