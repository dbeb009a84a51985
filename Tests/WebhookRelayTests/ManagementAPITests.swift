import AsyncHTTPClient
import Foundation
import Kafka
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Testing
import WebhookReceiver
@testable import WebhookRelay
import WebhookRelayAdmin
import WebhookSignature

/// The management API over real HTTP, on replicas in registry mode against the embedded broker.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct ManagementAPITests {
    static let token = "test-token-0123456789abcdef"

    /// Replicas in registry mode, the first with the admin server (and the API) on a free port.
    final class Cluster: Sendable {
        let replicas: [RelayService]
        let base: String
        private let group: ServiceGroup
        private let running: Task<Void, any Error>

        init(env: RelayTestEnvironment, replicas count: Int, tokens: AccessTokens?) async throws {
            let keyring = EndpointRegistryTopicTests.keyring
            replicas = (0..<count).map { _ in
                RelayService(configuration: env.configuration(), source: .registry(keyring: keyring), logger: RelayTestEnvironment.logger)
            }
            var configuration = AdminServer.Configuration(port: 0)
            configuration.api.tokens = tokens
            let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
            let admin = AdminServer.service(configuration, relay: replicas[0], logger: RelayTestEnvironment.logger) { portContinuation.yield($0) }
            let group = ServiceGroup(configuration: .init(services: replicas + [admin], logger: RelayTestEnvironment.logger))
            self.group = group
            running = Task { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            base = "http://127.0.0.1:\(await iterator.next() ?? 0)"
            let replicas = self.replicas
            _ = await RelayTestEnvironment.eventually(timeout: .seconds(60)) { replicas.allSatisfy { $0.endpointManager != nil } }
        }

        func stop() async throws {
            await group.triggerGracefulShutdown()
            try await running.value
        }

        /// A request with the token (unless `token` says otherwise); the status and the JSON body.
        func call(_ method: HTTPMethod, _ path: String, _ body: String? = nil, token: String? = ManagementAPITests.token) async throws -> (Int, [String: Any]) {
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            if let body { request.body = .bytes(ByteBuffer(string: body)) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            let object = (try? JSONSerialization.jsonObject(with: Data(buffer: bytes))) as? [String: Any] ?? [:]
            if response.status.code >= 400 {
                #expect(response.headers.first(name: "content-type") == "application/problem+json", "\(method) \(path)")
                #expect(object["status"] as? Int == Int(response.status.code) && object["detail"] is String)
            }
            return (Int(response.status.code), object)
        }

        /// Waits until `inEffect` holds on every replica; returns how long that took.
        func everywhere(_ inEffect: @escaping (EndpointAnswer) -> Bool, id: String) async -> Duration? {
            let clock = ContinuousClock(), started = clock.now
            let replicas = self.replicas
            let done = await RelayTestEnvironment.eventually(timeout: .seconds(5), interval: .milliseconds(5)) {
                replicas.allSatisfy { inEffect($0.registry.answer(id)) }
            }
            return done ? clock.now - started : nil
        }
    }

    @Test func createDeliverRotateDisableEnableDeleteOnThreeReplicasLosingNothing() async throws {
        let old = TestSecrets.standard, new = SecretGenerator.standardSecret().exposeSecret()
        let receiverEndpoints = [WebhookReceiver.Endpoint(id: "api", verifier: try WebhookVerifier(scheme: .standard, secrets: [old, new]))]
        try await RelayTestEnvironment.with(receiverEndpoints: receiverEndpoints) { env in
            let cluster = try await Cluster(env: env, replicas: 3, tokens: try AccessTokens(parsing: Self.token))
            var effective: [String: Duration] = [:]
            func change(_ name: String, _ request: () async throws -> Int, expect status: Int, _ inEffect: @escaping (EndpointAnswer) -> Bool) async throws {
                let clock = ContinuousClock(), started = clock.now
                #expect(try await request() == status, "\(name)")
                let applied = await cluster.everywhere(inEffect, id: "api")
                #expect(applied != nil, "\(name) not in effect on every replica")
                effective[name] = clock.now - started
            }
            func isFound(_ lookup: EndpointAnswer) -> Bool { if case .found = lookup { true } else { false } }
            func send(_ prefix: String, _ count: Int) async throws -> [String] {
                let ids = (0..<count).map { "msg_\(prefix)_\($0)" }
                try await env.produce(ids.map { env.delivery(endpoint: "api", id: $0, body: Array("{}".utf8), partition: 0) })
                return ids
            }
            func delivered(_ ids: [String]) async -> Bool {
                await env.waitForRequests(timeout: .seconds(30)) { requests in Set(ids).isSubset(of: Set(requests.filter { $0.status == 204 }.map(\.webhookID))) }
            }

            let created = "{\"id\":\"api\",\"url\":\"\(env.receiverURL)/api\",\"secrets\":[\"\(old)\"]}"
            try await change("create", { try await cluster.call(.POST, "/v1/endpoints", created).0 }, expect: 201, isFound)
            let first = try await send("first", 10)
            #expect(await delivered(first))
            // Any replica answers for the endpoint's status, from its owner's snapshot.
            let reported = await RelayTestEnvironment.eventually(timeout: .seconds(10), interval: .milliseconds(100)) {
                guard let status = try? cluster.replicas[0].endpointManager?.status("api"),
                    let fields = EndpointDocument.fields(status)
                else { return false }
                return fields["last_status"] as? Int == 204 && fields["last_success_at"] is Int && fields["circuit"] as? String == "closed"
            }
            #expect(reported)
            let (statusCode, status) = try await cluster.call(.GET, "/v1/endpoints/api/status")
            #expect(statusCode == 200 && status["health_score"] as? Int == 100 && status["owned_here"] is Bool, "\(status)")

            try await change("rotate", {
                try await cluster.call(.POST, "/v1/endpoints/api/rotate-secret", "{\"secret\":\"\(new)\",\"grace\":\"3s\"}").0
            }, expect: 200) { lookup in
                guard case .found(let endpoint) = lookup else { return false }
                return ((try? endpoint.endpoint.signer.headers(id: "m", timestamp: 1, body: [1]).first { $0.name == "webhook-signature" }?.value) ?? nil)?
                    .split(separator: " ").count == 2
            }
            let during = try await send("during", 10)
            #expect(await delivered(during))
            try await Task.sleep(for: .seconds(3.5))
            let after = try await send("after", 10)
            #expect(await delivered(after))

            try await change("disable", { try await cluster.call(.POST, "/v1/endpoints/api/disable", "{\"reason\":\"maintenance\"}").0 }, expect: 200) {
                if case .disabled(_, "maintenance") = $0 { true } else { false }
            }
            let whileDisabled = try await send("disabled", 5)
            let disabledDead = try await env.read(topic: env.topics.deadLetters, count: 5)
            try await change("enable", { try await cluster.call(.POST, "/v1/endpoints/api/enable").0 }, expect: 200, isFound)
            let (summary, _) = try await Republisher(bootstrapServers: env.broker.bootstrapServers, topics: env.topics, logger: RelayTestEnvironment.logger)
                .run(Republisher.Options())
            #expect(summary.republished == 5)
            #expect(await delivered(whileDisabled), "republished once enabled: nothing lost")
            try await change("delete", { try await cluster.call(.DELETE, "/v1/endpoints/api").0 }, expect: 204) {
                if case .deleted = $0 { true } else { false }
            }
            _ = try await send("deleted", 3)
            let allDead = try await env.read(topic: env.topics.deadLetters, count: 8)
            try await cluster.stop()

            print("api: in effect on 3 replicas after \(effective)")
            // Each change was told on the operational topic (by the replica owning the endpoint's partition).
            let told = try await env.read(topic: env.topics.operational, count: 20, timeout: .seconds(10))
                .filter { $0.key == Array("api".utf8) }.compactMap { $0.headers.first { $0.key == "webhook-event" }?.stringValue }
            print("api: operational events \(told)")
            #expect(Set(told) == ["endpoint.created", "endpoint.updated", "endpoint.disabled", "endpoint.enabled", "endpoint.deleted"], "\(told)")
            #expect(effective.values.allSatisfy { $0 < .seconds(1) }, "\(effective)")
            #expect(disabledDead.allSatisfy { $0.headers.first(named: RelayHeader.deadLetterReason)?.stringValue == "endpoint_disabled" })
            #expect(allDead.filter { $0.headers.first(named: RelayHeader.deadLetterReason)?.stringValue == "endpoint_deleted" }.count == 3)
            // The receiver verified with the old secret, then either, then the new one only.
            func verifies(_ id: String, with secret: String) -> Bool {
                guard let request = env.receiver.requests.first(where: { $0.webhookID == id }),
                    let verifier = try? WebhookVerifier(scheme: .standard, secrets: [secret])
                else { return false }
                let at = Date(timeIntervalSince1970: Double(request.receivedAtMilliseconds) / 1_000)
                return (try? verifier.verify(headers: WebhookHeaders(request.headers), body: request.body, now: at)) != nil
            }
            #expect(first.allSatisfy { verifies($0, with: old) && !verifies($0, with: new) })
            #expect(during.allSatisfy { verifies($0, with: old) && verifies($0, with: new) })
            #expect(after.allSatisfy { !verifies($0, with: old) && verifies($0, with: new) })
            #expect(env.receiver.requests.allSatisfy { $0.verified })
        }
    }

    @Test func badRequestsGetAProblemAndChangeNothing() async throws {
        try await RelayTestEnvironment.with(receiverEndpoints: []) { env in
            let cluster = try await Cluster(env: env, replicas: 1, tokens: try AccessTokens(parsing: Self.token))
            let good = "{\"id\":\"kept\",\"url\":\"https://hooks.example.com/kept\",\"secrets\":[\"\(TestSecrets.standard)\"]}"
            let (createdStatus, created) = try await cluster.call(.POST, "/v1/endpoints", good)
            #expect(createdStatus == 201 && (created["generated_secrets"] as? [String]) == [])
            let before = try await cluster.call(.GET, "/v1/endpoints").1["data"] as? [[String: Any]]
            let huge = "{\"id\":\"big\",\"url\":\"https://x.example.com\",\"pad\":\"" + String(repeating: "a", count: 70_000) + "\"}"
            for (method, path, body, token, status) in [
                (HTTPMethod.GET, "/v1/endpoints", nil, nil, 401), (.POST, "/v1/endpoints", good, "wrong-token-0000000000000", 401),
                (.POST, "/v1/endpoints", good, Self.token, 409), (.POST, "/v1/endpoints", "{not json", Self.token, 422),
                (.POST, "/v1/endpoints", "[1,2]", Self.token, 422),
                (.POST, "/v1/endpoints", "{\"id\":\"x\",\"url\":\"https://h.example.com\",\"retries\":3}", Self.token, 422),
                (.POST, "/v1/endpoints", "{\"id\":\"x\",\"url\":\"ftp://h.example.com\"}", Self.token, 422),
                (.POST, "/v1/endpoints", "{\"id\":\"x\",\"url\":\"https://h.example.com\",\"secrets\":[\"nope\"]}", Self.token, 422),
                (.POST, "/v1/endpoints", huge, Self.token, 413), (.PATCH, "/v1/endpoints/kept", "{\"id\":\"other\"}", Self.token, 422),
                (.PATCH, "/v1/endpoints/missing", "{}", Self.token, 404), (.DELETE, "/v1/endpoints/missing", nil, Self.token, 404),
                (.GET, "/v1/endpoints?limit=0", nil, Self.token, 400),
                (.POST, "/v1/endpoints/kept/rotate-secret", "{\"grace\":\"soon\"}", Self.token, 400),
                (.POST, "/v1/endpoints/kept/rotate-secret", "{\"grace\":\"106751991167d\"}", Self.token, 400),
                // References name what the replicas hold: operators set them, not API callers.
                (.POST, "/v1/endpoints", "{\"id\":\"x\",\"url\":\"https://h.example.com\",\"secrets\":[\"env:HOME\"]}", Self.token, 422),
                (.POST, "/v1/endpoints/kept/rotate-secret", "{\"secret\":\"file:/etc/hostname\"}", Self.token, 422),
                (.PATCH, "/v1/endpoints/kept", "{\"retiring_secrets\":[{\"secret\":\"nope-plaintext\",\"until\":99999999999999}]}", Self.token, 422),
                (.PATCH, "/v1/endpoints/kept", "{\"headers\":{\"Authorization\":\"****\"}}", Self.token, 422),
            ] as [(HTTPMethod, String, String?, String?, Int)] {
                let (answered, problem) = try await cluster.call(method, path, body, token: token)
                #expect(answered == status, "\(method) \(path): \(answered) \(problem)")
                #expect(!(problem["detail"] as? String ?? "").contains("nope"), "a given secret is never echoed")
            }
            let after = try await cluster.call(.GET, "/v1/endpoints").1["data"] as? [[String: Any]]
            #expect(after?.count == 1 && before?.count == 1 && (after?.first?["secrets"] as? [String]) == ["enc:v1:k1:****"])

            // Credential headers are masked in answers; a merge patch merges them; a document read
            // (masked) and written back keeps what its masks stand for.
            let headers = "{\"headers\":{\"Authorization\":\"Bearer hdr-credential-1\",\"X-Tenant\":\"acme\"}}"
            let (patched, patchedDocument) = try await cluster.call(.PATCH, "/v1/endpoints/kept", headers)
            let shown = (patchedDocument["endpoint"] as? [String: Any])?["headers"] as? [String: String]
            #expect(patched == 200 && shown == ["Authorization": "****", "X-Tenant": "acme"], "\(patchedDocument)")
            #expect(try await cluster.call(.PATCH, "/v1/endpoints/kept", "{\"headers\":{\"X-Tenant\":\"beta\"}}").0 == 200)
            let read = try await cluster.call(.GET, "/v1/endpoints/kept").1
            let written = String(decoding: try JSONSerialization.data(withJSONObject: read), as: UTF8.self)
            #expect(try await cluster.call(.PUT, "/v1/endpoints/kept", written).0 == 200, "a read document written back")
            let manager = try #require(cluster.replicas[0].endpointManager)
            let kept = try #require(manager.catalog.documents["kept"].flatMap(EndpointDocument.fields))
            #expect(kept["secrets"] as? [String] != ["enc:v1:k1:****"] && (kept["secrets"] as? [String])?.first?.hasPrefix("enc:v1:k1:") == true)
            #expect(kept["headers"] as? [String: String] == ["Authorization": "Bearer hdr-credential-1", "X-Tenant": "beta"])
            // A retiring secret's deadline is no further away than a rotation can set it.
            #expect(try await cluster.call(.POST, "/v1/endpoints/kept/rotate-secret", "{\"grace\":\"1h\"}").0 == 200)
            let farDeadline = "{\"retiring_secrets\":[{\"secret\":\"enc:v1:k1:****\",\"until\":99999999999999}]}"
            let (refusedDeadline, deadlineProblem) = try await cluster.call(.PATCH, "/v1/endpoints/kept", farDeadline)
            #expect(refusedDeadline == 422 && (deadlineProblem["detail"] as? String)?.contains("30 days") == true, "\(deadlineProblem)")
            try await cluster.stop()
            // The topic itself holds no plaintext secret.
            let raw = try await env.read(topic: env.topics.endpoints, count: 1)
            #expect(!raw.contains { String(decoding: $0.value, as: UTF8.self).contains(TestSecrets.standard) })
        }
    }

    @Test func withoutATokenTheWriteRoutesAreOff() async throws {
        try await RelayTestEnvironment.with(receiverEndpoints: []) { env in
            let cluster = try await Cluster(env: env, replicas: 1, tokens: nil)
            #expect(try await cluster.call(.GET, "/v1/endpoints", token: nil).0 == 200)
            let (status, problem) = try await cluster.call(.POST, "/v1/endpoints", "{\"id\":\"x\",\"url\":\"https://h.example.com\"}", token: nil)
            #expect(status == 403 && (problem["detail"] as? String)?.contains("--api-token") == true)
            try await cluster.stop()
        }
    }
}
