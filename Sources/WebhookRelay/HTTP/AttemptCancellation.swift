import Synchronization

/// Lets the relay cut one HTTP attempt short (its partition is let go, or the relay stops): the
/// exchange ends at once, its connection is closed, and the attempt's result says it was cut
/// short — the endpoint did nothing wrong, so it is not the endpoint's failure.
public final class AttemptCancellation: Sendable {
    private struct State {
        var cancelled = false
        var handler: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    public init() {}

    /// Whether ``cancel()`` was called.
    public var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Cuts the attempt short; later calls do nothing.
    public func cancel() {
        let handler = state.withLock { state -> (@Sendable () -> Void)? in
            guard !state.cancelled else { return nil }
            state.cancelled = true
            defer { state.handler = nil }
            return state.handler
        }
        handler?()
    }

    /// Runs `handler` on ``cancel()`` (at once when already cancelled), until ``clearHandler()``.
    func onCancel(_ handler: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            guard !state.cancelled else { return true }
            state.handler = handler
            return false
        }
        if now { handler() }
    }

    /// Forgets the handler (the exchange it ends is over).
    func clearHandler() {
        state.withLock { $0.handler = nil }
    }
}
