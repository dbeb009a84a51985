import Synchronization

/// Wakes tasks that wait for some state to change, with a deadline: the owner of the state calls
/// ``wakeAll()`` after changing it, and a waiter checks its condition again.
///
/// A wake between a waiter's check of its condition and its suspension is not lost: the waiter
/// reads ``generation`` before it checks, and a wait after a generation that has passed returns at once.
final class WakeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Waits whose deadline passed before their continuation was registered.
        var expired: Set<UInt64> = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Counts the wakes so far.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Resumes every waiter.
    func wakeAll() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits while `condition()` holds, at most until `deadline`; returns whether the condition
    /// ended (`false`: the deadline passed first).
    func wait(until deadline: ContinuousClock.Instant, while condition: () -> Bool) async -> Bool {
        while true {
            let seen = generation
            guard condition() else { return true }
            guard ContinuousClock.now < deadline else { return false }
            await wait(after: seen, until: deadline)
        }
    }

    /// Waits for a wake after the given generation, at most until `deadline`.
    func wait(after seen: UInt64, until deadline: ContinuousClock.Instant) async {
        await wait(after: seen) { try? await Task.sleep(until: deadline) }
    }

    /// Waits for a wake after the given generation, at most until `sleep` returns (a timer on
    /// some clock; it is cancelled when the wake comes first).
    func wait(after seen: UInt64, sleep: @escaping @Sendable () async -> Void) async {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let now = self.state.withLock { state -> Bool in
                        if state.expired.remove(id) != nil || state.generation != seen { return true }
                        state.waiters[id] = continuation
                        return false
                    }
                    if now { continuation.resume() }
                }
            }
            group.addTask {
                await sleep()
                let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                    guard let waiter = state.waiters.removeValue(forKey: id) else {
                        state.expired.insert(id)
                        return nil
                    }
                    return waiter
                }
                waiter?.resume()
            }
            await group.next()
            group.cancelAll()
        }
        state.withLock { _ = $0.expired.remove(id) }
    }
}
