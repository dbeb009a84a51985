import Foundation
import Kafka
import Testing
import WebhookReceiver
@testable import WebhookRelay
import WebhookSignature

/// The endpoint registry topic against the embedded broker: replicas load it at start, follow it
/// live, and dead-letter the records of deleted and disabled endpoints with their own reasons.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct EndpointRegistryTopicTests {
    static let keyring: SecretKeyring = {
        do { return try SecretKeyring(parsing: SecretKeyring.generateKeyLine(id: "k1")) } catch { fatalError("\(error)") }
    }()

    /// The document of an endpoint on the test receiver, its secret sealed.
    static func document(_ id: String, path: String? = nil, disabled: String? = nil, env: RelayTestEnvironment) throws -> [UInt8] {
        var fields: [String: Any] = [
            "id": id, "url": "\(env.receiverURL)/\(path ?? id)", "secrets": [try keyring.seal(TestSecrets.standard, endpointID: id)],
        ]
        if let disabled {
            fields["disabled"] = true
            fields["disabled_reason"] = disabled
        }
        return try EndpointDocument.encode(fields)
    }

    static func put(_ id: String, _ document: [UInt8], env: RelayTestEnvironment) -> KafkaProducerRecord {
        KafkaProducerRecord(topic: env.topics.endpoints, key: Array(id.utf8), value: document)
    }

    @Test func aReplicaStartedAfterTenThousandChangesIsReadyWithTheRightFiveThousandEndpoints() async throws {
        let receiverEndpoints = try ["e4000", "e1500"].map { WebhookReceiver.Endpoint(id: $0, verifier: try TestSecrets.verifier(.standard)) }
        try await RelayTestEnvironment.with(receiverEndpoints: receiverEndpoints) { env in
            // 6,000 created, 2,000 updated, 1,000 deleted, 1,000 disabled: 10,000 changes, 5,000 endpoints.
            var changes: [KafkaProducerRecord] = []
            for index in 0..<6_000 { changes.append(Self.put("e\(index)", try Self.document("e\(index)", path: "old", env: env), env: env)) }
            for index in 0..<2_000 { changes.append(Self.put("e\(index)", try Self.document("e\(index)", env: env), env: env)) }
            for index in 5_000..<6_000 { changes.append(.tombstone(topic: env.topics.endpoints, key: Array("e\(index)".utf8))) }
            for index in 0..<1_000 { changes.append(Self.put("e\(index)", try Self.document("e\(index)", disabled: "paused", env: env), env: env)) }
            #expect(changes.count == 10_000)
            try await env.produce(changes)

            let clock = ContinuousClock()
            let started = clock.now
            let replica = env.startRegistryReplica(keyring: Self.keyring)
            let ready = await RelayTestEnvironment.eventually(timeout: .seconds(60)) { replica.relay.isReady }
            let took = clock.now - started
            print("registry: ready after \(took) with \(replica.relay.registry.count) endpoints from 10,000 changes")
            #expect(ready)
            #expect(replica.relay.registry.count == 5_000)
            guard case .found(let updated) = replica.relay.registry.answer("e1500") else {
                Issue.record("e1500 not found")
                return
            }
            #expect(updated.endpoint.url.hasSuffix("/e1500"), "the last version wins: \(updated.endpoint.url)")
            guard case .disabled(_, let reason) = replica.relay.registry.answer("e500") else {
                Issue.record("e500 not disabled")
                return
            }
            #expect(reason == "paused")
            guard case .deleted = replica.relay.registry.answer("e5500") else {
                Issue.record("e5500 not deleted")
                return
            }
            guard case .found(let untouched) = replica.relay.registry.answer("e4000") else { return }
            #expect(untouched.endpoint.url.hasSuffix("/old"))

            // And records follow it: delivered, disabled, deleted, unknown.
            try await env.produce([
                env.delivery(endpoint: "e1500", id: "msg_updated", body: [1]), env.delivery(endpoint: "e500", id: "msg_disabled", body: [2]),
                env.delivery(endpoint: "e5500", id: "msg_deleted", body: [3]), env.delivery(endpoint: "e9999", id: "msg_unknown", body: [4]),
            ])
            let dead = try await env.read(topic: env.topics.deadLetters, count: 3)
            let reached = await env.waitForRequests { $0.contains { $0.webhookID == "msg_updated" && $0.status == 204 } }
            try await replica.stop()
            #expect(reached)
            let reasons = Dictionary(dead.map { ($0.headers.first(named: "webhook-id")?.stringValue ?? "?", $0.headers.first(named: RelayHeader.deadLetterReason)?.stringValue ?? "?") }) { first, _ in first }
            #expect(reasons == ["msg_disabled": "endpoint_disabled", "msg_deleted": "endpoint_deleted", "msg_unknown": "unknown_endpoint"])
        }
    }

    @Test func threeReplicasApplyEachChangeWithinASecondWithoutARestart() async throws {
        let receiverEndpoints = try [WebhookReceiver.Endpoint(id: "live", verifier: TestSecrets.verifier(.standard))]
        try await RelayTestEnvironment.with(receiverEndpoints: receiverEndpoints) { env in
            try await env.produce([Self.put("live", try Self.document("live", path: "first", env: env), env: env)])
            let replicas = (0..<3).map { _ in env.startRegistryReplica(keyring: Self.keyring) }
            let allReady = await RelayTestEnvironment.eventually(timeout: .seconds(60)) { replicas.allSatisfy(\.relay.isReady) }
            #expect(allReady)
            func url(_ replica: RelayTestEnvironment.Replica) -> String? {
                if case .found(let endpoint) = replica.relay.registry.answer("live") { endpoint.endpoint.url } else { nil }
            }
            func disabled(_ replica: RelayTestEnvironment.Replica) -> Bool {
                if case .disabled = replica.relay.registry.answer("live") { true } else { false }
            }
            func deleted(_ replica: RelayTestEnvironment.Replica) -> Bool {
                if case .deleted = replica.relay.registry.answer("live") { true } else { false }
            }
            let clock = ContinuousClock()
            var slowest: [Duration] = []
            // Each change, acknowledged by the broker, is in effect on every replica within a second.
            let steps: [(KafkaProducerRecord, (RelayTestEnvironment.Replica) -> Bool)] = [
                (Self.put("live", try Self.document("live", env: env), env: env), { url($0)?.hasSuffix("/live") == true }),
                (Self.put("live", try Self.document("live", disabled: "maintenance", env: env), env: env), disabled),
                (Self.put("live", try Self.document("live", env: env), env: env), { url($0) != nil }),
                (.tombstone(topic: env.topics.endpoints, key: Array("live".utf8)), deleted),
            ]
            // Timed from the write on a running producer, as the API writes (a fresh librdkafka
            // producer may wait for its 1 s topic scan before it knows the topic's leader: its start,
            // not the registry's write-to-effect time).
            var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: env.broker.bootstrapServers)
            producerConfiguration.linger = .milliseconds(1)
            try await KafkaProducer.withProducer(configuration: producerConfiguration, logger: RelayTestEnvironment.logger) { producer in
                _ = try await producer.partitionCounts(of: [env.topics.endpoints])
                for (change, inEffect) in steps {
                    let written = clock.now
                    _ = try await producer.send(change)
                    let applied = await RelayTestEnvironment.eventually(timeout: .seconds(5), interval: .milliseconds(5)) {
                        replicas.allSatisfy(inEffect)
                    }
                    slowest.append(clock.now - written)
                    #expect(applied)
                }
            }
            print("registry: changes in effect on 3 replicas after \(slowest)")
            #expect(slowest.allSatisfy { $0 < .seconds(1) }, "\(slowest)")
            for replica in replicas { try await replica.stop() }
        }
    }

    @Test func aReplicaWithoutTheKeyOfASealedSecretRefusesToStart() async throws {
        try await RelayTestEnvironment.with(receiverEndpoints: []) { env in
            try await env.produce([Self.put("sealed", try Self.document("sealed", env: env), env: env)])
            let other = try SecretKeyring(parsing: SecretKeyring.generateKeyLine(id: "k2"))
            for keyring in [nil, other] {
                let relay = RelayService(configuration: env.configuration(), source: .registry(keyring: keyring), logger: RelayTestEnvironment.logger)
                let error = await #expect(throws: ConfigurationError.self) { try await relay.run() }
                #expect(error?.message.contains("endpoint 'sealed' in the registry has a secret sealed with") == true, "\(String(describing: error))")
                #expect(error?.message.contains(keyring == nil ? "a registry key" : "key 'k1'") == true)
                #expect(error.map { !$0.message.contains(TestSecrets.standard) } == true)
            }
            // Resealed with the new key (`endpoints reseal`): the old record is still in the log
            // (nothing compacts it yet), but only an endpoint's latest record counts.
            let resealed = try EndpointDocument.encode([
                "id": "sealed", "url": "\(env.receiverURL)/sealed", "secrets": [try other.seal(TestSecrets.standard, endpointID: "sealed")],
            ])
            try await env.produce([Self.put("sealed", resealed, env: env)])
            let replica = env.startRegistryReplica(keyring: other)
            #expect(await RelayTestEnvironment.eventually(timeout: .seconds(30)) { replica.relay.isReady }, "starts with the new key alone")
            if case .found = replica.relay.registry.answer("sealed") {} else { Issue.record("the resealed endpoint is not loaded") }
            try await replica.stop()
        }
    }

    /// A rotation with a grace period: receivers verifying with the old secret or the new one keep
    /// working until the deadline; after it, only the new one signs (Standard Webhooks: one
    /// signature per secret; nSelf: the old signs until the deadline, then the new).
    @Test(arguments: [SignatureScheme.standard, .nself, .ed25519])
    func aRotatedSecretKeepsTheOldOneSigningUntilItsDeadline(scheme: SignatureScheme) async throws {
        let newPair = SecretGenerator.ed25519KeyPair()
        let (old, new): (String, String) = switch scheme {
        case .standard: (TestSecrets.standard, SecretGenerator.standardSecret().exposeSecret())
        case .nself: (TestSecrets.nself, "nself-new-secret-9876543210")
        case .ed25519: (TestSecrets.ed25519.exposeSecret(), newPair.signingKey.exposeSecret())
        }
        // What receivers verify with: the secret itself, or for Ed25519 the public key.
        let oldPublic = TestSecrets.ed25519.verifyingKey.serialized, newPublic = newPair.verifyingKey.serialized
        let verifying: @Sendable (String) -> String = { secret in
            guard scheme == .ed25519 else { return secret }
            return secret == old ? oldPublic : newPublic
        }
        // The receiver accepts either; each request is checked below against each secret alone.
        let either = try WebhookVerifier(scheme: scheme, secrets: [verifying(old), verifying(new)])
        let receiverEndpoints = [WebhookReceiver.Endpoint(id: "rotating", verifier: either)]
        try await RelayTestEnvironment.with(receiverEndpoints: receiverEndpoints) { env in
            func document(_ fields: [String: Any]) throws -> KafkaProducerRecord {
                var fields = fields
                fields["id"] = "rotating"
                fields["url"] = "\(env.receiverURL)/rotating"
                fields["scheme"] = scheme.rawValue
                return Self.put("rotating", try EndpointDocument.encode(fields), env: env)
            }
            let sealedOld = try Self.keyring.seal(old, endpointID: "rotating"), sealedNew = try Self.keyring.seal(new, endpointID: "rotating")
            try await env.produce([try document(["secrets": [sealedOld]])])
            let replica = env.startRegistryReplica(keyring: Self.keyring)
            #expect(await RelayTestEnvironment.eventually(timeout: .seconds(60)) { replica.relay.isReady })
            // Each change the replica applies makes the endpoint a new instance.
            func current() -> ObjectIdentifier? {
                if case .found(let endpoint) = replica.relay.registry.answer("rotating") { ObjectIdentifier(endpoint) } else { nil }
            }
            func replaced(_ instance: ObjectIdentifier?, within timeout: Duration) async -> ObjectIdentifier? {
                guard await RelayTestEnvironment.eventually(timeout: timeout, { current().map { $0 != instance } ?? false }) else { return nil }
                return current()
            }
            let before = current()
            let now = WallClock.nowMilliseconds
            let rotated = EndpointDocument.rotated(["secrets": [sealedOld]], to: [sealedNew], grace: .seconds(3), now: now)
            try await env.produce([try document(rotated)])
            // The registry and the deliveries are different topics, read by different consumers:
            // nothing orders a delivery produced after a change behind the change. Wait until the
            // replica applied the rotation before producing one.
            let rotatedInstance = await replaced(before, within: .seconds(2))
            #expect(rotatedInstance != nil, "the rotation is in effect")
            try await env.produce([env.delivery(endpoint: "rotating", id: "msg_during", body: Array("{}".utf8))])
            #expect(await env.waitForRequests { $0.contains { $0.webhookID == "msg_during" } })
            // At the deadline the replica reads the document again without the retiring secret:
            // never before it (on the clock the deadline is kept on).
            #expect(await replaced(rotatedInstance, within: .seconds(10)) != nil, "the deadline is applied")
            #expect(WallClock.nowMilliseconds >= now + 3_000, "the retiring secret signed until its deadline")
            try await env.produce([env.delivery(endpoint: "rotating", id: "msg_after", body: Array("{}".utf8))])
            #expect(await env.waitForRequests { $0.contains { $0.webhookID == "msg_after" } })
            try await replica.stop()

            func verifies(_ request: WebhookReceiver.Request, with secret: String) -> Bool {
                guard let verifier = try? WebhookVerifier(scheme: scheme, secrets: [verifying(secret)]) else { return false }
                let at = Date(timeIntervalSince1970: Double(request.receivedAtMilliseconds) / 1_000)
                return (try? verifier.verify(headers: WebhookHeaders(request.headers), body: request.body, now: at)) != nil
            }
            let requests = Dictionary(env.receiver.requests.map { ($0.webhookID, $0) }) { first, _ in first }
            let during = try #require(requests["msg_during"]), after = try #require(requests["msg_after"])
            #expect(during.verified && after.verified)
            #expect(verifies(during, with: old), "the old secret still signs during the grace period")
            #expect(verifies(during, with: new) == (scheme != .nself), "Standard Webhooks, Ed25519: both sign; nSelf: the old one only")
            #expect(!verifies(after, with: old) && verifies(after, with: new), "after the deadline only the new one signs")
        }
    }
}
