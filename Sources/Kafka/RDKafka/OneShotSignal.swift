import Synchronization

/// A latch that is signalled once and can be awaited with a deadline.
final class OneShotSignal: Sendable {
    private struct State {
        var signalled = false
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Signals every current and future waiter.
    func signal() {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.signalled = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// Whether ``signal()`` was called.
    var isSignalled: Bool { state.withLock { $0.signalled } }

    /// Waits for the signal; returns `false` when the timeout passed first or the task was cancelled.
    func wait(timeout: Duration) async -> Bool {
        if isSignalled { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Waits for the signal; returns `false` if the task is cancelled first.
    func wait() async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let resumeNow: Bool? = state.withLock { state in
                    if state.signalled { return true }
                    if Task.isCancelled { return false }
                    state.waiters[id] = continuation
                    return nil
                }
                if let resumeNow { continuation.resume(returning: resumeNow) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: false)
        }
    }
}
