import DequeModule
import Synchronization

/// What the replica that owns an endpoint's partition keeps about it in memory: the circuit,
/// the rate limit, deliveries in flight and waiting, and whether a `410 Gone` disabled it.
///
/// ``enter(now:resumed:park:)`` decides whether a delivery may be attempted now. While the endpoint
/// is at its in-flight cap the delivery is *parked*: the runtime keeps a closure that resumes it,
/// and the task that brought it is free for other work — a parked delivery costs its record, not
/// a suspended task. Each freed slot resumes the longest-parked delivery, with the slot reserved
/// for it. Too many parked deliveries (by count and the endpoint's pace) defer the next ones to a
/// delay topic. ``leave(_:_:)`` reports the attempt's result.
final class EndpointRuntime: Sendable {
    /// What to do with a delivery.
    enum Decision: Sendable, Equatable {
        /// Attempt it now; report the result with ``leave(_:_:)`` (or ``cancel(_:)``).
        case attempt(Admission)
        /// The circuit is open: send it to a delay topic for this long, without using an attempt.
        case circuitOpen(Duration)
        /// Too many deliveries wait for this endpoint: send it to a delay topic for this long.
        case deferred(Duration)
        /// A `410 Gone` disabled the endpoint.
        case disabled(reason: String)
        /// The endpoint is at its in-flight cap: the delivery was parked and its `park` closure
        /// runs when a slot is reserved for it; then call ``enter(now:resumed:park:)`` again with
        /// `resumed: true`.
        case parked
    }

    /// An admitted attempt.
    struct Admission: Sendable, Equatable {
        /// The attempt is the half-open circuit's probe.
        var probe: Bool
        /// The attempt's place in the rate limit.
        var rateSlot: Int?
        /// It waited for the in-flight cap or the rate limit first.
        var waited = false
        /// When it was admitted (monotonic milliseconds), for the endpoint's pace.
        var admittedAt: Int64 = 0
    }

    /// The outcome of an attempt, reported to ``leave(_:_:)``.
    struct Outcome: Sendable {
        var success: Bool
        var status: Int?
        var now: Int64
    }

    /// A snapshot for metrics and the admin view.
    struct Snapshot: Sendable, Hashable {
        var circuit: CircuitBreaker.State
        var healthScore: Int
        var inFlight: Int
        var waiting: Int
        var lastStatus: Int?
        var lastErrorAt: Int64?
        var disabledReason: String?
    }

    private struct State {
        var circuit: CircuitBreaker
        var rateLimit: RateLimit?
        var inFlight = 0
        var waiting = 0
        /// Parked deliveries' resume closures, first come first served.
        var parked = Deque<@Sendable () -> Void>()
        /// Slots held for resumed deliveries that have not entered again yet.
        var reserved = 0
        var disabledReason: String?
        var lastStatus: Int?
        var lastErrorAt: Int64?
        /// Average time from admission to result of recent attempts (milliseconds), once known.
        var attemptTime: Double?
        /// The last time an attempt finished, or the first one started after none was in flight.
        var progressAt: Int64 = 0
    }

    let maxInFlight: Int
    /// Deliveries that always may wait in memory for a free slot (fewer with a rate limit).
    let maxWaiting: Int
    /// Deliveries that may wait while the endpoint is fast enough to take them within
    /// ``waitBudget``; beyond that (or beyond ``maxWaiting`` for an endpoint not known to be fast)
    /// they are deferred to a delay topic.
    let maxWaitingWhenFast: Int
    /// How long a delivery should wait in memory at most, by the endpoint's recent pace.
    static let waitBudget: Double = 1_000
    private let state: Mutex<State>

    init(policy: EndpointPolicy, maxInFlight: Int) {
        self.maxInFlight = maxInFlight
        let perTwoSeconds = policy.rateLimit.map { rate in
            Int(Double(rate.count) * 2_000 / Double(max(1, rate.period.wholeMilliseconds)))
        }
        maxWaiting = max(1, min(4 * maxInFlight, perTwoSeconds ?? Int.max))
        maxWaitingWhenFast = max(1, min(64 * maxInFlight, perTwoSeconds ?? Int.max))
        state = Mutex(State(circuit: CircuitBreaker(configuration: policy.circuit), rateLimit: policy.rateLimit.map(RateLimit.init)))
    }

