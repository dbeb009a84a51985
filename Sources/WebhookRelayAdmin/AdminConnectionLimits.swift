import HummingbirdCore
import Metrics
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Caps the admin server's open connections. At the cap the server stops accepting: further
/// connections wait in the kernel's accept queue, where they cost the process no file
/// descriptor, so a flood of the admin port cannot take the descriptors deliveries need.
/// `webhook_relay_admin_connections` is the open count, and
/// `webhook_relay_admin_connections_deferred_total` counts the times a connection had to wait.
struct AdminConnectionCap: AvailableConnectionsDelegate {
    let limit: Int
    private let open = OpenCount()
    private let gauge: Gauge
    private let deferred: Counter

    init(limit: Int, metrics: any MetricsFactory) {
        self.limit = limit
        gauge = Gauge(label: "webhook_relay_admin_connections", factory: metrics)
        deferred = Counter(label: "webhook_relay_admin_connections_deferred_total", factory: metrics)
    }

    mutating func connectionOpened() {
        gauge.record(open.add(1))
    }

    mutating func connectionClosed() {
        gauge.record(open.add(-1))
    }

    func isAcceptingNewConnections() -> Bool {
        let accepting = open.value < limit
        if !accepting { deferred.increment() }
        return accepting
    }
}

/// The number of open connections, shared by the copies of the delegate.
private final class OpenCount: Sendable {
    private let count = Atomic(0)

    func add(_ delta: Int) -> Int { count.add(delta, ordering: .relaxed).newValue }

    var value: Int { count.load(ordering: .relaxed) }
}

/// Closes an admin connection that has not sent a complete request head within `timeout` of
/// opening or of its previous answer: idle keep-alive connections and clients that send a
/// request slowly or never finish it (which used to hold their descriptor forever).
/// `webhook_relay_admin_connections_timed_out_total` counts them.
final class AdminRequestDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let timeout: TimeAmount
    private let timedOut: Counter
    private var timer: Scheduled<Void>?

    init(timeout: TimeAmount, timedOut: Counter) {
        self.timeout = timeout
        self.timedOut = timedOut
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context) }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer?.cancel()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let counter = timedOut
        timer = context.eventLoop.scheduleTask(in: timeout) {
            counter.increment()
            loopBound.value.close(promise: nil)
        }
    }
}
