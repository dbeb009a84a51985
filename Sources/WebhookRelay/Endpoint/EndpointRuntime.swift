import DequeModule
import Synchronization

/// What the replica that owns an endpoint's partition keeps about it in memory: its
/// ``EndpointAdmission`` (circuit, rate limit, slots, waiting) and the records it parked, behind
/// one lock. The decisions are the admission's; this type carries them out on records.
///
/// A parked record costs its memory, not a task: the runtime keeps the record itself, and each
/// freed slot hands the longest-parked one back with the slot reserved for it.
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
        var parked = UniqueDeque<RecordFlight>()
        /// Replaced: records that come to it (back from a rate-limit wait, or given it just before
        /// the change) are turned away, so none is attempted with the old settings.
        var retired = false
    }

    private let state: Mutex<State>

    init(policy: EndpointPolicy, limits: EndpointLimits) {
        state = Mutex(State(admission: EndpointAdmission(policy: policy, limits: limits)))
    }

    /// Decides about a record that its machine sent to ``DeliveryAction/enter(reserved:waited:)``;
    /// parks it under the same lock when that is the decision.
    func enter(_ flight: consuming RecordFlight, now: Int64, reserved: Bool, waited: Bool) -> Entry {
        var carried: RecordFlight? = consume flight
        return state.withLock { state -> Entry in
            guard var flight = carried.take() else { return .parked }
            if state.retired { return .retired(flight) }
            let (decision, resumption) = state.admission.enter(now: now, reserved: reserved, waited: waited)
            guard case .park = decision else {
                return .decided(flight, decision, resumed: Self.take(resumption, from: &state))
            }
            // Under this lock, so that a partition being let go either finds the record here
            // (resumeAll) or the record finds the partition going.
            guard flight.ticket.isCurrent else {
                state.admission.cancelPark()
                return .partitionGoing(flight)
            }
            flight.machine.parked()
            state.parked.append(flight)
            return .parked
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
        /// This result (a `410`) disabled the endpoint.
        var disabled: Bool
        /// This result opened the circuit (it was closed) or closed it again (a probe succeeded).
        var circuit: CircuitChange? = nil

        /// The parked records to resume.
        consuming func resumedRecords() -> ParkedRecords { resumed }
    }

    /// Reports an admitted attempt's result or that it was not made.
    func report(_ admission: EndpointAdmission.Admission, _ report: DeliveryAction.AttemptReport, now: Int64) -> Reported {
        state.withLock { state in
            switch report {
            case .result(let success, let status, let error, let at, let goneReason):
                let result = EndpointAdmission.Result(success: success, status: status, now: now, goneReason: goneReason, error: error, at: at)
                let before = state.admission.circuit.state
                let (resumption, disabled) = state.admission.leave(admission, result)
                let change = CircuitChange(from: before, to: state.admission.circuit.state)
                return Reported(resumed: Self.take(resumption, from: &state), disabled: disabled, circuit: change)
            case .notMade:
                return Reported(resumed: Self.take(state.admission.cancel(admission, now: now), from: &state), disabled: false)
            }
        }
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
        guard count > 0 else { return taken }
        for _ in 0..<count {
            guard let flight = state.parked.popFirst() else { break }
            taken.records.append(flight)
        }
        state.admission.resumed(taken.records.count)
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
                disabledReason: admission.disabledReason
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
    }
}

/// Parked records an endpoint hands back, longest parked first, each to enter again.
struct ParkedRecords: ~Copyable, Sendable {
    var records = UniqueDeque<RecordFlight>()

    var isEmpty: Bool { records.isEmpty }

    /// The next one to resume.
    mutating func next() -> RecordFlight? { records.popFirst() }
}
