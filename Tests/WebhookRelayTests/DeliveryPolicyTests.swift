import Foundation
import Kafka
import Testing
import WebhookReceiver
import WebhookRelay
import WebhookSignature

/// Circuit breaker, rate limit, Retry-After and 410 through the whole pipeline: embedded broker,
/// relay in-process, a real receiver on 127.0.0.1.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct DeliveryPolicyTests {
    static func endpoint(_ env: RelayTestEnvironment, _ id: String, _ extra: String = "") -> String {
        """
          - id: \(id)
            url: \(env.receiverURL)/\(id)
            secrets: ["\(TestSecrets.standard)"]
        \(extra.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))

        """
    }

    @Test func timingOutEndpointOpensItsCircuitAndHealthyOnesOnTheSamePartitionKeepFlowing() async throws {
        let receiverEndpoints = try [
            WebhookReceiver.Endpoint(id: "hang", verifier: TestSecrets.verifier(.standard), behaviour: .init(responseDelay: .seconds(3))),
            WebhookReceiver.Endpoint(id: "fast", verifier: TestSecrets.verifier(.standard)),
        ]
        try await RelayTestEnvironment.with(schedule: "1s,5s", partitions: 1, receiverEndpoints: receiverEndpoints) { env in
            var records: [KafkaProducerRecord] = []
            for index in 0..<300 {
                if index % 15 == 0 { records.append(env.delivery(endpoint: "hang", id: "msg_hang_\(index)", body: [1], partition: 0)) }
                records.append(env.delivery(endpoint: "fast", id: "msg_fast_\(index)", body: [2], partition: 0))
            }
            try await env.produce(records)
            let yaml = "endpoints:\n"
                + Self.endpoint(env, "hang", "timeout: 300ms\nmax_in_flight: 1\ncircuit_open_duration: 2s")
                + Self.endpoint(env, "fast")
            let replica = try env.startReplica(endpointsYAML: yaml)
            // Five timeouts open the circuit; after 2 s one probe, which times out and opens it again.
            let sawTwoProbes = await env.waitForRequests(timeout: .seconds(30)) { $0.filter { $0.endpointID == "hang" }.count >= 7 }
            let health = replica.relay.endpointHealth
            try await replica.stop()
            #expect(sawTwoProbes)

            // Arrival times lag request starts by at most the 300 ms timeout, so these bounds hold
            // however loaded the machine is.
            let hang = env.receiver.requests.filter { $0.endpointID == "hang" }.map(\.receivedAtMilliseconds)
            let gaps = zip(hang.dropFirst(), hang).map { $0 - $1 }
            // Attempts 1-5: one at a time, each ending in its timeout; the circuit is still closed.
            #expect(gaps.prefix(4).allSatisfy { $0 < 1_500 }, "\(gaps)")
            // Then nothing for the open period (2 s from the 5th failure), exactly one probe, which
            // times out and opens the circuit again: nothing until the next probe 2 s later.
            #expect(gaps.count >= 6)
            if gaps.count >= 6 {
                #expect(gaps[4] >= 2_000, "first probe came \(gaps[4]) ms after the 5th attempt")
                #expect(gaps[5] >= 2_000, "second probe came \(gaps[5]) ms after the first")
            }
            #expect(health["hang"]?.healthScore == 0 || health["hang"]?.healthScore == 30)
            #expect(health["fast"]?.healthScore == 100)

            // The healthy endpoint on the same partition was delivered at full speed throughout:
            // all of it before the failing endpoint's first probe.
            let fast = env.receiver.requests.filter { $0.endpointID == "fast" }.map(\.receivedAtMilliseconds)
            #expect(fast.count == 300)
            if let first = fast.min(), let last = fast.max(), hang.count > 5 {
                #expect(last - first < 3_000, "300 deliveries to the healthy endpoint took \(last - first) ms")
                #expect(last < hang[5], "healthy deliveries did not wait for the failing endpoint")
            }
        }
    }

    @Test func rateLimitedEndpointNeverExceedsItsRateWhileOthersFlow() async throws {
        let receiverEndpoints = try [
            WebhookReceiver.Endpoint(id: "limited", verifier: TestSecrets.verifier(.standard)),
            WebhookReceiver.Endpoint(id: "free", verifier: TestSecrets.verifier(.standard)),
        ]
        try await RelayTestEnvironment.with(schedule: "1s,5s", partitions: 2, receiverEndpoints: receiverEndpoints) { env in
            var records: [KafkaProducerRecord] = []
            for index in 0..<300 {
                if index < 100 { records.append(env.delivery(endpoint: "limited", id: "msg_l_\(index)", body: [1], partition: 0)) }
                records.append(env.delivery(endpoint: "free", id: "msg_f_\(index)", body: [2], partition: 0))
            }
            try await env.produce(records)
            let yaml = "endpoints:\n" + Self.endpoint(env, "limited", "rate_limit: 20/s") + Self.endpoint(env, "free")
            let replica = try env.startReplica(endpointsYAML: yaml)
            let all = await env.waitForRequests(timeout: .seconds(60)) { $0.count == 400 }
            try await replica.stop()
            #expect(all)

            let limited = env.receiver.requests.filter { $0.endpointID == "limited" }.map(\.receivedAtMilliseconds).sorted()
            #expect(limited.count == 100)
            var worst = 0
            for (index, start) in limited.enumerated() {
                worst = max(worst, limited[index...].prefix { $0 < start + 1_000 }.count)
            }
            #expect(worst <= 20, "\(worst) requests in one second")
            let free = env.receiver.requests.filter { $0.endpointID == "free" }.map(\.receivedAtMilliseconds)
            if let first = free.min(), let last = free.max(), let limitedLast = limited.last {
                #expect(last - first < 2_000, "the other endpoint took \(last - first) ms")
                #expect(last < limitedLast, "the other endpoint finished long before the limited one")
            }
        }
    }

    @Test func retryAfterOn429DelaysTheNextAttempt() async throws {
        let behaviour = WebhookReceiver.Behaviour(failFirstAttempts: 1, failureStatus: 429, retryAfter: "3")
        let receiverEndpoints = try [WebhookReceiver.Endpoint(id: "busy", verifier: TestSecrets.verifier(.standard), behaviour: behaviour)]
        try await RelayTestEnvironment.with(schedule: "200ms,10s", receiverEndpoints: receiverEndpoints) { env in
            try await env.produce([env.delivery(endpoint: "busy", id: "msg_busy", body: [1])])
            let replica = try env.startReplica(endpointsYAML: "endpoints:\n" + Self.endpoint(env, "busy"))
            let done = await env.waitForRequests { $0.contains { $0.status == 204 } }
            try await replica.stop()
            #expect(done)
            let requests = env.receiver.requests
            #expect(requests.map(\.status) == [429, 204])
            if requests.count == 2 {
                let gap = requests[1].receivedAtMilliseconds - requests[0].receivedAtMilliseconds
                #expect(gap >= 3_000, "the retry came \(gap) ms after Retry-After: 3")
                #expect(gap < 9_000, "it waited for Retry-After, not for the next delay topic")
            }
        }
    }

    @Test func goneDisablesTheEndpointAndDeadLettersItsRecords() async throws {
        let receiverEndpoints = try [
            WebhookReceiver.Endpoint(id: "old", verifier: TestSecrets.verifier(.standard), behaviour: .init(alwaysFail: true, failureStatus: 410)),
            WebhookReceiver.Endpoint(id: "strict", verifier: TestSecrets.verifier(.standard), behaviour: .init(alwaysFail: true, failureStatus: 422)),
        ]
        try await RelayTestEnvironment.with(receiverEndpoints: receiverEndpoints) { env in
            var records = (0..<5).map { env.delivery(endpoint: "old", id: "msg_old_\($0)", body: [1], partition: 0) }
            records.append(env.delivery(endpoint: "strict", id: "msg_strict", body: [2]))
            try await env.produce(records)
            let yaml = "endpoints:\n" + Self.endpoint(env, "old", "max_in_flight: 1") + Self.endpoint(env, "strict", "permanent_4xx: true")
            let replica = try env.startReplica(endpointsYAML: yaml)
            let dead = try await env.read(topic: env.topics.deadLetters, count: 6)
            try await replica.stop()

            func reason(_ record: KafkaConsumerRecord) -> String? { record.headers.first(named: RelayHeader.deadLetterReason)?.stringValue }
            let old = dead.filter { $0.key == Array("old".utf8) }
            #expect(old.count == 5)
            #expect(old.allSatisfy { reason($0) == "gone" })
            #expect(env.receiver.requests.filter { $0.endpointID == "old" }.count == 1, "after the 410 nothing more is sent")
            #expect(old.filter { $0.headers.first(named: RelayHeader.attempts)?.stringValue == "0" }.count == 4)
            let strict = dead.filter { $0.key == Array("strict".utf8) }
            #expect(strict.map(reason) == ["rejected"])
            #expect(env.receiver.requests.filter { $0.endpointID == "strict" }.count == 1, "a permanent 4xx is not retried")
        }
    }
}

