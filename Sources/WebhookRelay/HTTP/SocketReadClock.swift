import NIOCore

/// When a connection last read from its socket, to tell at an exchange's deadline whether its
/// answer is already there, unread (``HTTP1ConnectionHandler``). Confined to the connection's
/// event loop.
final class SocketReadClock {
    /// The last read; the connection's start before any.
    var lastRead = NIODeadline.now()

    /// Whether the kernel received data after the last read: `tcpi_last_data_recv` (milliseconds
    /// since the last data arrived, at the kernel's clock tick) against ``lastRead``. Data that
    /// arrived within a few milliseconds of the last read is not told apart: that case is treated
    /// as nothing waiting.
    func dataWaiting(on channel: any Channel) -> Bool {
        #if os(Linux)
        guard let provider = channel as? any SocketOptionProvider else { return false }
        var waiting = false
        // On the channel's loop the option is read at once and the future is already complete.
        provider.getTCPInfo().assumeIsolated().whenSuccess { info in
            let arrived = NIODeadline.now() - .milliseconds(Int64(info.tcpi_last_data_recv))
            waiting = arrived > self.lastRead + .milliseconds(5)
        }
        return waiting
        #else
        return false
        #endif
    }
}

/// Notes every read of a TLS connection's socket in its ``SocketReadClock`` (first in the
/// pipeline, before the TLS handler, which reads records the HTTP handler may not see yet).
final class SocketReadClockHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let clock: SocketReadClock

    init(_ clock: SocketReadClock) {
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        clock.lastRead = .now()
        context.fireChannelRead(data)
    }
}
