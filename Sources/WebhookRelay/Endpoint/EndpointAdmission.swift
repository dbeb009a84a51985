import Foundation

/// The admission decisions of one endpoint, as a pure value: the circuit, the rate limit, the
/// in-flight cap, and how many deliveries may wait in memory for it. ``EndpointRuntime`` keeps
/// one behind a lock on the replica that owns the endpoint's partition, with the deliveries it
/// parked.
///
/// ``enter(now:reserved:waited:)`` decides about one delivery: attempt it now, park it until a
/// slot frees, let it wait for the rate limit, or send it elsewhere (circuit open, disabled, too
/// many waiting). The other events (an attempt's result, one that was not made, disabling) say
/// how many parked deliveries to resume; each resumed one holds a reserved slot.
///
/// An ordered endpoint (``EndpointLimits/ordered``) gives one delivery at a time *the turn*, in
/// the order they entered: the others park behind it, and the one with the turn keeps it while it
/// waits for the rate limit or an open circuit (``Decision/hold(_:)``) and while its failed
/// attempt waits to be made again (``leave(_:_:)`` with ``Result/keepsTurn``). Nothing is sent
/// to a delay topic; ``overflowing`` tells the owner to stop reading instead.
struct EndpointAdmission: Sendable {
    /// What to do with a delivery.
    enum Decision: Sendable, Equatable {
        /// Attempt it now; report the result with ``leave(_:_:)`` (or ``cancel(_:now:)``).
        case attempt(Admission)
        /// The endpoint is at its in-flight cap: park it; it is resumed with a reserved slot.
        case park
        /// The rate limit lets it start after this long: it waits, counted among those waiting,
        /// and enters again with `waited: true`.
        case rateLimited(Duration)
        /// The circuit is open: send it to a delay topic for this long, without using an attempt.
        case circuitOpen(Duration)
        /// Too many deliveries wait for this endpoint: send it to a delay topic for this long.
        case deferred(Duration)
        /// The endpoint is disabled on this replica: by a `410 Gone`, or by failing continuously
        /// for ``EndpointPolicy/autoDisableAfter``.
        case disabled(reason: String, cause: Disabling = .gone)
        /// An ordered endpoint's circuit is open: the delivery with the turn waits this long in
        /// memory, keeping the turn, and enters again with `waited: true`.
        case hold(Duration)
    }

    /// An admitted attempt.
    struct Admission: Sendable, Hashable {
        /// The attempt is the half-open circuit's probe.
        var probe: Bool
        /// The attempt's place in the rate limit.
        var rateSlot: Int?
        /// It waited for the in-flight cap or the rate limit first.
        var waited = false
        /// When it was admitted (monotonic milliseconds), for the endpoint's pace.
        var admittedAt: Int64 = 0
    }

    /// An endpoint's answer (or failure to answer), reported to ``leave(_:_:)``.
    struct Result: Sendable {
        var success: Bool
        var status: Int?
        /// Monotonic milliseconds.
        var now: Int64
        /// When a `410` disables the endpoint, the reason given for it (logs, dead letters).
        var goneReason: String = "410 Gone"
        /// The attempt's error text (failures), and its end, wall-clock epoch milliseconds.
        var error: String?
        var at: Int64?
        /// An ordered endpoint's failed attempt that is made again in place: the delivery keeps
        /// the turn (its slot becomes a reservation) and enters again with `reserved: true`.
        var keepsTurn = false
    }

    /// What disabled an endpoint on this replica.
    enum Disabling: Sendable, Equatable {
        /// It answered `410 Gone`.
        case gone
        /// Every attempt failed for ``EndpointPolicy/autoDisableAfter`` (the first failure after
        /// the last success, wall-clock epoch milliseconds).
        case failing(since: Int64)
    }

    /// Which parked deliveries to resume.
    enum Resumption: Sendable, Equatable {
        /// This many, longest parked first, each with a slot reserved.
        case first(Int)
        /// All of them (they must go elsewhere: disabled, circuit not closed).
        case all
    }