/// The SSRF guard in the running pipeline.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct AddressGuardTests {
    @Test func privateAddressesAreRefusedWithoutAConnectionUnlessAllowed() async throws {
        let receiverEndpoints = try ["byname", "mapped", "literal"].map {
            WebhookReceiver.Endpoint(id: $0, verifier: try TestSecrets.verifier(.standard))
        }
        try await RelayTestEnvironment.with(receiverEndpoints: receiverEndpoints) { env in
            let port = try #require(env.receiverURL.split(separator: ":").last)
            let yaml = """
                endpoints:
                  - id: byname
                    url: http://localhost:\(port)/byname
                    secrets: ["\(TestSecrets.standard)"]
                  - id: mapped
                    url: http://[::ffff:127.0.0.1]:\(port)/mapped
                    secrets: ["\(TestSecrets.standard)"]
                  - id: literal
                    url: http://127.0.0.1:\(port)/literal
                    secrets: ["\(TestSecrets.standard)"]
                """
            try await env.produce(["byname", "mapped", "literal"].map { env.delivery(endpoint: $0, id: "msg_\($0)", body: [1]) })
            // The default policy: only globally routable addresses.
            let strict = try env.startReplica(endpointsYAML: yaml, addressPolicy: AddressPolicy())
            let dead = try await env.read(topic: env.topics.deadLetters, count: 3)
            try await strict.stop()
            #expect(env.receiver.requests.isEmpty, "no connection reached the receiver")
            #expect(dead.count == 3)
            for entry in dead {
                #expect(entry.headers.first(named: RelayHeader.deadLetterReason)?.stringValue == "blocked_address")
                #expect(entry.headers.first(named: RelayHeader.lastError)?.stringValue?.contains("127.0.0.0/8") == true)
            }

            // Allowing private networks (as `--allow-private-network` does) reaches the receiver.
            try await env.produce([env.delivery(endpoint: "byname", id: "msg_allowed", body: [2])])
            let open = try env.startReplica(endpointsYAML: yaml, addressPolicy: AddressPolicy(allowPrivateNetwork: true))
            let reached = await env.waitForRequests { $0.contains { $0.webhookID == "msg_allowed" && $0.status == 204 } }
            #expect(reached)
            try await open.stop()
        }
    }
}

