import Testing
@testable import WebhookRelay

/// The relay's own latency, per window, with a hand-set clock.
struct RelayLatencyTests {
    @Test func theMetricsShowTheLastCompleteWindowOnly() {
        let second: UInt64 = 1_000_000_000, microsecond: UInt64 = 1_000
        let start: UInt64 = 5 * second
        let latency = RelayLatency(window: .seconds(10), now: start)
        // 1,000 records in the first window: 1 … 1,000 µs to written, twice that to answered.
        for index in 1...1_000 {
            let handedOver = start + second
            latency.record(
                handedOver: handedOver, written: handedOver + UInt64(index) * microsecond, answered: handedOver + UInt64(2 * index) * microsecond
            )
        }
        #expect(latency.lastWindow(now: start + 9 * second).isEmpty, "no window is complete yet")
        let first = latency.lastWindow(now: start + 10 * second)
        let written = first[.written]
        #expect(written?.count == 1_000)
        #expect(written.map { near($0.p50, 500) } == true)
        #expect(written.map { near($0.p99, 990) } == true)
        #expect(written?.max == .microseconds(1_000))
        #expect(first[.answered].map { near($0.p99, 1_980) } == true)
        // The next window measures one slow record; the one after it, nothing.
        latency.record(handedOver: start + 12 * second, written: 0, answered: start + 12 * second + 40_000 * microsecond)
        let next = latency.lastWindow(now: start + 20 * second)
        #expect(next[.answered]?.count == 1 && next[.answered].map { near($0.max, 40_000) } == true)
        #expect(next[.written]?.count == 0, "the slow record's write time was unknown")
        #expect(latency.lastWindow(now: start + 31 * second)[.answered] == RelayLatency.Summary.none)
    }

    /// Within 0.1 % (at least 2 µs) of `microseconds`: HdrHistogram keeps three significant digits.
    private func near(_ value: Duration, _ microseconds: Int64) -> Bool {
        let tolerance = max(2, microseconds / 1_000)
        return value >= .microseconds(microseconds - tolerance) && value <= .microseconds(microseconds + tolerance)
    }
}
