import DequeModule
import Kafka
import Synchronization

/// What the replica that owns an endpoint's partition keeps about it in memory: its
/// ``EndpointAdmission`` (circuit, rate limit, slots, waiting) and the records it parked, behind
/// one lock. The decisions are the admission's; this type carries them out on records.
///
/// A parked record costs its memory, not a task: the runtime keeps the record itself, and each
/// freed slot hands the longest-parked one back with the slot reserved for it.
///
/// An ordered endpoint's runtime keeps its turn and queue when the endpoint's settings change
/// (``update(_:)``): retiring it would send its parked records to look the endpoint up again all
/// at once, out of order. When more of its records wait than it keeps, it pauses the partition
/// they come from, and resumes it when half are gone.
final class EndpointRuntime: Sendable {
    /// What ``enter(_:now:)`` did with a record.
    enum Entry: ~Copyable, Sendable {
        /// Decided: the record comes back with the decision (feed it to its machine). Parked
        /// records to resume come with it when this one goes elsewhere.
        case decided(RecordFlight, EndpointAdmission.Decision, resumed: ParkedRecords)
        /// Parked: the runtime keeps it until a slot is reserved for it.
        case parked
        /// Not parked, because its partition is being let go: parking it now could leave it parked
        /// after the parked records were handed back (``resumeAll()``), for good.
        case partitionGoing(RecordFlight)
        /// Not used: this runtime was retired (its endpoint was changed, deleted or reloaded) after
        /// the record was given it — the record looks its endpoint up again.
        case retired(RecordFlight)
    }

    private struct State: ~Copyable {
        var admission: EndpointAdmission
        /// The endpoint as last given (an ordered endpoint's runtime outlives changes to it).
        var endpoint: SharedEndpoint
        var parked = UniqueDeque<RecordFlight>()
        /// Replaced: records that come to it (back from a rate-limit wait, or given it just before
        /// the change) are turned away, so none is attempted with the old settings.
        var retired = false
        /// The partition an ordered endpoint paused because too many of its records waited.
        var paused: KafkaTopicPartition?
    }

    /// Deliveries go one at a time in order (fixed for the runtime's life: turning `ordered` on or
    /// off replaces the runtime).
    let ordered: Bool
    private let state: Mutex<State>

    init(endpoint: SharedEndpoint) {
        ordered = endpoint.policy.ordered
        state = Mutex(State(admission: EndpointAdmission(policy: endpoint.policy, limits: endpoint.endpoint.limits), endpoint: endpoint))
    }

    /// Decides about a record that its machine sent to ``DeliveryAction/enter(reserved:waited:)``;
    /// parks it under the same lock when that is the decision.
    /// - Parameters:
    ///   - now: monotonic milliseconds; `wall`: wall-clock epoch milliseconds (how long an ordered
    ///     endpoint's record has been held back).
    ///   - pause: pauses a partition's fetching; called under this runtime's lock, so that the
    ///     resume that follows when the queue drains (``ParkedRecords/resume``) comes after it.
    func enter(
        _ flight: consuming RecordFlight, now: Int64, wall: Int64, reserved: Bool, waited: Bool, pause: (KafkaTopicPartition) -> Void
    ) -> Entry {
        var carried: RecordFlight? = consume flight
        return state.withLock { state -> Entry in
            guard var flight = carried.take() else { return .parked }
            if state.retired { return .retired(flight) }
            let mayHold = !ordered || flight.machine.mayHold(now: wall)
            let (decision, resumption) = state.admission.enter(now: now, reserved: reserved, waited: waited, mayHold: mayHold)
            guard case .park = decision else {
                if ordered, case .attempt = decision { flight.machine.endpointUpdated(state.endpoint) }
                return .decided(flight, decision, resumed: Self.take(resumption, from: &state))
            }
            // Under this lock, so that a partition being let go either finds the record here
            // (resumeAll) or the record finds the partition going.
            guard flight.ticket.isCurrent else {
                state.admission.cancelPark()
                return .partitionGoing(flight)
            }
            flight.machine.parked()
            // Records of a delay topic pause their partition by their due time, not here.
            if state.admission.overflowing && flight.machine.tier == nil {
                pause(flight.topicPartition)
                state.paused = flight.topicPartition
            }
            state.parked.append(flight)
            return .parked
        }
    }

    /// An ordered endpoint's new settings (the registry): later attempts use them, and the turn,
    /// the queue and the attempt in flight stay. `false` when the runtime must be replaced
    /// instead: it is not ordered, the new settings are not, it is retired, or a `410` disabled it
    /// (a new runtime enables it again).
    func update(_ endpoint: SharedEndpoint) -> Bool {
        state.withLock { state in
            guard ordered, endpoint.policy.ordered, !state.retired, state.admission.disabledReason == nil else { return false }
            state.endpoint = endpoint
            state.admission.reconfigure(endpoint.policy)
            return true
        }
    }

