import NIOCore

/// Cancels an exchange (sent through the pipeline as a user event): the connection is closed.
struct HTTP1ExchangeEnd: Sendable {
    /// The exchange to end; a later exchange on the same connection is not affected.
    let exchange: ObjectIdentifier
}

/// Why an exchange failed without a response.
enum HTTP1ExchangeError: Error, CustomStringConvertible {
    /// The deadline passed.
    case timedOut
    /// The task waiting for the response was cancelled.
    case cancelled
    /// The connection was closed before the request was written: it can go on a new connection.
    case closedBeforeSend
    /// The connection was closed, or failed, while the exchange was under way.
    case connectionFailed(String)
    /// The TLS handshake failed, or the connection closed during it.
    case tlsFailed(String)
    /// This process could not open a socket (out of file descriptors or memory): the relay's
    /// own shortage, not the endpoint's failure.
    case noLocalResources(String)

    var description: String {
        switch self {
        case .timedOut: "timeout"
        case .cancelled: "cancelled"
        case .closedBeforeSend: "connection closed"
        case .connectionFailed(let reason), .tlsFailed(let reason): reason
        case .noLocalResources(let reason): "no local resources: \(reason)"
        }
    }
}

/// Sends one request at a time on a connection and reads its response (HTTP/1.1, no pipelining).
///
/// The request goes out as one buffer; the response is parsed by ``HTTP1ResponseParser`` as it
/// arrives. A connection that cannot carry another request (the server said `Connection: close`,
/// the body ran to the end of the connection, bytes arrived that nobody asked for, or an exchange
/// was ended early) is closed.
///
/// Deadlines: one timer per connection, not one per exchange. It is set for the first exchange's
/// deadline; when it fires while a later exchange (with a later deadline) is under way, it is set
/// again for that one. A keep-alive connection carrying thousands of quick exchanges thus sets a
/// timer about once per timeout instead of setting and cancelling one per request (NIO's
/// scheduled tasks were 2 % of the relay's CPU at full speed, by `perf`).
final class HTTP1ConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = HTTP1Exchange
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var parser: HTTP1ResponseParser
        let exchange: HTTP1Exchange
        var deadline: NIODeadline
        /// When the flush that carried the request returned (monotonic nanoseconds; 0: not yet).
        var writtenAt: UInt64 = 0
        /// How often the deadline found an answer waiting unread (see ``maxLateChecks``).
        var lateChecks = 0
    }

    /// At an exchange's deadline, an answer that has arrived but is not read yet (the loop was
    /// busy) is read before the exchange is called a timeout: checked again every
    /// ``lateCheckInterval``, at most this many times.
    static let maxLateChecks = 100
    static let lateCheckInterval = TimeAmount.milliseconds(20)

    private var pending: Pending?
    /// The connection's timer and when it fires.
    private var timer: (task: Scheduled<Void>, at: NIODeadline)?
    private let readClock: SocketReadClock
    /// Bytes of the response that arrived but could not be parsed yet.
    private var unparsed: ByteBuffer?

    /// - Parameter readClock: notes the socket's reads; for TLS connections the same clock is
    ///   given to a ``SocketReadClockHandler`` before the TLS handler.
    init(readClock: SocketReadClock = SocketReadClock()) {
        self.readClock = readClock
    }

    /// The handler's place in the pipeline while it is in one (``send(_:)`` writes through it).
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// Writes and flushes `exchange`'s request now, on the connection's loop, without passing the
    /// exchange through the pipeline as a message: wrapping a class in `NIOAny` tries four dynamic
    /// casts (to `ByteBuffer`, `FileRegion`, `IOData`, `AddressedEnvelope`), each failing through
    /// the runtime's conformance look-ups — 3 % of the relay's CPU at full speed, by `perf`. The
    /// exchange ends on every path, as with ``write(context:data:promise:)``.
    func send(_ exchange: HTTP1Exchange) {
        guard let context else {
            exchange.fail(HTTP1ExchangeError.closedBeforeSend)
            return
        }
        start(exchange, context: context, promise: nil)
        flush(context: context)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        start(unwrapOutboundIn(data), context: context, promise: promise)
    }

    private func start(_ exchange: HTTP1Exchange, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard pending == nil, context.channel.isActive else {
            exchange.fail(HTTP1ExchangeError.closedBeforeSend)
            promise?.fail(HTTP1ExchangeError.closedBeforeSend)
            return
        }
        pending = Pending(parser: HTTP1ResponseParser(bodyLimit: exchange.bodyLimit), exchange: exchange, deadline: exchange.deadline)
        // A timer that fires by this deadline sets itself again if it is early.
        if timer.map({ $0.at > exchange.deadline }) ?? true { setTimer(at: exchange.deadline, context: context) }
        context.write(wrapOutboundOut(exchange.request), promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        context.flush()
        if pending?.writtenAt == 0 { pending?.writtenAt = NIODeadline.now().uptimeNanoseconds }
    }

    private func setTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        timer?.task.cancel()
        let loop = context.eventLoop.assumeIsolated()
        let task = loop.scheduleTask(deadline: deadline) { [self] in timerFired(context: context) }
        timer = (task, deadline)
    }

    /// The deadline of the exchange under way passed, or the timer is early for it. The deadline
    /// is the endpoint's: an answer already in the socket is read first, and the exchange ends by
    /// it (or times out if what arrived is not the whole answer).
    private func timerFired(context: ChannelHandlerContext) {
        timer = nil
        guard var current = pending else { return }
        let now = NIODeadline.now()
        if current.deadline > now {
            setTimer(at: current.deadline, context: context)
            return
        }
        if current.lateChecks < Self.maxLateChecks, readClock.dataWaiting(on: context.channel) {
            current.lateChecks += 1
            pending = current
            setTimer(at: now + Self.lateCheckInterval, context: context)
            return
        }
        pending = nil
        current.exchange.fail(HTTP1ExchangeError.timedOut)
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        readClock.lastRead = .now()
        var bytes = unwrapInboundIn(data)
        guard var current = pending else {
            // Nothing was asked: the connection is out of step with us.
            context.close(promise: nil)
            return
        }
        if var earlier = unparsed {
            earlier.writeBuffer(&bytes)
            bytes = earlier
            unparsed = nil
        }
        do {
            guard var response = try current.parser.feed(&bytes) else {
                pending = current
                if bytes.readableBytes > 0 { unparsed = bytes }
                return
            }
            pending = nil
            response.writtenAt = current.writtenAt
            response.answeredAt = NIODeadline.now().uptimeNanoseconds
            // Bytes beyond the response: the connection is out of step, not reusable.
            response.keepAlive = response.keepAlive && bytes.readableBytes == 0
            current.exchange.succeed(response)
            if !response.keepAlive { context.close(promise: nil) }
        } catch {
            pending = nil
            current.exchange.fail(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.task.cancel()
        timer = nil
        if var current = pending {
            pending = nil
            do {
                current.exchange.succeed(try current.parser.connectionClosed())
            } catch {
                current.exchange.fail(HTTP1ExchangeError.connectionFailed(error.description))
            }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let current = pending {
            pending = nil
            current.exchange.fail(HTTP1ExchangeError.connectionFailed(WebhookHTTPClient.describe(error)))
        }
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let end = event as? HTTP1ExchangeEnd else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard let current = pending, current.exchange.id == end.exchange else { return }
        pending = nil
        current.exchange.fail(HTTP1ExchangeError.cancelled)
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        timer?.task.cancel()
        timer = nil
    }
}
