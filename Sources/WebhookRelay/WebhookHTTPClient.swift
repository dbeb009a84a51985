import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

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
    /// The SSRF guard refused the endpoint's address: no connection was opened.
    public var refusal: AddressRefusal?

    /// 2xx is success; anything else, including 3xx (redirects are not followed), is a failure.
    public var succeeded: Bool { status.map { (200..<300).contains($0) } ?? false }
}

/// POSTs webhooks through async-http-client connection pools, behind the SSRF guard.
///
/// Before connecting, the endpoint's host is resolved and every address is checked against the
/// ``AddressPolicy``; a refused host gets no connection. The connection then goes to the address
/// that was checked: each host name has a client whose DNS override pins it to that address (TLS
/// still verifies the name), so nothing resolves the name a second time in between. Resolutions
/// are cached for ``Configuration/resolutionTTL``. Redirects are not followed, responses are not
/// decompressed, and at most ``Configuration/responseLimit`` bytes of a failed response body are kept.
public final class WebhookHTTPClient: Sendable {
    /// Settings of the shared client.
    public struct Configuration: Sendable {
        /// Time limit to establish a connection.
        public var connectTimeout: Duration = .seconds(5)
        /// Bytes of a failed response body kept for the error text.
        public var responseLimit: Int = 1_024
        /// Connections per host the pool keeps open at most (soft limit).
        public var connectionsPerHost: Int = 64
        /// Which addresses may be connected to (the SSRF guard).
        public var addressPolicy = AddressPolicy()
        /// How long a host's checked addresses are reused before resolving it again.
        public var resolutionTTL: Duration = .seconds(30)

        public init() {}
    }

    /// A host's checked address and the client pinned to it.
    private struct Pinned {
        var address: IPAddress
        var client: HTTPClient
        var expiresAt: ContinuousClock.Instant
    }

    private let client: HTTPClient
    private let configuration: Configuration
    private let pinned = Mutex<[String: Pinned]>([:])
    private let userAgent = "webhook-relay/\(WebhookRelayVersion.current)"

    /// Creates the client on NIO's shared event loop group.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        client = Self.makeClient(configuration, dnsOverride: [:])
    }

    private static func makeClient(_ configuration: Configuration, dnsOverride: [String: String]) -> HTTPClient {
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
        clientConfiguration.dnsOverride = dnsOverride
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    }

    /// The client to use for `host`, after checking its addresses; the refusal when one is not allowed.
    private func client(for host: String) async -> Result<HTTPClient, AttemptFailure> {
        if let literal = IPAddress(host) {
            // An address literal needs no resolution: check it and connect to it.
            if case .refused(let reason) = configuration.addressPolicy.check(literal) {
                return .failure(.refused(AddressRefusal(host: host, address: literal, reason: reason)))
            }
            return .success(client)
        }
        let now = ContinuousClock.now
        if let entry = pinned.withLock({ $0[host] }), entry.expiresAt > now {
            return .success(entry.client)
        }
        let addresses: [IPAddress]
        do {
            addresses = try await AddressResolver.resolve(host: host)
        } catch {
            return .failure(.unresolved("\(error)"))
        }
        let address: IPAddress
        switch AddressResolver.pick(ResolvedHost(host: host, addresses: addresses), policy: configuration.addressPolicy) {
        case .failure(let refusal): return .failure(.refused(refusal))
        case .success(let picked): address = picked
        }
        let expiresAt = now.advanced(by: configuration.resolutionTTL)
        let (chosen, retired) = pinned.withLock { pinned -> (HTTPClient, HTTPClient?) in
            if var entry = pinned[host], entry.address == address {
                entry.expiresAt = expiresAt
                pinned[host] = entry
                return (entry.client, nil)
            }
            let fresh = Self.makeClient(configuration, dnsOverride: [host: address.description])
            let old = pinned[host]?.client
            pinned[host] = Pinned(address: address, client: fresh, expiresAt: expiresAt)
            return (fresh, old)
        }
        if let retired {
            // The host moved: requests already using the old client finish, then it closes.
            Task { try? await retired.shutdown() }
        }
        return .success(chosen)
    }

    private enum AttemptFailure: Error {
        case refused(AddressRefusal)
        case unresolved(String)
    }

    /// POSTs `body` with `headers` to `url`, within `timeout` for the whole exchange.
    public func post(url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration) async -> AttemptResult {
        let clock = ContinuousClock()
        let started = clock.now
        guard let host = URLComponents(string: url)?.host, !host.isEmpty else {
            return AttemptResult(status: nil, error: "the URL has no host", duration: .zero)
        }
        let client: HTTPClient
        switch await self.client(for: host) {
        case .success(let chosen):
            client = chosen
        case .failure(.refused(let refusal)):
            return AttemptResult(status: nil, error: refusal.description, duration: clock.now - started, refusal: refusal)
        case .failure(.unresolved(let reason)):
            return AttemptResult(status: nil, error: reason, duration: clock.now - started)
        }
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
        for entry in pinned.withLock({ pinned in defer { pinned = [:] }; return Array(pinned.values) }) {
            try? await entry.client.shutdown()
        }
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