    /// Decides about one delivery: attempt it, park it, or send it elsewhere. Waits (in this task)
    /// only for the rate limit.
    /// - Parameters:
    ///   - now: returns the current monotonic time in milliseconds.
    ///   - resumed: the delivery was parked and its `park` closure ran: it holds a reserved slot.
    ///   - park: makes the closure that resumes the delivery; evaluated only when it is parked, and
    ///     the closure it makes is called at most once, outside any lock.
    func enter(
        now: @Sendable () -> Int64, resumed: Bool = false, park: @autoclosure () -> @Sendable () -> Void
    ) async -> Decision {
        var isWaiting = false
        defer { if isWaiting { state.withLock { $0.waiting -= 1 } } }
        var holdsReservation = resumed
        while true {
            enum Step { case decided(Decision), sleep(Duration) }
            var resume: [@Sendable () -> Void] = []
            defer { for closure in resume { closure() } }
            let step: Step = state.withLock { state in
                let time = now()
                // A resumed delivery's reserved slot becomes an ordinary free slot it may take.
                if holdsReservation {
                    state.reserved -= 1
                    holdsReservation = false
                }
                // A delivery that does not take a free slot hands it to the next parked one.
                func elsewhere(_ decision: Decision) -> Step {
                    resume = Self.resumeParked(&state, maxInFlight: maxInFlight)
                    return .decided(decision)
                }
                if let reason = state.disabledReason { return elsewhere(.disabled(reason: reason)) }
                if case .open(let until) = state.circuit.state, time < until {
                    return elsewhere(.circuitOpen(.milliseconds(until - time)))
                }
                if case .halfOpen(_, true) = state.circuit.state {
                    return elsewhere(.circuitOpen(.seconds(1)))
                }
                let hasSlot = state.inFlight + state.reserved < maxInFlight
                let rateWait = hasSlot ? state.rateLimit?.wait(now: time) : nil
                if hasSlot && rateWait == nil {
                    switch state.circuit.admit(now: time) {
                    case .wait(let wait): return elsewhere(.circuitOpen(wait))
                    case .attempt, .probe:
                        return .decided(.attempt(Self.admit(&state, now: time, waited: isWaiting || resumed)))
                    }
                }
                let limit = waitingLimit(state, now: time)
                if !hasSlot {
                    // At the cap: park it, unless the deliveries ahead would not be attempted soon.
                    if isWaiting {
                        state.waiting -= 1
                        isWaiting = false
                    }
                    guard state.waiting < limit else { return elsewhere(deferral(state, now: time)) }
                    Self.park(&state, park())
                    return .decided(.parked)
                }
                if !isWaiting {
                    guard state.waiting < limit else { return elsewhere(deferral(state, now: time)) }
                    state.waiting += 1
                    isWaiting = true
                }
                return .sleep(rateWait ?? .milliseconds(1))
            }
            switch step {
            case .decided(let decision):
                return decision
            case .sleep(let duration):
                try? await Task.sleep(for: duration)
            }
            if Task.isCancelled { return .deferred(.seconds(1)) }
        }
    }

    /// The part of ``enter(now:resumed:park:)`` that needs no waiting and sends nothing elsewhere,
    /// for a new delivery: `.attempt` while the circuit is closed, a slot is free and the rate
    /// limit lets it start now, `.parked` at the in-flight cap while few wait; otherwise `nil`,
    /// with nothing changed — call ``enter(now:resumed:park:)`` then.
    func tryEnter(now time: Int64, park: @autoclosure () -> @Sendable () -> Void) -> Decision? {
        state.withLock { state in
            guard state.disabledReason == nil, case .closed = state.circuit.state else { return nil }
            if state.inFlight + state.reserved < maxInFlight {
                guard state.rateLimit?.wait(now: time) == nil else { return nil }
                return .attempt(Self.admit(&state, now: time, waited: false))
            }
            guard state.waiting < waitingLimit(state, now: time) else { return nil }
            Self.park(&state, park())
            return .parked
        }
    }

    /// Takes a slot (and the rate limit's place) for an attempt the circuit admitted.
    private static func admit(_ state: inout State, now time: Int64, waited: Bool) -> Admission {
        let probe = if case .halfOpen = state.circuit.state { true } else { false }
        let slot = state.rateLimit?.start()
        if state.inFlight == 0 { state.progressAt = time }
        state.inFlight += 1
        return Admission(probe: probe, rateSlot: slot, waited: waited, admittedAt: time)
    }

    /// Keeps the closure that resumes a delivery waiting for a free slot.
    private static func park(_ state: inout State, _ resume: @escaping @Sendable () -> Void) {
        state.waiting += 1
        state.parked.append(resume)
    }

    /// The endpoint's recent pace in milliseconds per attempt and slot: the slower of its average
    /// attempt time and the time since it last finished one (a stalled endpoint slows down by the
    /// second); `nil` before any attempt finished.
    private func pace(_ state: State, now: Int64) -> Double? {
        guard let attemptTime = state.attemptTime else { return nil }
        let sinceProgress = state.inFlight > 0 ? Double(now - state.progressAt) : 0
        return max(attemptTime, sinceProgress, 1)
    }