    /// The limits this endpoint's deliveries have in memory.
    let limits: EndpointLimits
    private(set) var circuit: CircuitBreaker
    private(set) var rateLimit: RateLimit?
    private(set) var inFlight = 0
    /// Deliveries waiting: parked, or waiting for the rate limit.
    private(set) var waiting = 0
    /// Deliveries parked (a part of ``waiting``).
    private(set) var parked = 0
    /// Slots held for resumed deliveries that have not entered again yet.
    private(set) var reserved = 0
    /// Disabled on this replica: the reason recorded for logs and dead letters, and the cause.
    private(set) var disabled: (reason: String, cause: Disabling)?
    var disabledReason: String? { disabled?.reason }
    /// The first failure after the last success (wall-clock epoch milliseconds); `nil` while
    /// attempts succeed. Seeded from the status another replica published (``seed(failingSince:)``).
    private(set) var failingSince: Int64?
    /// ``EndpointPolicy/autoDisableAfter`` in milliseconds.
    private let autoDisableAfter: Int64?
    private(set) var lastStatus: Int?
    /// The last failure's error text (at most 256 characters), and when the last attempts succeeded and
    /// failed (wall-clock epoch milliseconds), for the endpoint's status.
    private(set) var lastError: String?
    private(set) var lastSuccessAt: Int64?
    private(set) var lastFailureAt: Int64?
    /// Average time from admission to result of recent attempts (milliseconds), once known.
    private var attemptTime: Double?
    /// The last time an attempt finished, or the first one started after none was in flight.
    private var progressAt: Int64 = 0

    init(policy: EndpointPolicy, limits: EndpointLimits) {
        self.limits = limits
        circuit = CircuitBreaker(configuration: policy.circuit)
        rateLimit = policy.rateLimit.map(RateLimit.init)
        autoDisableAfter = policy.autoDisableAfter?.wholeMilliseconds
    }

    /// Continues a run of failures another replica saw (the endpoint's partition moved here).
    mutating func seed(failingSince since: Int64) {
        failingSince = min(failingSince ?? since, since)
    }

    /// Decides about one delivery.
    /// - Parameters:
    ///   - reserved: the delivery was parked and resumed: it holds a reserved slot.
    ///   - waited: the delivery waited for the rate limit (``Decision/rateLimited(_:)``) and is
    ///     counted among those waiting.
    /// - Returns: the decision, and the parked deliveries to resume (a delivery that goes
    ///   elsewhere hands the slot it could have taken to the next parked one).
    ///   - mayHold: an ordered endpoint's delivery may still be held by an open circuit (it has not
    ///     been held back longer than ``EndpointPolicy/circuitMaxAge``); if not, it is told
    ///     ``Decision/circuitOpen(_:)`` and the turn passes on.
    mutating func enter(now time: Int64, reserved holdsReservation: Bool = false, waited: Bool = false, mayHold: Bool = true) -> (Decision, Resumption) {
        // A resumed delivery's reserved slot becomes an ordinary free slot it may take.
        if holdsReservation { reserved -= 1 }
        if waited { waiting -= 1 }
        if limits.ordered { return enterInOrder(now: time, hasTurn: holdsReservation || waited, mayHold: mayHold) }
        func elsewhere(_ decision: Decision) -> (Decision, Resumption) { (decision, resumption()) }
        if let disabled { return elsewhere(.disabled(reason: disabled.reason, cause: disabled.cause)) }
        if case .open(let until) = circuit.state, time < until { return elsewhere(.circuitOpen(.milliseconds(until - time))) }
        if case .halfOpen(_, true) = circuit.state { return elsewhere(.circuitOpen(.seconds(1))) }
        let hasSlot = inFlight + reserved < limits.maxInFlight
        let rateWait = hasSlot ? rateLimit?.wait(now: time) : nil
        if hasSlot && rateWait == nil {
            switch circuit.admit(now: time) {
            case .wait(let wait): return elsewhere(.circuitOpen(wait))
            case .attempt, .probe: return (.attempt(admit(now: time, waited: waited || holdsReservation)), .first(0))
            }
        }
        let limit = waitingLimit(now: time)
        if !hasSlot {
            // At the cap: park it, unless the deliveries ahead would not be attempted soon.
            guard waiting < limit else { return elsewhere(deferral(now: time)) }
            waiting += 1
            parked += 1
            return (.park, .first(0))
        }
        // A slot is free but the rate limit says later. One that waited already keeps its place.
        if !waited {
            guard waiting < limit else { return elsewhere(deferral(now: time)) }
        }
        waiting += 1
        return (.rateLimited(rateWait ?? .milliseconds(1)), .first(0))
    }

