import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Opening connections: TCP to the checked address, then TLS for `https`, within the attempt's deadline.
extension WebhookHTTPClient {
    /// Opens a connection to the checked address on `loop`. `serverName` is the target's
    /// ``HTTP1RequestTarget/tlsServerName``.
    func connect(
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
}
