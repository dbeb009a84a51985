import Metrics
import Synchronization

/// The relay's metrics through swift-metrics (exported by swift-prometheus at `/metrics`).
///
/// Families (Prometheus names):
/// - `webhook_relay_deliveries_total{endpoint, outcome}`: outcome `delivered`, `retried`,
///   `dead_lettered`, `postponed`, `skipped`, `failed_attempt`, `cut_short` (an attempt the relay
///   ended because it let the partition go; not the endpoint's failure).
/// - `webhook_relay_already_done_total{topic}`: records skipped after a hand-over because their
///   previous owner had finished them (the progress topic).
/// - `webhook_relay_failed_attempts_total{endpoint, kind}`: failed attempts by ``AttemptOutcome/kind``
///   (`4xx`, `5xx`, `timeout`, `connect_failed`, `tls_failed`, `refused_address`, …).
/// - `webhook_relay_attempt_duration_seconds{endpoint}`: histogram of HTTP attempts.
/// - `webhook_relay_attempts_in_flight`: HTTP attempts in progress.
/// - `webhook_relay_retries_total{tier}`: records sent to each delay topic.
/// - `webhook_relay_dead_letters_total{reason}`.
/// - `webhook_relay_endpoint_health_score{endpoint}` and `webhook_relay_circuit_state{endpoint}`
///   (0 closed, 1 half-open, 2 open), for endpoints this replica owns.
/// - `webhook_relay_rate_limit_waits_total{endpoint}`: deliveries that waited for or were postponed
///   by their endpoint's rate limit or in-flight cap.
/// - `webhook_relay_consumer_lag{topic, partition}`: records behind the partition's end.
/// - `webhook_relay_producer_queue_depth`: records waiting for the broker's acknowledgement.
/// - `webhook_relay_internal_latency_seconds{stage, quantile}` and
///   `webhook_relay_internal_latency_records{stage}`: the relay's own latency, from librdkafka
///   handing a record over to its request written (`stage="written"`) and its response read
///   (`"answered"`), quantiles 0.5 … 0.999 and 1 (the maximum) over the last complete 10-second
///   window, and how many records it measured (``RelayLatency``).
///
/// Cardinality stays bounded: the `endpoint` label names at most ``maxEndpointLabels`` endpoints
/// (the first seen); the rest share the value `other`. `tier`, `reason` and `outcome` are bounded
/// sets (`kind` too); `partition` is bounded by the topics' partition counts.
public final class RelayMetrics: Sendable {
    /// Endpoints named in labels at most.
    public let maxEndpointLabels: Int
    private let factory: any MetricsFactory
    private let named = Mutex<Set<String>>([])
    /// Metric handles made once per label set: the delivery path looks one up instead of asking
    /// the factory (which locks its registry) for every record.
    private let counters = Mutex<[String: Counter]>([:])
    private let timers = Mutex<[String: Timer]>([:])
    /// The handles of the families labelled by endpoint, by the endpoint's id as given (one hash
    /// of the id per look-up; the label and the key string are worked out once, on a miss).
    /// Emptied when it reaches ``maxCachedHandles`` (endpoints come and go over a long run).
    private let byEndpoint = Mutex<[EndpointKey: Counter]>([:])
    private let timersByEndpoint = Mutex<[String: Timer]>([:])

    static let maxCachedHandles = 100_000

    /// Caches a handle, emptying the cache first when it is full.
    private static func remember<Key: Hashable & Sendable, Handle: Sendable>(_ handle: Handle, for key: Key, in handles: borrowing Mutex<[Key: Handle]>) {
        handles.withLock { handles in
            if handles.count >= maxCachedHandles { handles.removeAll() }
            handles[key] = handle
        }
    }

    private struct EndpointKey: Hashable {
        enum Family: UInt8 { case deliveries, failedAttempts, rateLimitWaits }
        let family: Family
        let endpointID: String
        /// The second label's value (`outcome`, `kind`), or empty.
        let detail: String
    }

    /// Creates the metrics on `factory` (the global one by default).
    public init(factory: any MetricsFactory = MetricsSystem.factory, maxEndpointLabels: Int = 100) {
        self.factory = factory
        self.maxEndpointLabels = maxEndpointLabels
    }

    /// The label value for an endpoint: its id, or `other` past the limit.
    func label(_ endpointID: String) -> String {
        named.withLock { named in
            if named.contains(endpointID) { return endpointID }
            guard named.count < maxEndpointLabels else { return "other" }
            named.insert(endpointID)
            return endpointID
        }
    }

