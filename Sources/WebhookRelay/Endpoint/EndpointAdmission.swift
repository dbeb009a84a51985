/// The admission decisions of one endpoint, as a pure value: the circuit, the rate limit, the
/// in-flight cap, and how many deliveries may wait in memory for it. ``EndpointRuntime`` keeps
/// one behind a lock on the replica that owns the endpoint's partition, with the deliveries it
/// parked.
///
/// ``enter(now:reserved:waited:)`` decides about one delivery: attempt it now, park it until a
/// slot frees, let it wait for the rate limit, or send it elsewhere (circuit open, disabled, too
/// many waiting). The other events (an attempt's result, one that was not made, disabling) say
/// how many parked deliveries to resume; each resumed one holds a reserved slot.
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
        /// A `410 Gone` disabled the endpoint.
        case disabled(reason: String)
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
    private(set) var disabledReason: String?
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
    }

    /// Decides about one delivery.
    /// - Parameters:
    ///   - reserved: the delivery was parked and resumed: it holds a reserved slot.
    ///   - waited: the delivery waited for the rate limit (``Decision/rateLimited(_:)``) and is
    ///     counted among those waiting.
    /// - Returns: the decision, and the parked deliveries to resume (a delivery that goes
    ///   elsewhere hands the slot it could have taken to the next parked one).
    mutating func enter(now time: Int64, reserved holdsReservation: Bool = false, waited: Bool = false) -> (Decision, Resumption) {
        // A resumed delivery's reserved slot becomes an ordinary free slot it may take.
        if holdsReservation { reserved -= 1 }
        if waited { waiting -= 1 }
        func elsewhere(_ decision: Decision) -> (Decision, Resumption) { (decision, resumption()) }
        if let disabledReason { return elsewhere(.disabled(reason: disabledReason)) }
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

    /// Takes a slot (and the rate limit's place) for an attempt the circuit admitted.
    private mutating func admit(now time: Int64, waited: Bool) -> Admission {
        let probe = if case .halfOpen = circuit.state { true } else { false }
        let slot = rateLimit?.start()
        if inFlight == 0 { progressAt = time }
        inFlight += 1
        return Admission(probe: probe, rateSlot: slot, waited: waited, admittedAt: time)
    }

    /// Reports an attempt admitted by ``enter(now:reserved:waited:)``. A `410` disables the
    /// endpoint at once, so that no parked delivery is attempted after it.
    /// - Returns: which parked deliveries to resume, and whether this result disabled the endpoint.
    mutating func leave(_ admission: Admission, _ result: Result) -> (Resumption, disabled: Bool) {
        inFlight -= 1
        progressAt = result.now
        let took = Double(max(0, result.now - admission.admittedAt))
        attemptTime = attemptTime.map { $0 + (took - $0) / 8 } ?? took
        circuit.record(success: result.success, probe: admission.probe, now: result.now)
        if let slot = admission.rateSlot { rateLimit?.complete(slot: slot, now: result.now) }
        lastStatus = result.status
        if result.success {
            lastSuccessAt = result.at ?? lastSuccessAt
        } else {
            lastFailureAt = result.at ?? lastFailureAt
            lastError = result.error.map { String($0.prefix(256)) } ?? lastError
        }
        var disabledNow = false
        if result.status == 410 && disabledReason == nil {
            disabledReason = result.goneReason
            disabledNow = true
        }
        return (resumption(), disabledNow)
    }

    /// An admitted attempt that was not made, or was cut short by the relay: not a result, so
    /// the circuit and health stay as they were.
    mutating func cancel(_ admission: Admission, now: Int64) -> Resumption {
        inFlight -= 1
        if admission.probe { circuit.cancelProbe() }
        if let slot = admission.rateSlot { rateLimit?.complete(slot: slot, now: now) }
        return resumption()
    }

    /// Disables the endpoint, with the reason recorded for logs and dead letters.
    mutating func disable(reason: String) -> Resumption {
        disabledReason = reason
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
    private func resumption() -> Resumption {
        guard parked > 0 else { return .first(0) }
        guard disabledReason == nil, case .closed = circuit.state else { return .all }
        return .first(max(0, limits.maxInFlight - inFlight - reserved))
    }

    /// The endpoint's recent pace in milliseconds per attempt and slot: the slower of its average
    /// attempt time and the time since it last finished one (a stalled endpoint slows down by the
    /// second); `nil` before any attempt finished.
    private func pace(now: Int64) -> Double? {
        guard let attemptTime else { return nil }
        let sinceProgress = inFlight > 0 ? Double(now - progressAt) : 0
        return max(attemptTime, sinceProgress, 1)
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
    /// of every second), at least a second, at most a day.
    private func deferral(now: Int64) -> Decision {
        let ahead = Double(waiting + 1)
        let byRate = rateLimit.map { limit in
            ahead * Double(limit.rate.period.wholeMilliseconds) / Double(max(1, limit.rate.count))
        }
        let byPace = pace(now: now).map { ahead * $0 / Double(limits.maxInFlight) }
        let wait = min(max(byRate ?? 0, byPace ?? 0, 1_000), 86_400_000)
        return .deferred(.milliseconds(Int64(wait)))
    }
}
