import NIOCore
import Synchronization

/// One request handed to a connection, and where its response goes.
///
/// Completed once — by the connection's handler with the response or the failure, or by the
/// client when the request never reached the handler — and awaited once by the attempt. A plain
/// object instead of an `EventLoopPromise` and its future: the promise, the future's callback
/// list, the write's own promise and its callback were five allocations and a generic type
/// look-up per exchange (issue 19's profile); this is one allocation. Its identity names the
/// exchange in ``HTTP1ExchangeEnd``.
final class HTTP1Exchange: Sendable {
    private enum State {
        /// Neither completed nor awaited yet.
        case open
        /// Awaited, not completed.
        case awaited(UnsafeContinuation<HTTP1Response, any Error>)
        /// Completed, not awaited yet.
        case completed(Result<HTTP1Response, any Error>)
        /// Completed and handed to the waiter.
        case delivered
    }

    /// The whole encoded request.
    let request: ByteBuffer
    /// Body bytes of the response kept at most.
    let bodyLimit: Int
    /// When the exchange times out (unless an answer is waiting unread then, see
    /// ``HTTP1ConnectionHandler/maxLateChecks``).
    let deadline: NIODeadline
    private let state = Mutex(State.open)

    init(request: ByteBuffer, bodyLimit: Int, deadline: NIODeadline) {
        self.request = request
        self.bodyLimit = bodyLimit
        self.deadline = deadline
    }

    /// Identifies the exchange in ``HTTP1ExchangeEnd``.
    var id: ObjectIdentifier { ObjectIdentifier(self) }

    /// Ends the exchange with `result`; only the first completion counts.
    func complete(_ result: Result<HTTP1Response, any Error>) {
        let waiter = state.withLock { state -> UnsafeContinuation<HTTP1Response, any Error>? in
            switch state {
            case .open:
                state = .completed(result)
                return nil
            case .awaited(let continuation):
                state = .delivered
                return continuation
            case .completed, .delivered:
                return nil
            }
        }
        waiter?.resume(with: result)
    }

    /// Ends the exchange with its response.
    func succeed(_ response: HTTP1Response) { complete(.success(response)) }

    /// Ends the exchange with a failure.
    func fail(_ error: any Error) { complete(.failure(error)) }

    /// The response, once the exchange is completed. Awaited once.
    func response() async throws -> HTTP1Response {
        try await withUnsafeThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<HTTP1Response, any Error>? in
                switch state {
                case .open:
                    state = .awaited(continuation)
                    return nil
                case .completed(let result):
                    state = .delivered
                    return result
                case .awaited, .delivered:
                    return .failure(HTTP1ExchangeError.connectionFailed("the exchange's response was awaited twice"))
                }
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