    /// An ordered endpoint's decision: a delivery without the turn parks behind the one that has it
    /// (or behind those parked); the one with the turn is attempted, or held in memory by the
    /// rate limit or the circuit.
    private mutating func enterInOrder(now time: Int64, hasTurn: Bool, mayHold: Bool) -> (Decision, Resumption) {
        if let disabled { return (.disabled(reason: disabled.reason, cause: disabled.cause), resumption()) }
        if !hasTurn && inFlight + reserved + waiting > 0 {
            waiting += 1
            parked += 1
            return (.park, .first(0))
        }
        let circuitWait: Duration
        if case .open(let until) = circuit.state, time < until {
            circuitWait = .milliseconds(until - time)
        } else if case .halfOpen(_, true) = circuit.state {
            circuitWait = .seconds(1)
        } else if let rateWait = rateLimit?.wait(now: time) {
            waiting += 1
            return (.rateLimited(rateWait), .first(0))
        } else {
            switch circuit.admit(now: time) {
            case .wait(let wait): circuitWait = wait
            case .attempt, .probe: return (.attempt(admit(now: time, waited: hasTurn)), .first(0))
            }
        }
        // Held back too long: it goes (dead-lettered) and the next one takes the turn.
        guard mayHold else { return (.circuitOpen(circuitWait), resumption()) }
        waiting += 1
        return (.hold(circuitWait), .first(0))
    }

    /// An ordered endpoint has more deliveries waiting than it keeps (``EndpointLimits/orderedQueue``):
    /// the partition they come from should pause.
    var overflowing: Bool { limits.ordered && parked >= limits.maxWaiting }

    /// An ordered endpoint's queue is down to half again: a partition it paused may resume.
    var drained: Bool { parked <= limits.maxWaiting / 2 }

    /// Takes a slot (and the rate limit's place) for an attempt the circuit admitted.
    private mutating func admit(now time: Int64, waited: Bool) -> Admission {
        let probe = if case .halfOpen = circuit.state { true } else { false }
        let slot = rateLimit?.start()
        if inFlight == 0 { progressAt = time }
        inFlight += 1
        return Admission(probe: probe, rateSlot: slot, waited: waited, admittedAt: time)
    }

    /// Reports an attempt admitted by ``enter(now:reserved:waited:)``. A `410` disables the
    /// endpoint at once, so that no parked delivery is attempted after it, and so does a failure
    /// ``EndpointPolicy/autoDisableAfter`` or more after the first failure since the last success.
    /// - Returns: which parked deliveries to resume, and what disabled the endpoint, if this result did.
    mutating func leave(_ admission: Admission, _ result: Result) -> (Resumption, disabled: Disabling?) {
        inFlight -= 1
        if result.keepsTurn { reserved += 1 }
        progressAt = result.now
        let took = Double(max(0, result.now - admission.admittedAt))
        attemptTime = attemptTime.map { $0 + (took - $0) / 8 } ?? took
        circuit.record(success: result.success, probe: admission.probe, now: result.now)
        if let slot = admission.rateSlot { rateLimit?.complete(slot: slot, now: result.now) }
        lastStatus = result.status
        if result.success {
            lastSuccessAt = result.at ?? lastSuccessAt
            failingSince = nil
        } else {
            lastFailureAt = result.at ?? lastFailureAt
            lastError = result.error.map { String($0.prefix(256)) } ?? lastError
            if let at = result.at { failingSince = min(failingSince ?? at, at) }
        }
        guard disabled == nil, !result.success else { return (resumption(), nil) }
        if result.status == 410 {
            disabled = (result.goneReason, .gone)
        } else if let limit = autoDisableAfter, let since = failingSince, let at = result.at, at - since >= limit {
            let reason = "every attempt failed since \(Date(timeIntervalSince1970: Double(since) / 1_000)) (auto_disable_after \(DurationText.format(.milliseconds(limit))))"
            disabled = (reason, .failing(since: since))
        }
        return (resumption(), disabled?.cause)
    }

    /// An admitted attempt that was not made, or was cut short by the relay: not a result, so
    /// the circuit and health stay as they were.
    mutating func cancel(_ admission: Admission, now: Int64) -> Resumption {
        inFlight -= 1
        if admission.probe { circuit.cancelProbe() }
        if let slot = admission.rateSlot { rateLimit?.complete(slot: slot, now: now) }
        return resumption()
    }

