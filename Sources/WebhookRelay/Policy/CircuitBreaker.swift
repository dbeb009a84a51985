/// The circuit of one endpoint, as in the nSelf package with its half-open flaw fixed:
///
/// - Closed → Open after ``Configuration/failureThreshold`` consecutive failed attempts.
/// - Open → Half-open after ``Configuration/openDuration``.
/// - Half-open admits exactly **one** probe at a time; ``Configuration/successesToClose``
///   consecutive successful probes close it, a failed probe opens it again.
///
/// Pure state over a monotonic time in milliseconds; the owner of the endpoint's partition keeps
/// one per endpoint in memory.
public struct CircuitBreaker: Sendable, Hashable {
    /// Thresholds, global or per endpoint.
    public struct Configuration: Sendable, Hashable {
        /// Consecutive failed attempts that open the circuit.
        public var failureThreshold: Int = 5
        /// How long the circuit stays open before probing.
        public var openDuration: Duration = .seconds(600)
        /// Consecutive successful probes that close it again.
        public var successesToClose: Int = 2

        public init(failureThreshold: Int = 5, openDuration: Duration = .seconds(600), successesToClose: Int = 2) {
            self.failureThreshold = failureThreshold
            self.openDuration = openDuration
            self.successesToClose = successesToClose
        }
    }

    /// The circuit's state.
    public enum State: Sendable, Hashable {
        /// Deliveries flow; the count of consecutive failed attempts.
        case closed(consecutiveFailures: Int)
        /// No deliveries until the given time (monotonic milliseconds).
        case open(until: Int64)
        /// One probe at a time; successful probes so far, and whether one is in flight.
        case halfOpen(successes: Int, probeInFlight: Bool)

        /// `closed`, `open` or `half_open`, for logs and metrics.
        public var name: String {
            switch self {
            case .closed: "closed"
            case .open: "open"
            case .halfOpen: "half_open"
            }
        }
    }

    /// What the circuit says about an attempt now.
    public enum Admission: Sendable, Hashable {
        /// Attempt it.
        case attempt
        /// Attempt it as the half-open probe; report the result with `probe: true`.
        case probe
        /// Do not attempt; the circuit may admit again after this long.
        case wait(Duration)
    }

    public let configuration: Configuration
    public private(set) var state: State = .closed(consecutiveFailures: 0)

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Asks to attempt a delivery at `now` (monotonic milliseconds).
    public mutating func admit(now: Int64) -> Admission {
        switch state {
        case .closed:
            return .attempt
        case .open(let until):
            guard now >= until else { return .wait(.milliseconds(until - now)) }
            state = .halfOpen(successes: 0, probeInFlight: true)
            return .probe
        case .halfOpen(let successes, let probeInFlight):
            // The probe's outcome decides within its timeout; ask again shortly.
            guard !probeInFlight else { return .wait(.seconds(1)) }
            state = .halfOpen(successes: successes, probeInFlight: true)
            return .probe
        }
    }

    /// Reports the result of an admitted attempt.
    public mutating func record(success: Bool, probe: Bool, now: Int64) {
        switch state {
        case .closed(let failures):
            guard !probe else { return }
            if success {
                state = .closed(consecutiveFailures: 0)
            } else if failures + 1 >= configuration.failureThreshold {
                open(now: now)
            } else {
                state = .closed(consecutiveFailures: failures + 1)
            }
        case .open:
            // Attempts admitted before the circuit opened end while it is open: nothing changes.
            break
        case .halfOpen(let successes, _):
            guard probe else { return }
            if !success {
                open(now: now)
            } else if successes + 1 >= configuration.successesToClose {
                state = .closed(consecutiveFailures: 0)
            } else {
                state = .halfOpen(successes: successes + 1, probeInFlight: false)
            }
        }
    }

    /// A probe that was admitted but never attempted (its record was revoked): let another go.
    public mutating func cancelProbe() {
        if case .halfOpen(let successes, true) = state {
            state = .halfOpen(successes: successes, probeInFlight: false)
        }
    }

    private mutating func open(now: Int64) {
        state = .open(until: now + configuration.openDuration.wholeMilliseconds)
    }

    /// The nSelf health score: open 0, half-open 30, closed `max(10, 100 − 10 × consecutive failures)`.
    public var healthScore: Int {
        switch state {
        case .open: 0
        case .halfOpen: 30
        case .closed(let failures): max(10, 100 - 10 * failures)
        }
    }
}
