import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
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
    /// The relay itself ended the attempt (``AttemptCancellation``): whatever the endpoint did,
    /// this is not its failure.
    public var cutShort = false
    /// The relay could not open a connection for want of its own resources (file descriptors):
    /// no request was sent, and it is not the endpoint's failure.
    public var localShortage = false

    /// 2xx is success; anything else, including 3xx (redirects are not followed), is a failure.
    public var succeeded: Bool { status.map { (200..<300).contains($0) } ?? false }
}

/// POSTs webhooks over HTTP/1.1 keep-alive connections, behind the SSRF guard.
///
/// Before connecting, the endpoint's host is resolved and every address is checked against the
/// ``AddressPolicy``; a refused host gets no connection. The connection then goes to the address
/// that was checked (TLS still verifies the name), so nothing resolves the name a second time in
/// between. Resolutions are cached for ``Configuration/resolutionTTL``. Redirects are not
/// followed, responses are not decompressed, and at most ``Configuration/responseLimit`` bytes of
/// a response body are kept.
///
/// The client is built for one job, a POST and its status, and does it with few allocations and
/// system calls: the start of each endpoint's request is encoded once, a request is written in one
/// buffer, and the response parser keeps only the status, `Retry-After` and the start of the body.
/// (async-http-client, used before, wrote the head and the body in separate system calls and ran
/// a general request state machine and connection pool per request; replacing it cut the relay's
/// CPU per delivery by about a quarter, BENCHMARKS.md.)
public final class WebhookHTTPClient: Sendable {
    /// Settings of the shared client.
    public struct Configuration: Sendable {
        /// Time limit to establish a connection.
        public var connectTimeout: Duration = .seconds(5)
        /// Bytes of a failed response body kept for the error text.
        public var responseLimit: Int = 1_024
        /// Idle connections kept per host at most; more may be open while busy. Below the number
        /// of requests a host gets at once, connections are closed and opened again all the time
        /// (many endpoints often share one host), so the relay raises it to its in-flight limit.
        public var connectionsPerHost: Int = 256
        /// How long an idle connection is kept open.
        public var idleTimeout: Duration = .seconds(60)
        /// Which addresses may be connected to (the SSRF guard).
        public var addressPolicy = AddressPolicy()
        /// How long a host's checked addresses are reused before resolving it again.
        public var resolutionTTL: Duration = .seconds(30)
        /// A PEM file of certificate authorities trusted for `https` endpoints besides the
        /// system's (endpoints whose certificates an internal CA signed). Check it first with
        /// ``trustFileProblem(_:)``: a file that cannot be used fails every `https` attempt.
        public var trustedCertificatesFile: String?

        public init() {}
    }

    /// A host's checked address.
    private struct Pinned {
        var address: IPAddress
        var expiresAt: ContinuousClock.Instant
    }

    private let configuration: Configuration
    private let group: MultiThreadedEventLoopGroup
    private let pool: HTTP1ConnectionPool
    private let tls: Result<NIOSSLContext, TLSSetupError>
    private let pinned = Mutex<[String: Pinned]>([:])
    private let targets = Mutex<[String: HTTP1RequestTarget]>([:])
    private let userAgent = "webhook-relay/\(WebhookRelayVersion.current)"

    private struct TLSSetupError: Error {
        let description: String
    }

    /// Creates the client on NIO's shared event loop group.
    public convenience init(configuration: Configuration = Configuration()) {
        self.init(configuration: configuration, tlsConfiguration: .makeClientConfiguration())
    }

    /// Creates the client with its own TLS settings (tests trust their own certificate with it).
    init(configuration: Configuration, tlsConfiguration: TLSConfiguration) {
        self.configuration = configuration
        var tlsConfiguration = tlsConfiguration
        if let file = configuration.trustedCertificatesFile {
            tlsConfiguration.additionalTrustRoots.append(.file(file))
        }
        group = MultiThreadedEventLoopGroup.singleton
        pool = HTTP1ConnectionPool(
            maxIdlePerServer: configuration.connectionsPerHost,
            idleTimeout: TimeAmount(configuration.idleTimeout)
        )
        do {
            tls = .success(try NIOSSLContext(configuration: tlsConfiguration))
        } catch {
            tls = .failure(TLSSetupError(description: "TLS is unavailable: \(error)"))
        }
    }

