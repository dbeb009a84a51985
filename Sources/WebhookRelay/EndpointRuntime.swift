import Synchronization

/// What the replica that owns an endpoint's partition keeps about it in memory: the circuit,
/// the rate limit, deliveries in flight and waiting, and whether a `410 Gone` disabled it.
///
/// ``enter(now:)`` decides whether a delivery may be attempted now, waits (without holding anything
/// another endpoint needs) while the endpoint is at its in-flight cap or rate limit, and defers the
/// delivery when too many are waiting already. ``leave(_:)`` reports the attempt's result.
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
    }

    /// An admitted attempt.
    struct Admission: Sendable, Equatable {
        /// The attempt is the half-open circuit's probe.
        var probe: Bool
        /// The attempt's place in the rate limit.
        var rateSlot: Int?
        /// It waited for the in-flight cap or the rate limit first.
        var waited = false
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
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
        var disabledReason: String?
        var lastStatus: Int?
        var lastErrorAt: Int64?
    }

    let maxInFlight: Int
    /// Deliveries that may wait in memory for a free slot; more are deferred.
    let maxWaiting: Int
    private let state: Mutex<State>

    init(policy: EndpointPolicy, maxInFlight: Int) {
        self.maxInFlight = maxInFlight
        let perTwoSeconds = policy.rateLimit.map { rate in
            Int(Double(rate.count) * 2_000 / Double(max(1, rate.period.wholeMilliseconds)))
        }
        maxWaiting = max(1, min(4 * maxInFlight, perTwoSeconds ?? Int.max))
        state = Mutex(State(circuit: CircuitBreaker(configuration: policy.circuit), rateLimit: policy.rateLimit.map(RateLimit.init)))
    }

    /// Decides about one delivery, waiting while the endpoint is busy or rate limited.
    /// - Parameter now: returns the current monotonic time in milliseconds.
    func enter(now: @Sendable () -> Int64) async -> Decision {
        var isWaiting = false
        defer { if isWaiting { state.withLock { $0.waiting -= 1 } } }
        while true {
            enum Step { case decided(Decision), sleep(Duration), waitForSlot }
            let step: Step = state.withLock { state in
                let time = now()
                if let reason = state.disabledReason { return .decided(.disabled(reason: reason)) }
                if case .open(let until) = state.circuit.state, time < until {
                    return .decided(.circuitOpen(.milliseconds(until - time)))
                }
                if case .halfOpen(_, true) = state.circuit.state {
                    return .decided(.circuitOpen(.seconds(1)))
                }
                let hasSlot = state.inFlight < maxInFlight
                let rateWait = hasSlot ? state.rateLimit?.wait(now: time) : nil
                if hasSlot && rateWait == nil {
                    switch state.circuit.admit(now: time) {
                    case .wait(let wait): return .decided(.circuitOpen(wait))
                    case .attempt, .probe:
                        let probe = if case .halfOpen = state.circuit.state { true } else { false }
                        let slot = state.rateLimit?.start()
                        state.inFlight += 1
                        return .decided(.attempt(Admission(probe: probe, rateSlot: slot, waited: isWaiting)))
                    }
                }
                if !isWaiting {
                    guard state.waiting < maxWaiting else {
                        // Estimate when a slot frees: the rate's pace, or a short pause for the cap.
                        let pace = state.rateLimit.map { limit -> Duration in
                            Duration.milliseconds(Int64(state.waiting + 1) * limit.rate.period.wholeMilliseconds / Int64(limit.rate.count))
                        }
                        return .decided(.deferred(max(pace ?? .seconds(1), .seconds(1))))
                    }
                    state.waiting += 1
                    isWaiting = true
                }
                if let rateWait { return .sleep(rateWait) }
                return .waitForSlot
            }
            switch step {
            case .decided(let decision):
                return decision
            case .sleep(let duration):
                try? await Task.sleep(for: duration)
            case .waitForSlot:
                let id = state.withLock { state -> UInt64 in
                    state.nextWaiter += 1
                    return state.nextWaiter
                }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let now = state.withLock { state -> Bool in
                            if state.inFlight < maxInFlight || Task.isCancelled { return true }
                            state.waiters[id] = continuation
                            return false
                        }
                        if now { continuation.resume() }
                    }
                } onCancel: {
                    state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
                }
            }
            if Task.isCancelled { return .deferred(.seconds(1)) }
        }
    }

    /// Reports an attempt admitted by ``enter(now:)``. A `410` disables the endpoint at once, so
    /// that no delivery waiting for this slot is attempted after it.
    func leave(_ admission: Admission, _ outcome: Outcome) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.inFlight -= 1
            state.circuit.record(success: outcome.success, probe: admission.probe, now: outcome.now)
            if let slot = admission.rateSlot { state.rateLimit?.complete(slot: slot, now: outcome.now) }
            state.lastStatus = outcome.status
            if !outcome.success { state.lastErrorAt = outcome.now }
            if outcome.status == 410 && state.disabledReason == nil {
                state.disabledReason = "410 Gone"
            }
            return takeWaiters(&state)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// An admitted attempt that was not made after all (its partition was revoked meanwhile).
    func cancel(_ admission: Admission, now: Int64) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.inFlight -= 1
            if admission.probe { state.circuit.cancelProbe() }
            if let slot = admission.rateSlot { state.rateLimit?.complete(slot: slot, now: now) }
            return takeWaiters(&state)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Every waiter decides again: one may take the free slot, others may be told to go elsewhere
    /// (a disabled endpoint, an opened circuit), which a single wake-up would leave stuck.
    private func takeWaiters(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        defer { state.waiters = [:] }
        return Array(state.waiters.values)
    }

    /// Disables the endpoint on this replica, with the reason recorded for logs and dead letters.
    func disable(reason: String) {
        state.withLock { $0.disabledReason = reason }
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
