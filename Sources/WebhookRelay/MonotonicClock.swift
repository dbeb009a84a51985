import Foundation

/// Time for in-memory policies (circuit, rate limit): milliseconds on a monotonic clock, which
/// never jumps when the wall clock is set.
enum MonotonicClock {
    private static let origin = ContinuousClock.now

    static var milliseconds: Int64 { (ContinuousClock.now - origin).wholeMilliseconds }
}

/// Wall-clock time in epoch milliseconds (due times are wall-clock: they travel between replicas).
enum WallClock {
    static var nowMilliseconds: Int64 { Int64((Date().timeIntervalSince1970 * 1_000).rounded(.down)) }
}
