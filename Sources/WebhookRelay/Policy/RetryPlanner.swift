/// Where a record waits before its next attempt: which delay topic, and when it is due.
struct RetryPlanner: Sendable {
    let topics: RelayTopics
    let jitter: Double

    /// A wait on a delay topic.
    struct Wait: Sendable, Hashable {
        /// The delay topic's delay.
        var tier: Duration
        /// How long from now the record is due.
        var wait: Duration
    }

    /// The wait after failed attempt number `attempts`, or `nil` when the schedule is exhausted.
    /// `retryAfter` (from a 429 or 503) makes the wait at least that long, capped at the longest
    /// delay topic.
    func afterFailure(attempts: Int, retryAfter: Duration?, random: Double = Double.random(in: -1...1)) -> Wait? {
        guard let delay = topics.schedule.delay(afterAttempts: attempts) else { return nil }
        let jittered = Duration.milliseconds(Int64((Double(delay.wholeMilliseconds) * (1 + jitter * random)).rounded()))
        guard let retryAfter, retryAfter > jittered else { return Wait(tier: delay, wait: jittered) }
        return fitting(retryAfter)
    }

    /// The delay topic for a wait that uses no attempt (circuit open, endpoint busy): the shortest
    /// delay topic not shorter than the wait, so the record blocks nothing behind it; waits longer
    /// than the longest delay topic are cut to it.
    func fitting(_ wait: Duration) -> Wait? {
        let tiers = topics.schedule.tiers
        guard let longest = tiers.last else { return nil }
        if let tier = tiers.first(where: { $0 >= wait }) { return Wait(tier: tier, wait: max(wait, .zero)) }
        return Wait(tier: longest, wait: longest)
    }
}