    /// An ordered endpoint's settings changed (the registry) and its state is kept: the turn, the
    /// queue and the attempt in flight stay; a changed circuit configuration or rate limit starts
    /// afresh (a slot of the old rate limit completes harmlessly on the new one).
    mutating func reconfigure(_ policy: EndpointPolicy) {
        if circuit.configuration != policy.circuit { circuit = CircuitBreaker(configuration: policy.circuit) }
        if rateLimit?.rate != policy.rateLimit { rateLimit = policy.rateLimit.map(RateLimit.init) }
    }

    /// Disables the endpoint, with the reason recorded for logs and dead letters.
    mutating func disable(reason: String) -> Resumption {
        disabled = (reason, .gone)
        return resumption()
    }

    /// A park decided by ``enter(now:reserved:waited:)`` that was not carried out (the record's
    /// partition is being let go).
    mutating func cancelPark() {
        waiting -= 1
        parked -= 1
    }

    /// Notes that `count` parked deliveries were resumed: each holds a reserved slot now.
    mutating func resumed(_ count: Int) {
        waiting -= count
        parked -= count
        reserved += count
    }

    /// The parked deliveries to resume now. While the circuit is closed, one per free slot,
    /// longest parked first (waking every waiter for each freed slot cost a wake-up per waiter
    /// per attempt). When the endpoint was disabled or its circuit is not closed, all of them:
    /// they must go elsewhere, which one at a time would leave stuck.
    ///
    /// An ordered endpoint resumes the longest parked one only when no delivery has the turn
    /// (none in flight, reserved, held or waiting for the rate limit); all of them once disabled.
    private func resumption() -> Resumption {
        guard parked > 0 else { return .first(0) }
        if limits.ordered {
            if disabled != nil { return .all }
            return inFlight + reserved + (waiting - parked) == 0 ? .first(1) : .first(0)
        }
        guard disabled == nil, case .closed = circuit.state else { return .all }
        return .first(max(0, limits.maxInFlight - inFlight - reserved))
    }

    /// The endpoint's recent pace in milliseconds per attempt and slot: the slower of its average
    /// attempt time and the time since it last finished one (a stalled endpoint slows down by the
    /// second); `nil` before any attempt finished.
    private func pace(now: Int64) -> Double? {
        guard let attemptTime else { return nil }
        return max(attemptTime, busyWithoutProgress(now: now) ?? 0, 1)
    }

    /// Milliseconds since the endpoint last finished an attempt, or since it became busy;
    /// `nil` while nothing is in flight.
    private func busyWithoutProgress(now: Int64) -> Double? {
        inFlight > 0 ? Double(now - progressAt) : nil
    }

    /// How many deliveries may wait now: ``EndpointLimits/maxWaiting``, or more while the
    /// endpoint's pace would attempt them all within ``EndpointLimits/waitBudget`` — a fast
    /// endpoint with a backlog keeps it in memory instead of sending it around a delay topic.
    private func waitingLimit(now: Int64) -> Int {
        guard let pace = pace(now: now) else { return limits.maxWaiting }
        let drainable = Double(limits.maxInFlight) * EndpointLimits.waitBudget / pace
        return max(limits.maxWaiting, min(Int(min(drainable, Double(Int.max / 2))), limits.maxWaitingWhenFast))
    }

    /// Sends a delivery elsewhere for about as long as the deliveries ahead of it take: by the rate
    /// limit, or by the endpoint's pace (a stalled endpoint's deliveries come back seldom instead
    /// of every second), at least a second, at most a day. Before any attempt has finished, the
    /// time the endpoint has been busy stands for its pace: an endpoint that never answers ends
    /// its first attempts only at their timeout, and with the one-second floor its backlog came
    /// back every second to be sent away again (13,835 postponements of 6,000 records in the
    /// benchmark's isolation step, BENCHMARKS.md). Only here: parking limits still treat the pace
    /// as unknown, or a fresh endpoint would look fast.
    private func deferral(now: Int64) -> Decision {
        let ahead = Double(waiting + 1)
        let byRate = rateLimit.map { limit in
            ahead * Double(limit.rate.period.wholeMilliseconds) / Double(max(1, limit.rate.count))
        }
        let byPace = (pace(now: now) ?? busyWithoutProgress(now: now)).map { ahead * $0 / Double(limits.maxInFlight) }
        let wait = min(max(byRate ?? 0, byPace ?? 0, 1_000), 86_400_000)
        return .deferred(.milliseconds(Int64(wait)))
    }
}
