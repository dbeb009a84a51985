import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1

/// The outcome of one HTTP attempt.
public struct AttemptResult: Sendable {
    /// The response status, or `nil` when no response arrived (timeout, connection error).
    public var status: Int?
    /// Why the attempt failed: the error, or the start of a non-2xx response body.
    public var error: String?
    /// How long the attempt took.
    public var duration: Duration
    /// The `Retry-After` response header, if any.
    public var retryAfter: String?

    /// 2xx is success; anything else, including 3xx (redirects are not followed), is a failure.
    public var succeeded: Bool { status.map { (200..<300).contains($0) } ?? false }
}

/// POSTs webhooks through one shared async-http-client connection pool.
///
/// Redirects are not followed, responses are not decompressed, and at most ``responseLimit`` bytes
/// of a response body are kept (the rest is read and dropped so the connection can be reused).
public final class WebhookHTTPClient: Sendable {
    /// Settings of the shared client.
    public struct Configuration: Sendable {
        /// Time limit to establish a connection.
        public var connectTimeout: Duration = .seconds(5)
        /// Bytes of a failed response body kept for the error text.
        public var responseLimit: Int = 1_024
        /// Connections per host the pool keeps open at most (soft limit).
        public var connectionsPerHost: Int = 64

        public init() {}
    }

    private let client: HTTPClient
    private let configuration: Configuration
    private let userAgent = "webhook-relay/\(WebhookRelayVersion.current)"

    /// Creates the client on NIO's shared event loop group.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        clientConfiguration.decompression = .disabled
        clientConfiguration.timeout = HTTPClient.Configuration.Timeout(
            connect: .milliseconds(configuration.connectTimeout.wholeMilliseconds)
        )
        clientConfiguration.connectionPool = HTTPClient.Configuration.ConnectionPool(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.connectionsPerHost
        )
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    }

    /// POSTs `body` with `headers` to `url`, within `timeout` for the whole exchange.
    public func post(url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration) async -> AttemptResult {
        let clock = ContinuousClock()
        let started = clock.now
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.reserveCapacity(headers.count + 1)
        request.headers.add(name: "User-Agent", value: userAgent)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(timeout.wholeMilliseconds))
            let status = Int(response.status.code)
            var kept = ByteBuffer()
            for try await chunk in response.body where kept.readableBytes < configuration.responseLimit {
                var chunk = chunk
                let take = min(chunk.readableBytes, configuration.responseLimit - kept.readableBytes)
                if let slice = chunk.readSlice(length: take) { kept.writeImmutableBuffer(slice) }
            }
            let succeeded = (200..<300).contains(status)
            let text = succeeded ? nil : "HTTP \(status)" + (kept.readableBytes > 0 ? ": " + String(buffer: kept) : "")
            return AttemptResult(
                status: status, error: text, duration: clock.now - started, retryAfter: response.headers.first(name: "Retry-After")
            )
        } catch {
            return AttemptResult(status: nil, error: Self.describe(error), duration: clock.now - started)
        }
    }

    /// Closes every connection.
    public func shutdown() async {
        try? await client.shutdown()
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout: return "timeout"
            case .connectTimeout: return "connect timeout"
            default: return "\(error)"
            }
        }
        return "\(error)"
    }
}