    /// A change of the circuit worth telling the operator.
    enum CircuitChange: Sendable, Equatable {
        /// Closed → open: failures reached the threshold.
        case opened
        /// Open or half-open → closed: probes succeeded.
        case recovered

        init?(from before: CircuitBreaker.State, to after: CircuitBreaker.State) {
            switch (before, after) {
            case (.closed, .open): self = .opened
            case (.open, .closed), (.halfOpen, .closed): self = .recovered
            default: return nil
            }
        }
    }

    /// What a report hands back.
    struct Reported: ~Copyable, Sendable {
        /// Parked records to resume.
        var resumed: ParkedRecords
        /// This result disabled the endpoint (a `410`, or failing for `auto_disable_after`).
        var disabled: EndpointAdmission.Disabling?
        /// This result opened the circuit (it was closed) or closed it again (a probe succeeded).
        var circuit: CircuitChange? = nil

        /// The parked records to resume.
        consuming func resumedRecords() -> ParkedRecords { resumed }
    }

    /// Reports an admitted attempt's result or that it was not made.
    func report(_ admission: EndpointAdmission.Admission, _ report: DeliveryAction.AttemptReport, now: Int64) -> Reported {
        state.withLock { state in
            switch report {
            case .result(let success, let status, let error, let at, let goneReason, let keepsTurn):
                let result = EndpointAdmission.Result(
                    success: success, status: status, now: now, goneReason: goneReason, error: error, at: at, keepsTurn: keepsTurn
                )
                let before = state.admission.circuit.state
                let (resumption, disabled) = state.admission.leave(admission, result)
                let change = CircuitChange(from: before, to: state.admission.circuit.state)
                return Reported(resumed: Self.take(resumption, from: &state), disabled: disabled, circuit: change)
            case .notMade:
                return Reported(resumed: Self.take(state.admission.cancel(admission, now: now), from: &state), disabled: nil)
            }
        }
    }

    /// Continues a run of failures another replica saw (``EndpointAdmission/seed(failingSince:)``).
    func seed(failingSince since: Int64) {
        state.withLock { $0.admission.seed(failingSince: since) }
    }

    /// Disables the endpoint on this replica; returns the parked records, which must go elsewhere.
    func disable(reason: String) -> ParkedRecords {
        state.withLock { state in Self.take(state.admission.disable(reason: reason), from: &state) }
    }

    /// Every parked record (its partition is being let go): each decides again.
    func resumeAll() -> ParkedRecords {
        state.withLock { state in Self.take(.all, from: &state) }
    }

    /// Retires the runtime (its endpoint was replaced): every parked record, to look its endpoint
    /// up again; records that come later are turned away (``Entry/retired(_:)``). Attempts under
    /// way still report here.
    func retire() -> ParkedRecords {
        state.withLock { state in
            state.retired = true
            return Self.take(.all, from: &state)
        }
    }

    private static func take(_ resumption: EndpointAdmission.Resumption, from state: inout State) -> ParkedRecords {
        var taken = ParkedRecords()
        let count = switch resumption {
        case .first(let count): min(count, state.parked.count)
        case .all: state.parked.count
        }
        if count > 0 {
            for _ in 0..<count {
                guard let flight = state.parked.popFirst() else { break }
                taken.records.append(flight)
            }
            state.admission.resumed(taken.records.count)
        }
        if let paused = state.paused, state.admission.drained {
            state.paused = nil
            taken.resume.append(paused)
        }
        return taken
    }

    /// What the endpoint looks like now, for metrics and the admin view.
    var snapshot: Snapshot {
        state.withLock { state in
            let admission = state.admission
            return Snapshot(
                circuit: admission.circuit.state, healthScore: admission.circuit.healthScore, inFlight: admission.inFlight,
                waiting: admission.waiting, lastStatus: admission.lastStatus, lastError: admission.lastError,
                lastSuccessAt: admission.lastSuccessAt, lastFailureAt: admission.lastFailureAt,
                disabledReason: admission.disabledReason, failingSince: admission.failingSince
            )
        }
    }

    /// A snapshot for metrics and the admin view.
    struct Snapshot: Sendable, Hashable {
        var circuit: CircuitBreaker.State
        var healthScore: Int
        var inFlight: Int
        var waiting: Int
        var lastStatus: Int?
        /// The last failed attempt's error text, and when the last attempt succeeded and failed
        /// (wall-clock epoch milliseconds).
        var lastError: String?
        var lastSuccessAt: Int64?
        var lastFailureAt: Int64?
        var disabledReason: String?
        /// The first failure after the last success (wall-clock epoch milliseconds), while failing.
        var failingSince: Int64? = nil
    }
}

/// Parked records an endpoint hands back, longest parked first, each to enter again.
struct ParkedRecords: ~Copyable, Sendable {
    var records = UniqueDeque<RecordFlight>()
    /// Partitions an ordered endpoint paused that may be fetched again (its queue drained).
    var resume: [KafkaTopicPartition] = []

    var isEmpty: Bool { records.isEmpty }

    /// The next one to resume.
    mutating func next() -> RecordFlight? { records.popFirst() }
}
