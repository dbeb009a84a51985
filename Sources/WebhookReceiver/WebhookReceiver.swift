import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import WebhookSignature

/// An HTTP server that receives webhooks for a set of endpoints (`POST /<endpoint id>`), verifies
/// every signature, reports every request, and answers as each endpoint's ``ReceiverBehaviour``
/// says: succeed, fail, time out, reset the connection, rate-limit or turn `410 Gone`. Used by
/// `webhook-relay listen`, `webhook-relay demo` and the integration tests.
public final class WebhookReceiver: Sendable {
    /// How an endpoint answers (the name tests and the demo use).
    public typealias Behaviour = ReceiverBehaviour

    /// One receiving endpoint.
    public struct Endpoint: Sendable {
        /// The id, which is the URL path (`/orders`).
        public var id: String
        /// Verifies the endpoint's signatures.
        public var verifier: WebhookVerifier
        /// How it answers.
        public var behaviour: Behaviour

        /// Creates an endpoint.
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
        /// The sender's attempt number (`Webhook-Attempt`), when it sent one: unlike ``attempt``
        /// it tells a retry from a duplicate of the same attempt.
        public var senderAttempt: Int?
        /// Arrival time, epoch milliseconds.
        public var receivedAtMilliseconds: Int64
        /// Whether the signature verified; ``verificationError`` says why not.
        public var verified: Bool
        /// Why the signature did not verify.
        public var verificationError: String?
        /// What the receiver did.
        public var answer: Behaviour.Answer
        /// The status answered; 0 for a timeout or a reset.
        public var status: Int { answer.status ?? 0 }
        /// The body, byte for byte.
        public var body: [UInt8]
        /// The request headers.
        public var headers: [(name: String, value: String)]

        /// The first header value with this name (case-insensitive).
        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    /// Settings of the server.
    public struct Configuration: Sendable {
        /// Keep every request in ``requests`` (tests); `listen` turns it off and logs instead.
        public var recordsRequests: Bool = true
        /// Called with every request as it is answered (after the decision, before any delay).
        public var onRequest: (@Sendable (Request) -> Void)?
        /// The largest body accepted.
        public var bodyLimit: Int = 16 << 20

        /// Creates the default configuration.
        public init() {}
    }

    private struct State {
        var requests: [Request] = []
        var attempts: [String: Int] = [:]
        var endpointRequests: [String: Int] = [:]
        var concurrent: [String: Int] = [:]
        var maxConcurrent: [String: Int] = [:]
    }

    private let endpoints: [String: Endpoint]
    private let configuration: Configuration
    private let state = Mutex(State())

    /// Creates a receiver for the endpoints.
    public init(endpoints: [Endpoint], configuration: Configuration = Configuration()) {
        self.endpoints = Dictionary(endpoints.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.configuration = configuration
    }

    /// Every request so far, in arrival order (empty unless ``Configuration/recordsRequests``).
    public var requests: [Request] { state.withLock { $0.requests } }

    /// The most requests an endpoint had in progress at the same time.
    public func maxConcurrentRequests(_ endpointID: String) -> Int {
        state.withLock { $0.maxConcurrent[endpointID] ?? 0 }
    }

    /// Runs the server on `host` (port 0: a free one), calls `body` with its base URL
    /// (`http://HOST:PORT`), and stops the server when `body` returns.
    public func withServer<T: Sendable>(
        host: String = "127.0.0.1",
        port: Int = 0,
        logger: Logger = Logger(label: "webhook-receiver"),
        _ body: @Sendable (String) async throws -> T
    ) async throws -> T {
        let router = Router(context: ReceiverRequestContext.self)
        router.post("/:endpoint") { request, context -> Response in
            try await self.receive(request, context: context)
        }
        let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "webhook-receiver"),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger
        )
        var groupConfiguration = ServiceGroupConfiguration(services: [app], logger: logger)
        // Hung requests (timeout behaviour) must not hold the server open.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(2)
        let services = ServiceGroup(configuration: groupConfiguration)
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
                let result = try await body("http://\(host.contains(":") ? "[\(host)]" : host):\(boundPort)")
                await services.triggerGracefulShutdown()
                try? await group.waitForAll()
                return result
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
        }
    }

    private func receive(_ request: Hummingbird.Request, context: ReceiverRequestContext) async throws -> Response {
        let endpointID = context.parameters.get("endpoint") ?? ""
        var request = request
        let bytes = try await request.collectBody(upTo: configuration.bodyLimit)
        guard let endpoint = endpoints[endpointID] else { return Response(status: .notFound) }
        let received = decide(endpoint: endpoint, headers: request.headers, body: Array(buffer: bytes))
        configuration.onRequest?(received)

        state.withLock { state in
            state.concurrent[endpointID, default: 0] += 1
            state.maxConcurrent[endpointID] = max(state.maxConcurrent[endpointID] ?? 0, state.concurrent[endpointID] ?? 0)
        }
        defer { state.withLock { $0.concurrent[endpointID, default: 1] -= 1 } }

        switch received.answer {
        case .respond(let status, let retryAfter, let delay):
            if delay > .zero { try await Task.sleep(for: delay) }
            var fields = HTTPFields()
            if let retryAfter { fields[.retryAfter] = retryAfter }
            return Response(status: HTTPResponse.Status(code: status), headers: fields)
        case .hang(let duration):
            try? await Task.sleep(for: duration)
            context.channel.close(promise: nil)
            throw HTTPError(.serviceUnavailable)
        case .reset:
            // SO_LINGER 0: close() sends RST instead of FIN.
            let channel = context.channel
            if let socket = channel as? any SocketOptionProvider {
                try? await socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
            }
            try? await channel.close()
            throw HTTPError(.serviceUnavailable)
        }
    }

    private func decide(endpoint: Endpoint, headers: HTTPFields, body: [UInt8]) -> Request {
        let now = Int64((Date().timeIntervalSince1970 * 1_000).rounded(.down))
        let pairs = headers.map { (name: $0.name.rawName, value: $0.value) }
        let webhookHeaders = WebhookHeaders(pairs)
        let webhookID = webhookHeaders["webhook-id"] ?? webhookHeaders["X-Nself-Delivery"] ?? ""
        var verificationError: String?
        do {
            try endpoint.verifier.verify(headers: webhookHeaders, body: body)
        } catch {
            verificationError = "\(error)"
        }
        return state.withLock { state -> Request in
            let key = endpoint.id + " " + webhookID
            let attempt = state.attempts[key, default: 0] + 1
            state.attempts[key] = attempt
            let earlier = state.endpointRequests[endpoint.id, default: 0]
            state.endpointRequests[endpoint.id] = earlier + 1
            let answer = endpoint.behaviour.answer(
                verified: verificationError == nil, attempt: attempt, endpointRequests: earlier,
                draw: Behaviour.draw(endpoint: endpoint.id, webhookID: webhookID, attempt: attempt)
            )
            let request = Request(
                endpointID: endpoint.id, webhookID: webhookID, attempt: attempt,
                senderAttempt: webhookHeaders["Webhook-Attempt"].flatMap { Int($0) }, receivedAtMilliseconds: now,
                verified: verificationError == nil, verificationError: verificationError, answer: answer,
                body: configuration.recordsRequests ? body : [], headers: configuration.recordsRequests ? pairs : []
            )
            if configuration.recordsRequests { state.requests.append(request) }
            return request
        }
    }
}

/// The request context of the receiver: the basic one plus the connection, which the reset and
/// timeout behaviours close.
struct ReceiverRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

/// The receiver could not bind its port.
public enum ReceiverError: Error {
    case couldNotStart
}
