import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization
import WebhookSignature

/// An HTTP server on 127.0.0.1 that receives webhooks for a set of endpoints (`POST /<endpoint id>`),
/// verifies every signature, records every request, and answers as each endpoint is told to:
/// succeed, fail the first attempts of each message, or always fail. Used by `webhook-relay demo`
/// and by the integration tests.
public final class WebhookReceiver: Sendable {
    /// How an endpoint answers.
    public struct Behaviour: Sendable, Hashable {
        /// Answer ``failureStatus`` to the first this many requests of each message id.
        public var failFirstAttempts: Int
        /// Answer ``failureStatus`` to the first this many requests of the endpoint, whatever their id.
        public var failFirstRequests: Int
        /// Answer ``failureStatus`` to every request.
        public var alwaysFail: Bool
        /// The status of a failed request.
        public var failureStatus: Int
        /// The status of a successful request.
        public var successStatus: Int
        /// How long to wait before answering.
        public var responseDelay: Duration
        /// A `Retry-After` value sent with failures.
        public var retryAfter: String?

        /// Creates a behaviour; the default succeeds at once with 204.
        public init(
            failFirstAttempts: Int = 0, failFirstRequests: Int = 0, alwaysFail: Bool = false, failureStatus: Int = 500,
            successStatus: Int = 204, responseDelay: Duration = .zero, retryAfter: String? = nil
        ) {
            self.failFirstRequests = failFirstRequests
            self.retryAfter = retryAfter
            self.failFirstAttempts = failFirstAttempts
            self.alwaysFail = alwaysFail
            self.failureStatus = failureStatus
            self.successStatus = successStatus
            self.responseDelay = responseDelay
        }
    }

    /// One receiving endpoint.
    public struct Endpoint: Sendable {
        /// The id, which is the URL path (`/orders`).
        public var id: String
        /// Verifies the endpoint's signatures.
        public var verifier: WebhookVerifier
        /// How it answers.
        public var behaviour: Behaviour

        public init(id: String, verifier: WebhookVerifier, behaviour: Behaviour = Behaviour()) {
            self.id = id
            self.verifier = verifier
            self.behaviour = behaviour
        }
    }

    /// A request as received.
    public struct Request: Sendable {
        /// The endpoint id (URL path).
        public var endpointID: String
        /// `webhook-id` or `X-Nself-Delivery`.
        public var webhookID: String
        /// 1 for the first request with this id at this endpoint, 2 for the second, ….
        public var attempt: Int
        /// Arrival time, epoch milliseconds.
        public var receivedAtMilliseconds: Int64
        /// Whether the signature verified; ``verificationError`` says why not.
        public var verified: Bool
        public var verificationError: String?
        /// The status answered.
        public var status: Int
        /// The body, byte for byte.
        public var body: [UInt8]
        /// The request headers.
        public var headers: [(name: String, value: String)]

        /// The first header value with this name (case-insensitive).
        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    private struct State {
        var requests: [Request] = []
        var attempts: [String: Int] = [:]
        var concurrent: [String: Int] = [:]
        var maxConcurrent: [String: Int] = [:]
    }

    private let endpoints: [String: Endpoint]
    private let state = Mutex(State())

    /// Creates a receiver for the endpoints.
    public init(endpoints: [Endpoint]) {
        self.endpoints = Dictionary(endpoints.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Every request so far, in arrival order.
    public var requests: [Request] { state.withLock { $0.requests } }

    /// The most requests an endpoint had in progress at the same time.
    public func maxConcurrentRequests(_ endpointID: String) -> Int {
        state.withLock { $0.maxConcurrent[endpointID] ?? 0 }
    }

    /// Runs the server on 127.0.0.1 (port 0: a free one), calls `body` with its base URL
    /// (`http://127.0.0.1:PORT`), and stops the server when `body` returns.
    public func withServer<T: Sendable>(
        port: Int = 0,
        logger: Logger = Logger(label: "webhook-receiver"),
        _ body: @Sendable (String) async throws -> T
    ) async throws -> T {
        let router = Router()
        router.post("/:endpoint") { request, context -> Response in
            let endpointID = context.parameters.get("endpoint") ?? ""
            var request = request
            let bytes = try await request.collectBody(upTo: 16 << 20)
            self.state.withLock { state in
                state.concurrent[endpointID, default: 0] += 1
                state.maxConcurrent[endpointID] = max(state.maxConcurrent[endpointID] ?? 0, state.concurrent[endpointID] ?? 0)
            }
            defer { self.state.withLock { $0.concurrent[endpointID, default: 1] -= 1 } }
            if let delay = self.endpoints[endpointID]?.behaviour.responseDelay, delay > .zero {
                try await Task.sleep(for: delay)
            }
            return self.handle(endpointID: endpointID, headers: request.headers, body: Array(buffer: bytes))
        }
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "webhook-receiver"),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        let services = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await services.run()
                return nil
            }
            var iterator = portStream.makeAsyncIterator()
            guard let boundPort = await iterator.next(), boundPort > 0 else {
                await services.triggerGracefulShutdown()
                throw ReceiverError.couldNotStart
            }
            do {
                let result = try await body("http://127.0.0.1:\(boundPort)")
                await services.triggerGracefulShutdown()
                try await group.waitForAll()
                return result
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
        }
    }

    private func handle(endpointID: String, headers: HTTPFields, body: [UInt8]) -> Response {
        let now = Int64((Date().timeIntervalSince1970 * 1_000).rounded(.down))
        guard let endpoint = endpoints[endpointID] else { return Response(status: .notFound) }
        let pairs = headers.map { (name: $0.name.rawName, value: $0.value) }
        let webhookHeaders = WebhookHeaders(pairs)
        let webhookID = webhookHeaders["webhook-id"] ?? webhookHeaders["X-Nself-Delivery"] ?? ""
        var verificationError: String?
        do {
            try endpoint.verifier.verify(headers: webhookHeaders, body: body)
        } catch {
            verificationError = "\(error)"
        }
        let behaviour = endpoint.behaviour
        let status = state.withLock { state -> Int in
            let key = endpointID + " " + webhookID
            let attempt = state.attempts[key, default: 0] + 1
            state.attempts[key] = attempt
            let behaviour = endpoint.behaviour
            let earlier = state.requests.lazy.filter { $0.endpointID == endpointID }.count
            let fail = behaviour.alwaysFail || attempt <= behaviour.failFirstAttempts || earlier < behaviour.failFirstRequests
                || verificationError != nil
            let status = fail ? (verificationError != nil ? 401 : behaviour.failureStatus) : behaviour.successStatus
            state.requests.append(Request(
                endpointID: endpointID, webhookID: webhookID, attempt: attempt, receivedAtMilliseconds: now,
                verified: verificationError == nil, verificationError: verificationError, status: status, body: body,
                headers: pairs
            ))
            return status
        }
        var fields = HTTPFields()
        if let retryAfter = behaviour.retryAfter, status == behaviour.failureStatus {
            fields[.retryAfter] = retryAfter
        }
        return Response(status: HTTPResponse.Status(code: status), headers: fields)
    }
}

/// The receiver could not bind its port.
public enum ReceiverError: Error {
    case couldNotStart
}