/// Reloading the endpoints (SIGHUP) while the relay runs.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct EndpointReloadTests {
    @Test func reloadReenablesAnEndpointThatAnsweredGone() async throws {
        let receiverEndpoints = try [
            WebhookReceiver.Endpoint(id: "moved", verifier: TestSecrets.verifier(.standard), behaviour: .init(failFirstRequests: 1, failureStatus: 410)),
        ]
        try await RelayTestEnvironment.with(receiverEndpoints: receiverEndpoints) { env in
            let yaml = "endpoints:\n" + DeliveryPolicyTests.endpoint(env, "moved")
            try await env.produce([env.delivery(endpoint: "moved", id: "msg_first", body: [1])])
            let replica = try env.startReplica(endpointsYAML: yaml)
            _ = try await env.read(topic: env.topics.deadLetters, count: 1)
            // Disabled: the next record is dead-lettered without a request.
            try await env.produce([env.delivery(endpoint: "moved", id: "msg_second", body: [2])])
            _ = try await env.read(topic: env.topics.deadLetters, count: 2)
            #expect(env.receiver.requests.map(\.webhookID) == ["msg_first"])

            replica.relay.reload(endpoints: try EndpointsFile.parse(yaml, environment: [:]))
            try await env.produce([env.delivery(endpoint: "moved", id: "msg_third", body: [3])])
            let reached2 = await env.waitForRequests { $0.contains { $0.webhookID == "msg_third" && $0.status == 204 } }
            #expect(reached2)
            try await replica.stop()
        }
    }
}

/// Records held back by an open circuit do not wait forever.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct CircuitMaxAgeTests {
    @Test func recordsHeldByAnOpenCircuitPastTheMaximumAgeAreDeadLettered() async throws {
        let receiverEndpoints = try [
            WebhookReceiver.Endpoint(id: "down", verifier: TestSecrets.verifier(.standard), behaviour: .init(alwaysFail: true, failureStatus: 503)),
        ]
        try await RelayTestEnvironment.with(schedule: "500ms,3s", receiverEndpoints: receiverEndpoints) { env in
            let yaml = "endpoints:\n" + DeliveryPolicyTests.endpoint(
                env, "down", "circuit_failure_threshold: 1\ncircuit_open_duration: 30s\ncircuit_max_age: 1s"
            )
            try await env.produce([env.delivery(endpoint: "down", id: "msg_down", body: [1])])
            let replica = try env.startReplica(endpointsYAML: yaml)
            let dead = try await env.read(topic: env.topics.deadLetters, count: 1)
            try await replica.stop()
            // One attempt opened the circuit; the retry found it open and was postponed without an
            // attempt; past the maximum age it died as circuit_open.
            #expect(env.receiver.requests.count == 1)
            let entry = try #require(dead.first)
            #expect(entry.headers.first(named: RelayHeader.deadLetterReason)?.stringValue == "circuit_open")
            #expect(entry.headers.first(named: RelayHeader.attempts)?.stringValue == "1")
            #expect(entry.headers.first(named: RelayHeader.lastStatus)?.stringValue == "503")
        }
    }
}
