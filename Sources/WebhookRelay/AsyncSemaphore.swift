import Synchronization

/// A counting semaphore for tasks: ``acquire()`` suspends (without blocking a thread) while no
/// permit is free. Waiters are served first come, first served.
public final class AsyncSemaphore: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
        var waitersHead = 0
    }

    private let state: Mutex<State>

    /// Creates a semaphore with `permits` free permits.
    public init(permits: Int) {
        state = Mutex(State(available: permits))
    }

    /// Takes a permit, waiting for one to be released if none is free.
    public func acquire() async {
        if tryAcquire() { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Takes a permit if one is free, without waiting.
    public func tryAcquire() -> Bool {
        state.withLock { state in
            guard state.available > 0 else { return false }
            state.available -= 1
            return true
        }
    }

    /// Returns a permit, handing it straight to the longest waiter if there is one.
    public func release() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.waitersHead < state.waiters.count else {
                state.available += 1
                return nil
            }
            let waiter = state.waiters[state.waitersHead]
            state.waitersHead += 1
            if state.waitersHead == state.waiters.count {
                state.waiters.removeAll(keepingCapacity: true)
                state.waitersHead = 0
            }
            return waiter
        }
        waiter?.resume()
    }

    /// Permits free right now.
    public var available: Int { state.withLock { $0.available } }
}
