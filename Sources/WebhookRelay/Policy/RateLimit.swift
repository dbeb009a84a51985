/// A per-endpoint request rate limit such as `50/s`: at most `count` requests reach the endpoint
/// in any window of one `period`.
///
/// A request may start only once the request `count` places before it has *completed* and a full
/// period has passed since. Arrivals at the receiver lie between a request's start and its
/// completion, so however the network delays them, no `count + 1` arrivals fit in one period. (A
/// token bucket that starts full and refills continuously lets up to twice `count` through in one
/// period.) Pure state over monotonic milliseconds.
public struct RateLimit: Sendable, Hashable {
    /// A rate such as `50/s` or `600/m`.
    public struct Rate: Sendable, Hashable, CustomStringConvertible {
        /// Requests per period.
        public var count: Int
        /// The period.
        public var period: Duration

        public init(count: Int, period: Duration) {
            self.count = count
            self.period = period
        }

        /// Parses `N/s`, `N/m`, `N/h` or `N/<duration>` such as `100/10s`.
        public init?(_ text: String) {
            let parts = text.trimmedSpaces.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let count = Int(parts[0]), count > 0, count <= 1_000_000 else { return nil }
            let unit = String(parts[1])
            let period: Duration?
            switch unit {
            case "s": period = .seconds(1)
            case "m": period = .seconds(60)
            case "h": period = .seconds(3_600)
            default: period = DurationText.parse(unit)
            }
            guard let period, period > .zero else { return nil }
            self.init(count: count, period: period)
        }

        public var description: String {
            switch period {
            case .seconds(1): "\(count)/s"
            case .seconds(60): "\(count)/m"
            case .seconds(3_600): "\(count)/h"
            default: "\(count)/\(DurationText.format(period))"
            }
        }
    }

    public let rate: Rate
    /// Completion times of the last `count` requests, oldest at `oldest`; `nil` while in flight.
    private var completions: [Int64?] = []
    private var oldest = 0

    public init(rate: Rate) {
        self.rate = rate
        completions.reserveCapacity(min(rate.count, 4_096))
    }

    /// How long until a request may start, or `nil` when one may start at `now`. While the request
    /// `count` places back is still in flight the answer is a short pause.
    public func wait(now: Int64) -> Duration? {
        guard completions.count == rate.count else { return nil }
        guard let completed = completions[oldest] else { return .milliseconds(20) }
        let readyAt = completed + rate.period.wholeMilliseconds
        return now >= readyAt ? nil : .milliseconds(readyAt - now)
    }

    /// Records a request started (after ``wait(now:)`` returned `nil`); returns its slot for
    /// ``complete(slot:now:)``.
    public mutating func start() -> Int {
        if completions.count < rate.count {
            completions.append(nil)
            return completions.count - 1
        }
        let slot = oldest
        completions[slot] = nil
        oldest = (oldest + 1) % rate.count
        return slot
    }

    /// Records that the request in `slot` completed (or was abandoned) at `now`.
    public mutating func complete(slot: Int, now: Int64) {
        guard completions.indices.contains(slot) else { return }
        completions[slot] = now
    }
}
