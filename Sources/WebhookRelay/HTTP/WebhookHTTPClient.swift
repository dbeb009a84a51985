import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

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
    struct Pinned {
        var address: IPAddress
        var expiresAt: ContinuousClock.Instant
    }

    let configuration: Configuration
    let group: MultiThreadedEventLoopGroup
    let pool: HTTP1ConnectionPool
    let tls: Result<NIOSSLContext, TLSSetupError>
    let pinned = Mutex<[String: Pinned]>([:])
    let targets = Mutex<[String: HTTP1RequestTarget]>([:])
    let userAgent = "webhook-relay/\(WebhookRelayVersion.current)"

    struct TLSSetupError: Error {
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

    /// POSTs `body` with `headers` to `url`, within `timeout` for the whole exchange.
    /// - Parameter cancellation: lets the caller cut the attempt short; the result then has
    ///   ``AttemptResult/cutShort`` set. Given one, the caller owns the attempt's cancellation:
    ///   the task's own is not watched during the exchange (a cancellation handler per attempt
    ///   cost a lock and four executor checks), so a caller whose task may be cancelled cancels
    ///   `cancellation` then, as the relay's attempt workers do. Without one, the task's
    ///   cancellation cuts the attempt short.
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
            return AttemptResult(.invalidRequest(error.description), duration: .zero)
        }
        let address: IPAddress
        switch await self.address(for: target) {
        case .success(let checked):
            address = checked
        case .failure(.refused(let refusal)):
            return AttemptResult(.refusedAddress(refusal), duration: clock.now - started)
        case .failure(.unusable(let reason)):
            return AttemptResult(.connectFailed(reason), duration: clock.now - started)
        }
        let server = HTTP1ConnectionPool.Server(tls: target.tls, host: target.host, port: target.port, address: address)
        let deadline = NIODeadline.now() + TimeAmount(timeout)
        do {
            let response = try await exchange(
                request, with: server, serverName: target.tlsServerName, deadline: deadline, cancellation: cancellation
            )
            // The body's start is kept as text for failures only: a 2xx needs nothing but its status.
            let bodyPrefix = (200..<300).contains(response.status) ? "" : String(decoding: response.bodyPrefix, as: UTF8.self)
            let answer = AttemptOutcome.HTTPAnswer(status: response.status, retryAfter: response.retryAfter, bodyPrefix: bodyPrefix)
            var result = AttemptResult(.answered(answer), duration: clock.now - started)
            result.writtenAt = response.writtenAt
            result.answeredAt = response.answeredAt
            return result
        } catch {
            return AttemptResult(.failure(error), duration: clock.now - started)
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
        let channel: any Channel
        do {
            channel = try await connect(server, serverName: serverName, deadline: deadline, on: current ?? group.next())
        } catch {
            throw ConnectFailure(underlying: error)
        }
        return try await exchange(request, on: channel, server: server, deadline: deadline, cancellation: cancellation)
    }

    private func exchange(
        _ request: ByteBuffer, on channel: any Channel, server: HTTP1ConnectionPool.Server, deadline: NIODeadline,
        cancellation: AttemptCancellation?
    ) async throws -> HTTP1Response {
        let exchange = HTTP1Exchange(request: request, bodyLimit: configuration.responseLimit, deadline: deadline)
        let id = exchange.id

        if channel.eventLoop.inEventLoop && channel.isActive,
            let handler = try? channel.pipeline.syncOperations.handler(type: HTTP1ConnectionHandler.self)
        {
            // On the connection's loop with the connection open, the handler takes the exchange
            // now and ends it whatever happens to it (a failed socket write closes the
            // connection: "connection closed before a response").
            handler.send(exchange)
        } else {
            // A channel that closed meanwhile refuses the write before the handler sees it: the
            // exchange ends here then (completing it a second time does nothing).
            channel.writeAndFlush(exchange).whenFailure { error in
                if case ChannelError.ioOnClosedChannel = error {
                    exchange.fail(HTTP1ExchangeError.closedBeforeSend)
                } else {
                    exchange.fail(HTTP1ExchangeError.connectionFailed(Self.describe(error)))
                }
            }
        }
        // Registered after the write, so that an end it sends reaches the handler after the request.
        cancellation?.onCancel {
            channel.pipeline.fireUserInboundEventTriggered(HTTP1ExchangeEnd(exchange: id))
        }
        defer { cancellation?.clearHandler() }
        do {
            let response: HTTP1Response
            if cancellation != nil {
                response = try await exchange.response()
            } else {
                response = try await withTaskCancellationHandler {
                    try await exchange.response()
                } onCancel: {
                    channel.pipeline.fireUserInboundEventTriggered(HTTP1ExchangeEnd(exchange: id))
                }
            }
            pool.giveBack(channel, to: server, reusable: response.keepAlive)
            return response
        } catch {
            if case HTTP1ExchangeError.closedBeforeSend = error {} else { channel.close(promise: nil) }
            throw error
        }
    }

    /// Closes every idle connection; connections busy now close when their exchange ends.
    public func shutdown() async {
        pool.close()
    }
}
