import Testing
@testable import WebhookRelay

/// The relay's own latency, per window, with a hand-set clock.
struct RelayLatencyTests {
    @Test func theMetricsShowTheLastCompleteWindowOnly() {
        let start = ContinuousClock.now
        let latency = RelayLatency(window: .seconds(10), now: start)
        // 1,000 records in the first window: 1 … 1,000 µs to written, twice that to answered.
        for index in 1...1_000 {
            let handedOver = start + .seconds(1)
            latency.record(
                handedOver: handedOver, written: handedOver + .microseconds(index), answered: handedOver + .microseconds(2 * index)
            )
        }
        #expect(latency.lastWindow(now: start + .seconds(9)).isEmpty, "no window is complete yet")
        let first = latency.lastWindow(now: start + .seconds(10))
        let written = try? #require(first[.written])
        #expect(written?.count == 1_000)
        #expect(written.map { near($0.p50, 500) } == true)
        #expect(written.map { near($0.p99, 990) } == true)
        #expect(written?.max == .microseconds(1_000))
        #expect(first[.answered].map { near($0.p99, 1_980) } == true)
        // The next window measures one slow record; the one after it, nothing.
        latency.record(handedOver: start + .seconds(12), written: nil, answered: start + .seconds(12) + .milliseconds(40))
        let second = latency.lastWindow(now: start + .seconds(20))
        #expect(second[.answered]?.count == 1 && second[.answered].map { near($0.max, 40_000) } == true)
        #expect(second[.written]?.count == 0, "the slow record's write time was unknown")
        #expect(latency.lastWindow(now: start + .seconds(31))[.answered] == RelayLatency.Summary.none)
    }

    /// Within 0.1 % (at least 2 µs) of `microseconds`: HdrHistogram keeps three significant digits.
    private func near(_ value: Duration, _ microseconds: Int64) -> Bool {
        let tolerance = max(2, microseconds / 1_000)
        return value >= .microseconds(microseconds - tolerance) && value <= .microseconds(microseconds + tolerance)
    }
}
