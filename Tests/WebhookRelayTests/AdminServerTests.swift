import AsyncHTTPClient
import Foundation
import Kafka
import ServiceLifecycle
import Testing
import WebhookReceiver
import WebhookRelay
import WebhookRelayAdmin

/// The admin server of a running replica: probes and the endpoints view, over real HTTP.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct AdminServerTests {
    @Test func probesAndEndpointsView() async throws {
        let receiverEndpoints = try [WebhookReceiver.Endpoint(id: "orders", verifier: TestSecrets.verifier(.standard))]
        try await RelayTestEnvironment.with(receiverEndpoints: receiverEndpoints) { env in
            let endpoints = try EndpointsFile.parse("endpoints:\n" + DeliveryPolicyTests.endpoint(env, "orders"), environment: [:])
            let pipeline = DeliveryPipeline(configuration: env.configuration(), endpoints: endpoints, logger: RelayTestEnvironment.logger)
            let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
            let admin = AdminServer.service(.init(port: 0), pipeline: pipeline, logger: RelayTestEnvironment.logger) { port in
                portContinuation.yield(port)
            }
            let group = ServiceGroup(configuration: .init(services: [pipeline, admin], logger: RelayTestEnvironment.logger))
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

            try await env.produce([env.delivery(endpoint: "orders", id: "msg_admin", body: [1])])
            #expect(await env.waitForRequests { $0.contains { $0.status == 204 } })
            #expect(try await get("/readyz").0 == 200)
            let (status, body) = try await get("/endpoints")
            #expect(status == 200)
            let view = try JSONDecoder().decode([EndpointStatus].self, from: Data(body.utf8))
            #expect(view.map(\.id) == ["orders"])
            #expect(view.first?.circuit == "closed")
            #expect(view.first?.healthScore == 100)
            #expect(view.first?.lastStatus == 204)

            await group.triggerGracefulShutdown()
            try await running.value
        }
    }
}