    private func counter(_ name: String, _ dimensions: [(String, String)]) -> Counter {
        let key = ([name] + dimensions.map { "\($0.0)=\($0.1)" }).joined(separator: "|")
        return counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: name, dimensions: dimensions, factory: factory)
            counters[key] = counter
            return counter
        }
    }

    /// The counter of a family labelled by endpoint (and by `detail`, a second label).
    private func counter(_ family: EndpointKey.Family, _ endpointID: String, detail: (name: String, value: String)? = nil) -> Counter {
        let key = EndpointKey(family: family, endpointID: endpointID, detail: detail?.value ?? "")
        if let counter = byEndpoint.withLock({ $0[key] }) { return counter }
        let name = switch family {
        case .deliveries: "webhook_relay_deliveries_total"
        case .failedAttempts: "webhook_relay_failed_attempts_total"
        case .rateLimitWaits: "webhook_relay_rate_limit_waits_total"
        }
        // Through the label-keyed handles: endpoints past the label limit share `other`'s.
        let counter = counter(name, [("endpoint", label(endpointID))] + (detail.map { [($0.name, $0.value)] } ?? []))
        Self.remember(counter, for: key, in: byEndpoint)
        return counter
    }

    func delivery(_ endpointID: String, _ outcome: DeliveryStatistics.Outcome) {
        counter(.deliveries, endpointID, detail: ("outcome", outcome.rawValue)).increment()
    }

    func failedAttempt(_ endpointID: String, kind: String) {
        counter(.failedAttempts, endpointID, detail: ("kind", kind)).increment()
    }

    func attemptDuration(_ endpointID: String, _ duration: Duration) {
        let timer = timersByEndpoint.withLock { $0[endpointID] } ?? {
            let endpoint = label(endpointID)
            let timer = timers.withLock { timers in
                if let timer = timers[endpoint] { return timer }
                let timer = Timer(label: "webhook_relay_attempt_duration_seconds", dimensions: [("endpoint", endpoint)], factory: factory)
                timers[endpoint] = timer
                return timer
            }
            Self.remember(timer, for: endpointID, in: timersByEndpoint)
            return timer
        }()
        timer.recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }

    func attemptsInFlight(_ count: Int) {
        Gauge(label: "webhook_relay_attempts_in_flight", factory: factory).record(count)
    }

    func alreadyDone(topic: String) {
        counter("webhook_relay_already_done_total", [("topic", topic)]).increment()
    }

    func retry(tier: String) {
        counter("webhook_relay_retries_total", [("tier", tier)]).increment()
    }

    /// What became of an event of the events topic: `delivered` (with its deliveries),
    /// `no_subscriber`, `dead_lettered`.
    func fanOut(_ outcome: FanOutOutcome, deliveries: Int) {
        counter("webhook_relay_events_total", [("outcome", outcome.rawValue)]).increment()
        if deliveries > 0 { counter("webhook_relay_fanout_deliveries_total", []).increment(by: Int64(deliveries)) }
    }

    /// An operational event written (or dropped: its queue was full).
    func operationalEvent(_ kind: OperationalEvent.Kind, dropped: Bool) {
        counter("webhook_relay_operational_events_total", [("type", kind.rawValue), ("outcome", dropped ? "dropped" : "written")]).increment()
    }

    /// A fan-out transaction committed or aborted.
    func fanOutTransaction(committed: Bool) {
        counter("webhook_relay_fanout_transactions_total", [("outcome", committed ? "committed" : "aborted")]).increment()
    }

    /// Outcomes of ``fanOut(_:deliveries:)``.
    enum FanOutOutcome: String {
        case delivered
        case noSubscriber = "no_subscriber"
        case deadLettered = "dead_lettered"
    }

    func deadLetter(reason: DeadLetterReason) {
        counter("webhook_relay_dead_letters_total", [("reason", reason.rawValue)]).increment()
    }

    /// An attempt that found no file descriptor for its connection (it waits and tries again).
    func localShortage() {
        counter("webhook_relay_descriptor_shortages_total", []).increment()
    }

    /// A record that could be written nowhere, not even as a dead letter without its body.
    func droppedRecord() {
        counter("webhook_relay_dropped_records_total", []).increment()
    }

    func rateLimitWait(_ endpointID: String) {
        counter(.rateLimitWaits, endpointID).increment()
    }

    func endpoint(_ endpointID: String, healthScore: Int, circuit: CircuitBreaker.State) {
        let dimensions = [("endpoint", label(endpointID))]
        Gauge(label: "webhook_relay_endpoint_health_score", dimensions: dimensions, factory: factory).record(healthScore)
        let state = switch circuit {
        case .closed: 0
        case .halfOpen: 1
        case .open: 2
        }
        Gauge(label: "webhook_relay_circuit_state", dimensions: dimensions, factory: factory).record(state)
    }

    func consumerLag(topic: String, partition: Int32, lag: Int64) {
        Gauge(label: "webhook_relay_consumer_lag", dimensions: [("topic", topic), ("partition", String(partition))], factory: factory)
            .record(lag)
    }

    /// The relay's own latency over its last complete window (``RelayLatency``).
    func internalLatency(_ summaries: [RelayLatency.Stage: RelayLatency.Summary]) {
        for (stage, summary) in summaries {
            let quantiles: [(String, Duration)] = [
                ("0.5", summary.p50), ("0.9", summary.p90), ("0.99", summary.p99), ("0.999", summary.p999), ("1", summary.max),
            ]
            for (quantile, value) in quantiles {
                Gauge(label: "webhook_relay_internal_latency_seconds", dimensions: [("stage", stage.rawValue), ("quantile", quantile)], factory: factory)
                    .record(Double(value.components.seconds) + Double(value.components.attoseconds) / 1e18)
            }
            Gauge(label: "webhook_relay_internal_latency_records", dimensions: [("stage", stage.rawValue)], factory: factory)
                .record(Int64(clamping: summary.count))
        }
    }

    func producerQueueDepth(_ depth: Int) {
        Gauge(label: "webhook_relay_producer_queue_depth", factory: factory).record(depth)
    }
}
