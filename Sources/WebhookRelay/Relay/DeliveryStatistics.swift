import Synchronization

/// Counts of what happened to deliveries, per endpoint, since the relay started.
public final class DeliveryStatistics: Sendable {
    /// The counts of one endpoint.
    public struct Counts: Sendable, Hashable {
        /// Deliveries that got a 2xx.
        public var delivered = 0
        /// HTTP attempts that failed.
        public var failedAttempts = 0
        /// Deliveries forwarded to a delay topic.
        public var retried = 0
        /// Deliveries sent to the dead-letter topic.
        public var deadLettered = 0
        /// Records whose event the endpoint does not subscribe to.
        public var skipped = 0
        /// Deliveries sent to a delay topic without an attempt (circuit open, endpoint busy).
        public var postponed = 0
        /// Records read from a delay topic and waiting for their due time.
        public var waiting = 0
        /// Attempts the relay cut short when it let their partition go (not the endpoint's failures).
        public var cutShort = 0

        public init() {}
    }

    /// What became of a delivery (or of one attempt), as counted here and in the metrics.
    public enum Outcome: String, Sendable, CaseIterable {
        case delivered
        case failedAttempt = "failed_attempt"
        case retried
        case postponed
        case deadLettered = "dead_lettered"
        case skipped
        case cutShort = "cut_short"
    }

    private let counts = Mutex<[String: Counts]>([:])

    public init() {}

    /// Changes the counts of an endpoint (`""` collects records with no usable endpoint id).
    public func update(_ endpointID: String, _ change: (inout Counts) -> Void) {
        counts.withLock { counts in change(&counts[endpointID, default: Counts()]) }
    }

    /// Counts one outcome for an endpoint.
    public func count(_ outcome: Outcome, _ endpointID: String) {
        update(endpointID) { counts in
            switch outcome {
            case .delivered: counts.delivered += 1
            case .failedAttempt: counts.failedAttempts += 1
            case .retried: counts.retried += 1
            case .postponed: counts.postponed += 1
            case .deadLettered: counts.deadLettered += 1
            case .skipped: counts.skipped += 1
            case .cutShort: counts.cutShort += 1
            }
        }
    }

    /// A copy of all counts.
    public var snapshot: [String: Counts] { counts.withLock { $0 } }
}