    /// How many deliveries may wait now: ``maxWaiting``, or more while the endpoint's pace would
    /// attempt them all within ``waitBudget`` — a fast endpoint with a backlog keeps it in memory
    /// instead of sending it around a delay topic.
    private func waitingLimit(_ state: State, now: Int64) -> Int {
        guard let pace = pace(state, now: now) else { return maxWaiting }
        let drainable = Double(maxInFlight) * Self.waitBudget / pace
        return max(maxWaiting, min(Int(min(drainable, Double(Int.max / 2))), maxWaitingWhenFast))
    }

    /// Sends a delivery elsewhere for about as long as the deliveries ahead of it take: by the rate
    /// limit, or by the endpoint's pace (a stalled endpoint's deliveries come back seldom instead
    /// of every second), at least a second.
    private func deferral(_ state: State, now: Int64) -> Decision {
        let ahead = Double(state.waiting + 1)
        let byRate = state.rateLimit.map { limit in
            ahead * Double(limit.rate.period.wholeMilliseconds) / Double(max(1, limit.rate.count))
        }
        let byPace = pace(state, now: now).map { ahead * $0 / Double(maxInFlight) }
        let wait = min(max(byRate ?? 0, byPace ?? 0, 1_000), 86_400_000)
        return .deferred(.milliseconds(Int64(wait)))
    }

    /// Reports an attempt admitted by ``enter(now:resumed:park:)``. A `410` disables the endpoint
    /// at once, so that no parked delivery is attempted after it.
    func leave(_ admission: Admission, _ outcome: Outcome) {
        let resume = state.withLock { state -> [@Sendable () -> Void] in
            state.inFlight -= 1
            state.progressAt = outcome.now
            let took = Double(max(0, outcome.now - admission.admittedAt))
            state.attemptTime = state.attemptTime.map { $0 + (took - $0) / 8 } ?? took
            state.circuit.record(success: outcome.success, probe: admission.probe, now: outcome.now)
            if let slot = admission.rateSlot { state.rateLimit?.complete(slot: slot, now: outcome.now) }
            state.lastStatus = outcome.status
            if !outcome.success { state.lastErrorAt = outcome.now }
            if outcome.status == 410 && state.disabledReason == nil {
                state.disabledReason = "410 Gone"
            }
            return Self.resumeParked(&state, maxInFlight: maxInFlight)
        }
        for closure in resume { closure() }
    }

    /// An admitted attempt that was not made after all (its partition was revoked meanwhile).
    func cancel(_ admission: Admission, now: Int64) {
        let resume = state.withLock { state -> [@Sendable () -> Void] in
            state.inFlight -= 1
            if admission.probe { state.circuit.cancelProbe() }
            if let slot = admission.rateSlot { state.rateLimit?.complete(slot: slot, now: now) }
            return Self.resumeParked(&state, maxInFlight: maxInFlight)
        }
        for closure in resume { closure() }
    }

    /// Disables the endpoint on this replica, with the reason recorded for logs and dead letters.
    func disable(reason: String) {
        let resume = state.withLock { state in
            state.disabledReason = reason
            return Self.resumeParked(&state, maxInFlight: maxInFlight)
        }
        for closure in resume { closure() }
    }

    /// Resumes every parked delivery (its partition is being let go): each decides again.
    func resumeAll() {
        let resume = state.withLock { state in Self.takeParked(&state, count: Int.max) }
        for closure in resume { closure() }
    }

    /// The parked deliveries to resume now, each with a slot reserved. While the circuit is closed,
    /// one per free slot, longest parked first (waking every waiter for each freed slot cost a
    /// wake-up per waiter per attempt). When the endpoint was disabled or its circuit is not
    /// closed, all of them: they must go elsewhere, which one at a time would leave stuck.
    private static func resumeParked(_ state: inout State, maxInFlight: Int) -> [@Sendable () -> Void] {
        guard !state.parked.isEmpty else { return [] }
        guard state.disabledReason == nil, case .closed = state.circuit.state else {
            return takeParked(&state, count: Int.max)
        }
        return takeParked(&state, count: maxInFlight - state.inFlight - state.reserved)
    }

    private static func takeParked(_ state: inout State, count: Int) -> [@Sendable () -> Void] {
        let taken = min(max(0, count), state.parked.count)
        guard taken > 0 else { return [] }
        let closures = Array(state.parked.prefix(taken))
        state.parked.removeFirst(taken)
        state.waiting -= taken
        state.reserved += taken
        return closures
    }

    var snapshot: Snapshot {
        state.withLock { state in
            Snapshot(
                circuit: state.circuit.state, healthScore: state.circuit.healthScore, inFlight: state.inFlight,
                waiting: state.waiting, lastStatus: state.lastStatus, lastErrorAt: state.lastErrorAt,
                disabledReason: state.disabledReason
            )
        }
    }
}
