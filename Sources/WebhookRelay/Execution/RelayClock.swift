/// Time for the delivery core, injected so that tests can hold it still or move it.
protocol RelayClock: Sendable {
    /// Wall-clock epoch milliseconds: due times and first-attempt times travel between replicas.
    var wallMilliseconds: Int64 { get }
    /// Monotonic milliseconds: in-memory policies (circuit, rate limit, pace) and timers.
    var monotonicMilliseconds: Int64 { get }
    /// Sleeps until the monotonic time, or until the task is cancelled.
    func sleep(untilMonotonic deadline: Int64) async
}

/// The machine's clocks.
struct SystemRelayClock: RelayClock {
    var wallMilliseconds: Int64 { WallClock.nowMilliseconds }
    var monotonicMilliseconds: Int64 { MonotonicClock.milliseconds }

    func sleep(untilMonotonic deadline: Int64) async {
        let remaining = deadline - MonotonicClock.milliseconds
        guard remaining > 0 else { return }
        try? await Task.sleep(for: .milliseconds(remaining))
    }
}
