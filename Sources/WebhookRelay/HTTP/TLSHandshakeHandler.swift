import NIOCore
import NIOSSL
import NIOTLS

/// Reports the end of a connection's TLS handshake, then leaves the pipeline.
///
/// Placed after `NIOSSLClientHandler`: `handshake` succeeds when the handshake completes and fails
/// with its error (an untrusted certificate, a wrong name) or when the connection closes first.
/// The client waits for it before sending a request, so a refused certificate is reported as
/// such; without the wait, a handshake that failed before the request was written left only
/// "connection closed" to report.
final class TLSHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private var handshake: EventLoopPromise<Void>?
    private static let closed = HTTP1ExchangeError.tlsFailed("connection closed during the TLS handshake")

    init(handshake: EventLoopPromise<Void>) {
        self.handshake = handshake
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if case TLSUserEvent.handshakeCompleted = event, let handshake {
            self.handshake = nil
            handshake.succeed()
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(HTTP1ExchangeError.tlsFailed(WebhookHTTPClient.describe(error)))
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(Self.closed)
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        fail(Self.closed)
    }

    private func fail(_ error: HTTP1ExchangeError) {
        guard let handshake else { return }
        self.handshake = nil
        handshake.fail(error)
    }
}