    /// What makes `path` unusable as ``Configuration/trustedCertificatesFile``, or `nil` when it
    /// holds at least one PEM certificate.
    public static func trustFileProblem(_ path: String) -> String? {
        guard FileManager.default.isReadableFile(atPath: path) else { return "cannot read '\(path)'" }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            return "'\(path)' is not a PEM file of certificates (\(error))"
        }
        return certificates.isEmpty ? "'\(path)' holds no PEM certificates" : nil
    }

    /// The address to connect to for the target's host, after checking it; the refusal when it is
    /// not allowed.
    private func address(for target: HTTP1RequestTarget) async -> Result<IPAddress, AttemptFailure> {
        let host = target.host
        if let literal = target.literal {
            // An address literal needs no resolution: check it and connect to it.
            if case .refused(let reason) = configuration.addressPolicy.check(literal) {
                return .failure(.refused(AddressRefusal(host: host, address: literal, reason: reason)))
            }
            return .success(literal)
        }
        let now = ContinuousClock.now
        if let entry = pinned.withLock({ $0[host] }), entry.expiresAt > now {
            return .success(entry.address)
        }
        let addresses: [IPAddress]
        do {
            addresses = try await AddressResolver.resolve(host: host)
        } catch {
            return .failure(.unusable("\(error)"))
        }
        switch AddressResolver.pick(ResolvedHost(host: host, addresses: addresses), policy: configuration.addressPolicy) {
        case .failure(let refusal):
            return .failure(.refused(refusal))
        case .success(let address):
            // Connections to an earlier address of the host stay in the pool until they idle out.
            pinned.withLock { $0[host] = Pinned(address: address, expiresAt: now.advanced(by: configuration.resolutionTTL)) }
            return .success(address)
        }
    }

    private enum AttemptFailure: Error {
        case refused(AddressRefusal)
        case unusable(String)
    }

    /// The parsed URL, cached: endpoints' URLs repeat for every delivery.
    private func target(_ url: String) -> Result<HTTP1RequestTarget, HTTPRequestProblem> {
        if let cached = targets.withLock({ $0[url] }) { return .success(cached) }
        let parsed = HTTP1RequestTarget.parse(url, userAgent: userAgent)
        if case .success(let target) = parsed {
            targets.withLock { targets in
                if targets.count >= 10_000 { targets.removeAll() }
                targets[url] = target
            }
        }
        return parsed
    }

    /// POSTs `body` with `headers` to `url`, within `timeout` for the whole exchange.
    /// - Parameter cancellation: lets the caller cut the attempt short; the result then has
    ///   ``AttemptResult/cutShort`` set.
    public func post(
        url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration,
        cancellation: AttemptCancellation? = nil
    ) async -> AttemptResult {
        let clock = ContinuousClock()
        let started = clock.now
        let target: HTTP1RequestTarget
        let request: ByteBuffer
        do {
            target = try self.target(url).get()
            request = try target.request(headers: headers, body: body, allocator: ByteBufferAllocator()).get()
        } catch {
            return AttemptResult(status: nil, error: error.description, duration: .zero)
        }
        let address: IPAddress
        switch await self.address(for: target) {
        case .success(let checked):
            address = checked
        case .failure(.refused(let refusal)):
            return AttemptResult(status: nil, error: refusal.description, duration: clock.now - started, refusal: refusal)
        case .failure(.unusable(let reason)):
            return AttemptResult(status: nil, error: reason, duration: clock.now - started)
        }
        let server = HTTP1ConnectionPool.Server(tls: target.tls, host: target.host, port: target.port, address: address)
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        do {
            let response = try await exchange(
                request, with: server, serverName: target.tlsServerName, deadline: deadline, cancellation: cancellation
            )
            let status = response.status
            let succeeded = (200..<300).contains(status)
            let text = succeeded
                ? nil : "HTTP \(status)" + (response.bodyPrefix.isEmpty ? "" : ": " + String(decoding: response.bodyPrefix, as: UTF8.self))
            return AttemptResult(status: status, error: text, duration: clock.now - started, retryAfter: response.retryAfter)
        } catch {
            var result = AttemptResult(status: nil, error: Self.describe(error), duration: clock.now - started)
            if case HTTP1ExchangeError.cancelled = error { result.cutShort = true }
            if case HTTP1ExchangeError.noLocalResources = error { result.localShortage = true }
            return result
        }
    }

    /// Sends `request` on an idle connection to `server`, or a new one, and reads the response.
    /// A pooled connection found closed before the request was written is replaced once.
    private func exchange(
        _ request: ByteBuffer, with server: HTTP1ConnectionPool.Server, serverName: String?, deadline: NIODeadline,
        cancellation: AttemptCancellation?
    ) async throws -> HTTP1Response {
        if cancellation?.isCancelled == true { throw HTTP1ExchangeError.cancelled }
        // The caller's loop when it runs on one (the relay's attempt workers do): the exchange then
        // stays on its thread.
        let current = MultiThreadedEventLoopGroup.currentEventLoop
        if let channel = pool.take(server, on: current) {
            do {
                return try await exchange(request, on: channel, server: server, deadline: deadline, cancellation: cancellation)
            } catch HTTP1ExchangeError.closedBeforeSend {
                // The server closed it while it was idle: nothing was sent.
            }
        }
        let channel = try await connect(server, serverName: serverName, deadline: deadline, on: current ?? group.next())
        return try await exchange(request, on: channel, server: server, deadline: deadline, cancellation: cancellation)
    }

    private func exchange(
        _ request: ByteBuffer, on channel: any Channel, server: HTTP1ConnectionPool.Server, deadline: NIODeadline,
        cancellation: AttemptCancellation?
    ) async throws -> HTTP1Response {
        let promise = channel.eventLoop.makePromise(of: HTTP1Response.self)
        let exchange = HTTP1Exchange(request: request, bodyLimit: configuration.responseLimit, promise: promise)
        let id = exchange.id
        let timer = channel.eventLoop.scheduleTask(deadline: deadline) {
            channel.pipeline.fireUserInboundEventTriggered(HTTP1ExchangeEnd(exchange: id, reason: .timedOut))
        }

        // A channel that closed meanwhile refuses the write before the handler sees it: the
        // exchange ends here then (completing the promise a second time does nothing).
        channel.writeAndFlush(exchange).whenFailure { error in
            if case ChannelError.ioOnClosedChannel = error {
                promise.fail(HTTP1ExchangeError.closedBeforeSend)
            } else {
                promise.fail(HTTP1ExchangeError.connectionFailed(Self.describe(error)))
            }
        }
        // Registered after the write, so that an end it sends reaches the handler after the request.
        cancellation?.onCancel {
            channel.pipeline.fireUserInboundEventTriggered(HTTP1ExchangeEnd(exchange: id, reason: .cancelled))
        }
        defer { cancellation?.clearHandler() }
        do {
            let response = try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                channel.pipeline.fireUserInboundEventTriggered(HTTP1ExchangeEnd(exchange: id, reason: .cancelled))
            }
            timer.cancel()
            pool.giveBack(channel, to: server, reusable: response.keepAlive)
            return response
        } catch {
            timer.cancel()
            if case HTTP1ExchangeError.closedBeforeSend = error {} else { channel.close(promise: nil) }
            throw error
        }
    }

    /// Opens a connection to the checked address on `loop`. `serverName` is the target's
    /// ``HTTP1RequestTarget/tlsServerName``.
    private func connect(
        _ server: HTTP1ConnectionPool.Server, serverName: String?, deadline: NIODeadline, on loop: any EventLoop
    ) async throws -> any Channel {
        let sslContext: NIOSSLContext? = server.tls ? try tls.get() : nil
        let remaining = deadline - NIODeadline.now()
        guard remaining > .zero else { throw HTTP1ExchangeError.timedOut }
        let connectTimeout = min(remaining, TimeAmount(configuration.connectTimeout))
        let handshake = sslContext.map { _ in loop.makePromise(of: Void.self) }
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(connectTimeout)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelOption(ChannelOptions.maxMessagesPerRead, value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let readClock = SocketReadClock()
                    if let sslContext, let handshake {
                        try channel.pipeline.syncOperations.addHandler(SocketReadClockHandler(readClock))
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                        try channel.pipeline.syncOperations.addHandler(TLSHandshakeHandler(handshake: handshake))
                    }
                    try channel.pipeline.syncOperations.addHandler(HTTP1ConnectionHandler(readClock: readClock))
                }
            }
        let channel: any Channel
        do {
            let address = try SocketAddress(ipAddress: server.address.description, port: server.port)
            channel = try await bootstrap.connect(to: address).get()
        } catch let error as IOError where [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode) {
            handshake?.fail(error)
            throw HTTP1ExchangeError.noLocalResources(error.description)
        } catch {
            handshake?.fail(error)
            throw error
        }
        guard let handshake else { return channel }
        // The request waits for the handshake: its failure is the attempt's error then.
        let timer = loop.scheduleTask(deadline: deadline) { handshake.fail(HTTP1ExchangeError.timedOut) }
        do {
            try await handshake.futureResult.get()
            timer.cancel()
            return channel
        } catch {
            timer.cancel()
            channel.close(promise: nil)
            throw error
        }
    }

    /// Closes every idle connection; connections busy now close when their exchange ends.
    public func shutdown() async {
        pool.close()
    }

    /// A short text for an attempt's error: `timeout`, `connect timeout`, the socket error.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as HTTP1ExchangeError: error.description
        case let error as HTTP1ParseError: error.description
        case ChannelError.connectTimeout: "connect timeout"
        case let error as IOError: "connection failed: \(error.description)"
        case let error as NIOSSLError: "TLS: \(error)"
        case let error as BoringSSLError: "TLS: \(error)"
        case let error as NIOSSLExtraError: "TLS: \(error)"
        case let error as TLSSetupError: error.description
        default: "\(error)"
        }
    }
}
