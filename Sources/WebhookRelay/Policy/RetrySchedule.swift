/// When failed attempts are retried: the delay before each retry, in order.
///
/// The default is the nSelf package's: 1s, 5s, 30s, 5m, 30m, 2h, 8h, 24h — 8 retries after the
/// first attempt, 9 HTTP attempts in about 34.6 hours. Each distinct delay has a delay topic.
public struct RetrySchedule: Sendable, Hashable, CustomStringConvertible {
    /// The delay before retry 1, 2, ….
    public let delays: [Duration]

    /// The nSelf schedule.
    public static let standard = RetrySchedule(uncheckedDelays: [
        .seconds(1), .seconds(5), .seconds(30), .seconds(300), .seconds(1_800), .seconds(7_200),
        .seconds(28_800), .seconds(86_400),
    ])

    private init(uncheckedDelays: [Duration]) {
        delays = uncheckedDelays
    }

    /// A schedule with the given delays (may be empty: no retries).
    /// - Throws: ``ConfigurationError`` for a delay shorter than 1 ms.
    public init(delays: [Duration]) throws(ConfigurationError) {
        for delay in delays where delay < .milliseconds(1) {
            throw ConfigurationError("retry schedule: every delay must be at least 1ms, got \(DurationText.format(delay))")
        }
        self.delays = delays
    }

    /// Parses `1s,5s,30s,5m` (comma-separated durations); `none` means no retries.
    public init(parsing text: String) throws(ConfigurationError) {
        let trimmed = text.trimmedSpaces
        if trimmed == "none" {
            self.init(uncheckedDelays: [])
            return
        }
        var delays: [Duration] = []
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            guard let delay = DurationText.parse(String(part)) else {
                throw ConfigurationError(
                    "retry schedule: '\(part)' is not a duration (use e.g. 1s,5s,30s,5m,30m,2h,8h,24h)"
                )
            }
            delays.append(delay)
        }
        try self.init(delays: delays)
    }

    /// HTTP attempts a delivery gets at most: the first plus one per delay.
    public var maxAttempts: Int { delays.count + 1 }

    /// The delay before the next attempt after `attemptsMade` failed attempts, or `nil` when the
    /// schedule is exhausted.
    public func delay(afterAttempts attemptsMade: Int) -> Duration? {
        guard attemptsMade >= 1, attemptsMade <= delays.count else { return nil }
        return delays[attemptsMade - 1]
    }

    /// The distinct delays, shortest first: one delay topic each.
    public var tiers: [Duration] { Array(Set(delays)).sorted() }

    public var description: String { delays.map(DurationText.format).joined(separator: ",") }
}
