import Dispatch
import Histogram
import Synchronization

/// The relay's own latency, apart from the broker's and the endpoint's: from librdkafka handing a
/// record over to its attempt's request written (``Stage/written``) and to that attempt's
/// response read (``Stage/answered``).
///
/// Measured for first attempts of records from the deliveries topic that did not wait for their
/// endpoint (rate limit, in-flight cap, circuit) — what is left is the relay's own work and
/// queueing, plus the receiver's answer for `answered`. Kept in HdrHistograms (microseconds,
/// three significant digits) per ``window``; the metrics show the last complete window
/// (``lastWindow(now:)``), so a percentile is never diluted by hours of history.
public final class RelayLatency: Sendable {
    /// The point a record's latency is measured to.
    public enum Stage: String, CaseIterable, Sendable {
        /// The attempt's request was written to the connection.
        case written
        /// The attempt's response was read whole.
        case answered
    }

    /// The percentiles of one stage over one window.
    public struct Summary: Sendable, Equatable {
        /// Records measured.
        public var count: UInt64
        public var p50: Duration
        public var p90: Duration
        public var p99: Duration
        public var p999: Duration
        public var max: Duration

        /// Nothing measured.
        public static let none = Summary(count: 0, p50: .zero, p90: .zero, p99: .zero, p999: .zero, max: .zero)
    }

    private struct State {
        var written = RelayLatency.histogram()
        var answered = RelayLatency.histogram()
        /// Monotonic nanoseconds.
        var windowStart: UInt64
        var last: [Stage: Summary] = [:]
    }

    /// How long one window lasts.
    public let window: Duration
    private let windowNanoseconds: UInt64
    private let state: Mutex<State>
    /// The largest latency told apart (larger ones count as this): one minute.
    static let highestMicroseconds: UInt64 = 60_000_000

    /// - Parameter now: monotonic nanoseconds (`DispatchTime.now().uptimeNanoseconds`), the
    ///   clock of every time given to this type.
    public init(window: Duration = .seconds(10), now: UInt64 = DispatchTime.now().uptimeNanoseconds) {
        self.window = window
        windowNanoseconds = UInt64(max(1, window.components.seconds * 1_000_000_000 + window.components.attoseconds / 1_000_000_000))
        state = Mutex(State(windowStart: now))
    }

    private static func histogram() -> Histogram<UInt64> {
        Histogram(lowestDiscernibleValue: 1, highestTrackableValue: highestMicroseconds, numberOfSignificantValueDigits: .three)
    }

    /// Notes one record's latencies (monotonic nanoseconds; `written` 0 when unknown); `answered`
    /// is also the time now.
    func record(handedOver: UInt64, written: UInt64, answered: UInt64) {
        let toAnswered = Self.microseconds(from: handedOver, to: answered)
        let toWritten = written == 0 ? nil : Self.microseconds(from: handedOver, to: written)
        state.withLock { state in
            rotate(&state, now: answered)
            if let toWritten { state.written.record(toWritten) }
            state.answered.record(toAnswered)
        }
    }

    /// The summaries of the last complete window: empty before one completed, counts of 0 when
    /// nothing was measured in it.
    public func lastWindow(now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> [Stage: Summary] {
        state.withLock { state in
            rotate(&state, now: now)
            return state.last
        }
    }

    private func rotate(_ state: inout State, now: UInt64) {
        guard now >= state.windowStart, now - state.windowStart >= windowNanoseconds else { return }
        let windows = (now - state.windowStart) / windowNanoseconds
        // More than one window passed: the last complete one saw nothing.
        let empty = windows > 1
        state.last = [
            .written: empty ? .none : Self.summary(state.written),
            .answered: empty ? .none : Self.summary(state.answered),
        ]
        state.written.reset()
        state.answered.reset()
        state.windowStart += windowNanoseconds * windows
    }

    private static func summary(_ histogram: Histogram<UInt64>) -> Summary {
        guard histogram.totalCount > 0 else { return .none }
        func at(_ percentile: Double) -> Duration { .microseconds(histogram.valueAtPercentile(percentile)) }
        return Summary(count: histogram.totalCount, p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: .microseconds(histogram.max))
    }

    private static func microseconds(from start: UInt64, to end: UInt64) -> UInt64 {
        guard end > start else { return 1 }
        return min(max((end - start) / 1_000, 1), highestMicroseconds)
    }
}
