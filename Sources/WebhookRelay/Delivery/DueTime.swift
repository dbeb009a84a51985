/// When a record read from a delay topic is due: its `relay-due-at`, but never later than the
/// topic's delay (with the most jitter) from now. The relay never writes a later due time, and a
/// forged or corrupt one would otherwise hold the partition paused until then.
struct DueTime: Sendable, Hashable {
    /// Epoch milliseconds.
    var at: Int64
    /// The record asked for a later time, which was cut to the topic's bound.
    var wasBounded: Bool

    /// The due time of a record asking for `requested` on a delay topic of `tier`.
    init(requested: Int64, tier: Duration, jitter: Double, now: Int64) {
        let latest = now + Int64((Double(tier.wholeMilliseconds) * (1 + jitter)).rounded(.up))
        at = min(requested, latest)
        wasBounded = requested > latest
    }
}
