import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import WebhookRelay

/// The admin HTTP server of a relay replica, for Kubernetes probes and operators:
///
/// - `GET /healthz`: 200 while the process runs.
/// - `GET /readyz`: 200 when the consumer joined its group and holds an assignment (possibly empty:
///   legitimately idle with more replicas than partitions), 503 before and after.
/// - `GET /endpoints`: JSON, each owned endpoint's circuit state, health score, in-flight and waiting
///   deliveries, last status and why it is disabled, if it is.
/// - `GET /metrics`: the Prometheus text exposition of the registry (see `RelayMetrics`).
///
/// Bound to 127.0.0.1 unless configured otherwise. The server is exposed to whoever can reach
/// the port (the pod network in `deploy/`), so it holds few resources: at most
/// ``Configuration/maxConnections`` connections (more wait in the kernel's queue, costing no
/// descriptor), each closed unless it sends a complete request head within
/// ``Configuration/requestTimeout``, and request heads of at most 8 KiB.
public enum AdminServer {
    /// Where the server listens, and what a client may hold.
    public struct Configuration: Sendable {
        /// The address to bind (`127.0.0.1` by default; `0.0.0.0` to expose it, e.g. in a pod).
        public var host = "127.0.0.1"
        /// The port (0 picks a free one).
        public var port = 9090
        /// Connections open at once, at most (probes and a scraper need a few).
        public var maxConnections = 32
        /// How long a connection may take to send a complete request head, from its opening or
        /// its previous answer; then it is closed. Also the keep-alive idle limit.
        public var requestTimeout: Duration = .seconds(5)
        /// The accept queue's length (`listen` backlog) beyond the open connections.
        public var backlog = 128
        /// The largest request head (the admin API's requests are small).
        public var maxRequestHeadBytes = 8_192
        /// The management API (`/v1/`): who may call it and what a request may hold.
        public var api = ManagementAPI.Configuration(tokens: nil)

        public init(host: String = "127.0.0.1", port: Int = 9090) {
            self.host = host
            self.port = port
        }
    }

    /// The server as a service; `onBound` receives the port it listens on.
    public static func service(
        _ configuration: Configuration,
        relay: RelayService,
        metrics: PrometheusCollectorRegistry? = nil,
        logger: Logger,
        onBound: @escaping @Sendable (Int) -> Void = { _ in }
    ) -> some Service {
        let router = Router()
        if let metrics {
            router.get("/metrics") { _, _ -> Response in
                var headers = HTTPFields()
                headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
                return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer())))
            }
        }
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let ready = relay.isReady
            return Response(
                status: ready ? .ok : .serviceUnavailable,
                body: ResponseBody(byteBuffer: ByteBuffer(string: ready ? "ready\n" : "not ready: no group assignment yet\n"))
            )
        }
        ManagementAPI.register(on: router, relay: relay, configuration: configuration.api)
        router.get("/endpoints") { _, _ -> Response in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = (try? encoder.encode(relay.endpointStatus)) ?? Data("[]".utf8)
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
        let factory: any MetricsFactory = metrics.map { PrometheusMetricsFactory(registry: $0) } ?? NOOPMetricsHandler.instance
        let timedOut = Counter(label: "webhook_relay_admin_connections_timed_out_total", factory: factory)
        let requestTimeout = TimeAmount(configuration.requestTimeout)
        var decoder = HTTP1Channel.Configuration.DecoderConfiguration()
        decoder.maxHeaderListSize = configuration.maxRequestHeadBytes
        decoder.maxHeaderFieldSize = configuration.maxRequestHeadBytes
        decoder.maxHeaderFieldCount = 100
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [AdminRequestDeadline(timeout: requestTimeout, timedOut: timedOut)],
            httpDecoderConfiguration: decoder
        )
        return Application(
            router: router,
            server: .http1(configuration: http1),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "webhook-relay-admin",
                backlog: configuration.backlog,
                availableConnectionsDelegate: AdminConnectionCap(limit: max(1, configuration.maxConnections), metrics: factory)
            ),
            onServerRunning: { channel in onBound(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }
}
