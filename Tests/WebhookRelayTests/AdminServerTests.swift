import AsyncHTTPClient
import Foundation
import Kafka
import ServiceLifecycle
import Testing
import WebhookReceiver
import WebhookRelay
import WebhookRelayAdmin
import Prometheus

/// The admin server of a running replica: probes and the endpoints view, over real HTTP.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct AdminServerTests {
    @Test func probesEndpointsViewAndMetrics() async throws {
        let receiverEndpoints = try [
            WebhookReceiver.Endpoint(id: "orders", verifier: TestSecrets.verifier(.standard)),
            WebhookReceiver.Endpoint(id: "down", verifier: TestSecrets.verifier(.standard), behaviour: .init(alwaysFail: true, failureStatus: 500)),
        ]
        try await RelayTestEnvironment.with(schedule: "200ms", receiverEndpoints: receiverEndpoints) { env in
            let yaml = "endpoints:\n" + DeliveryPolicyTests.endpoint(env, "orders") + DeliveryPolicyTests.endpoint(env, "down")
            let endpoints = try EndpointsFile.parse(yaml, environment: [:])
            let registry = PrometheusCollectorRegistry()
            let metrics = RelayMetrics(factory: PrometheusMetricsFactory(registry: registry))
            var configuration = env.configuration()
            configuration.latencyWindow = .seconds(2)
            let relay = RelayService(configuration: configuration, endpoints: endpoints, logger: RelayTestEnvironment.logger, metrics: metrics)
            let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
            let admin = AdminServer.service(.init(port: 0), relay: relay, metrics: registry, logger: RelayTestEnvironment.logger) { port in
                portContinuation.yield(port)
            }
            let group = ServiceGroup(configuration: .init(services: [relay, admin], logger: RelayTestEnvironment.logger))
            let running = Task { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let base = "http://127.0.0.1:\(port)"

            func get(_ path: String) async throws -> (Int, String) {
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + path), timeout: .seconds(5))
                let body = try await response.body.collect(upTo: 1 << 20)
                return (Int(response.status.code), String(buffer: body))
            }

            #expect(try await get("/healthz").0 == 200)
            // The mock broker's first group join takes 3 s: not ready before it.
            #expect(try await get("/readyz").0 == 503)

            try await env.produce((0..<3).map { env.delivery(endpoint: "orders", id: "msg_admin_\($0)", body: [1]) })
            try await env.produce([env.delivery(endpoint: "down", id: "msg_down", body: [2])])
            _ = try await env.read(topic: env.topics.deadLetters, count: 1)
            let reached = await env.waitForRequests { $0.filter { $0.status == 204 }.count == 3 }
            #expect(reached)
            #expect(try await get("/readyz").0 == 200)
            let (status, body) = try await get("/endpoints")
            #expect(status == 200)
            let view = try JSONDecoder().decode([EndpointStatus].self, from: Data(body.utf8))
            #expect(view.map(\.id) == ["down", "orders"])
            #expect(view.last?.circuit == "closed")
            #expect(view.last?.healthScore == 100)
            #expect(view.last?.lastStatus == 204)
            #expect(view.first?.healthScore == 80, "two consecutive failures")

            try await Task.sleep(for: .milliseconds(1_200))  // gauges are sampled every second
            let (metricsStatus, exposition) = try await get("/metrics")
            #expect(metricsStatus == 200)
            func value(_ name: String, _ labels: [String] = []) -> Double? {
                exposition.split(separator: "\n").first { line in
                    line.hasPrefix(name + "{") || line.hasPrefix(name + " ")
                        ? labels.allSatisfy { line.contains($0) } : false
                }.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
            }
            #expect(value("webhook_relay_deliveries_total", [#"endpoint="orders""#, #"outcome="delivered""#]) == 3)
            #expect(value("webhook_relay_deliveries_total", [#"endpoint="down""#, #"outcome="failed_attempt""#]) == 2)
            #expect(value("webhook_relay_deliveries_total", [#"endpoint="down""#, #"outcome="retried""#]) == 1)
            #expect(value("webhook_relay_deliveries_total", [#"endpoint="down""#, #"outcome="dead_lettered""#]) == 1)
            #expect(value("webhook_relay_retries_total", [#"tier="200ms""#]) == 1)
            #expect(value("webhook_relay_dead_letters_total", [#"reason="exhausted""#]) == 1)
            #expect(value("webhook_relay_attempt_duration_seconds_count", [#"endpoint="orders""#]) == 3)
            #expect(value("webhook_relay_endpoint_health_score", [#"endpoint="orders""#]) == 100)
            #expect(value("webhook_relay_circuit_state", [#"endpoint="down""#]) == 0)
            #expect(value("webhook_relay_attempts_in_flight") == 0)
            #expect(value("webhook_relay_producer_queue_depth") == 0)
            #expect(exposition.contains("webhook_relay_consumer_lag{"))
            // The relay's own latency, over 2-second windows here: a window that saw some of the four
            // first attempts (three deliveries, one 503; none waited for its endpoint) shows them
            // once complete.
            var latency = exposition
            func measured() -> Double? {
                latency.split(separator: "\n").first { $0.hasPrefix(#"webhook_relay_internal_latency_records{stage="answered"}"#) }
                    .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
            }
            for _ in 0..<40 where (measured() ?? 0) == 0 {
                try await Task.sleep(for: .milliseconds(200))
                latency = try await get("/metrics").1
            }
            func latencyValue(_ labels: [String]) -> Double? {
                latency.split(separator: "\n").first { $0.hasPrefix("webhook_relay_internal_latency_seconds{") && labels.allSatisfy($0.contains) }
                    .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
            }
            #expect((1...4).contains(measured() ?? 0), "three deliveries and one failed first attempt at most")
            let p50 = try #require(latencyValue([#"stage="answered""#, #"quantile="0.5""#]))
            let maximum = try #require(latencyValue([#"stage="answered""#, #"quantile="1""#]))
            let written = try #require(latencyValue([#"stage="written""#, #"quantile="1""#]))
            #expect(p50 > 0 && p50 <= maximum && maximum < 5, "handed over → answered: \(p50) … \(maximum) s")
            #expect(written > 0 && written <= maximum, "written before answered")

            await group.triggerGracefulShutdown()
            try await running.value
        }
    }

    /// Issue 15, defect 2: connections that never finished a request head held a descriptor
    /// forever; 600 of them under `ulimit -n 400` made deliveries fail, then crashed the process.
    /// Now such a connection is closed after the request timeout, and at the connection cap the
    /// server stops accepting (the kernel queues the rest, at no descriptor of ours).
    @Test func slowAndIdleConnectionsAreClosedAndTheirNumberIsCapped() async throws {
        let topics = try RelayTopics(prefix: "admin", schedule: RetrySchedule(parsing: "1s"))
        let relay = RelayService(
            configuration: RelayConfiguration(bootstrapServers: "127.0.0.1:1", topics: topics), endpoints: [], logger: RelayTestEnvironment.logger
        )
        let registry = PrometheusCollectorRegistry()
        var configuration = AdminServer.Configuration(port: 0)
        configuration.maxConnections = 2
        configuration.requestTimeout = .seconds(1)
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let admin = AdminServer.service(configuration, relay: relay, metrics: registry, logger: RelayTestEnvironment.logger) { port in
            portContinuation.yield(port)
        }
        let group = ServiceGroup(configuration: .init(services: [admin], logger: RelayTestEnvironment.logger))
        let running = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())

        // A request head that never ends is closed once the timeout passes, not held.
        let slow = try #require(RawTCPConnection(port: port))
        let clock = ContinuousClock()
        let started = clock.now
        slow.send("GET /healthz HTTP/1.1\r\nHost: relay\r\n")
        let (_, slowClosed) = slow.read(for: .seconds(5))
        let held = clock.now - started
        #expect(slowClosed, "the server kept a connection that never finished its request head")
        #expect(held >= .milliseconds(900) && held < .seconds(4), "closed after \(held)")

        // Two idle connections fill the cap: a third is not served until they are closed.
        let idle = try [#require(RawTCPConnection(port: port)), #require(RawTCPConnection(port: port))]
        try await Task.sleep(for: .milliseconds(100))
        let waiting = try #require(RawTCPConnection(port: port))
        waiting.send("GET /healthz HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
        let early = waiting.read(for: .milliseconds(500))
        #expect(early.text.isEmpty && !early.closed, "served beyond the cap: \(early.text)")
        let late = waiting.read(for: .seconds(5))
        #expect(late.text.hasPrefix("HTTP/1.1 200"), "the waiting connection was not served once the cap had room: \(late.text)")
        #expect(idle.allSatisfy { $0.read(for: .milliseconds(100)).closed })

        let exposition = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        func value(_ name: String) -> Double? {
            exposition.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        }
        #expect((value("webhook_relay_admin_connections_timed_out_total") ?? 0) >= 3, "\(exposition)")
        #expect((value("webhook_relay_admin_connections_deferred_total") ?? 0) >= 1)
        await group.triggerGracefulShutdown()
        try await running.value
    }
}
