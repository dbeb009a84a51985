import Foundation
import Kafka
import Testing
import WebhookReceiver
import WebhookRelay
import WebhookSignature

/// Events published once reach every subscribed endpoint, through the embedded broker and a real
/// HTTP receiver that verifies each signature.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct FanOutTests {
    static let tenants = ["acme", "globex", "initech"]
    static let kinds = ["order.created", "order.paid", "invoice.sent", "invoice.paid", "customer.updated"]
    /// Ten subscriptions per tenant, by pattern; `[]` is every event.
    static let patterns: [[String]] = [
        [], ["order.*"], ["invoice.*"], ["order.created"], ["*.paid"], ["customer.?pdated"], ["order.paid", "invoice.sent"],
        ["*"], ["nothing.matches"], ["*.created", "customer.*"],
    ]

    struct Subscription {
        var id: String
        var tenant: String
        var patterns: [EventPattern]
    }

    static let subscriptions: [Subscription] = tenants.flatMap { tenant in
        patterns.enumerated().map { Subscription(id: "\(tenant)-\($0.offset)", tenant: tenant, patterns: $0.element.map(EventPattern.init)) }
    }

    static func yaml(_ env: RelayTestEnvironment) -> String {
        "endpoints:\n" + subscriptions.map { subscription in
            """
              - id: \(subscription.id)
                url: \(env.receiverURL)/\(subscription.id)
                tenant: \(subscription.tenant)
                secrets: ["\(TestSecrets.standard)"]
                max_in_flight: 8
            \(subscription.patterns.isEmpty ? "" : "    events: [\(subscription.patterns.map { "\"\($0)\"" }.joined(separator: ", "))]")
            """
        }.joined(separator: "\n")
    }

    @Test func aThousandEventsReachExactlyTheEndpointsSubscribedToThem() async throws {
        let receiverEndpoints = try Self.subscriptions.map { WebhookReceiver.Endpoint(id: $0.id, verifier: try TestSecrets.verifier(.standard)) }
        try await RelayTestEnvironment.with(events: true, receiverEndpoints: receiverEndpoints) { env in
            var expected: Set<String> = []  // "<endpoint> <webhook-id>"
            var records: [KafkaProducerRecord] = []
            for index in 0..<1_000 {
                let tenant = Self.tenants[index % 3], kind = Self.kinds[(index / 3) % Self.kinds.count], id = "evt_\(index)"
                var headers = [KafkaHeader(key: "webhook-event", value: kind), KafkaHeader(key: "webhook-id", value: id)]
                // Every 10th event names two endpoints (one of them possibly not subscribed to its type).
                var named: Set<String>?
                if index % 10 == 0 {
                    named = ["\(tenant)-1", "\(tenant)-2"]
                    headers.append(KafkaHeader(key: "webhook-endpoints", value: "\(tenant)-1,\(tenant)-2"))
                }
                for subscription in Self.subscriptions where subscription.tenant == tenant
                    && (subscription.patterns.isEmpty || subscription.patterns.contains { $0.matches(kind) })
                    && (named?.contains(subscription.id) ?? true)
                {
                    expected.insert("\(subscription.id) \(id)")
                }
                records.append(KafkaProducerRecord(topic: env.topics.events, key: Array(tenant.utf8), value: Array("{\"n\":\(index)}".utf8), headers: headers))
            }
            // No subscriber (counted, not dead-lettered) and a malformed event (dead-lettered).
            records.append(KafkaProducerRecord(topic: env.topics.events, key: Array("umbrella".utf8), value: [], headers: [
                KafkaHeader(key: "webhook-event", value: "order.created"),
            ]))
            records.append(KafkaProducerRecord(topic: env.topics.events, key: Array("acme".utf8), value: [], headers: []))
            try await env.produce(records)

            let replica = try env.startReplica(endpointsYAML: Self.yaml(env))
            let all = await env.waitForRequests(timeout: .seconds(120)) { requests in
                requests.filter { $0.status == 204 }.count >= expected.count
            }
            // A little longer: anything unexpected or repeated would arrive now.
            try await Task.sleep(for: .seconds(1))
            // Exactly one dead letter (asking for two waits 8 s for a second that must not come).
            let dead = try await env.read(topic: env.topics.deadLetters, count: 2, timeout: .seconds(8))
            try await replica.stop()
            #expect(all, "\(env.receiver.requests.count) of \(expected.count) deliveries arrived")

            let requests = env.receiver.requests
            let received = requests.map { "\($0.endpointID) \($0.webhookID)" }
            #expect(Set(received) == expected, "missing \(expected.subtracting(received).prefix(5)), unexpected \(Set(received).subtracting(expected).prefix(5))")
            #expect(received.count == expected.count, "each delivery once: \(received.count) requests for \(expected.count)")
            #expect(requests.allSatisfy { $0.verified }, "every signature verifies")
            print("fan-out: 1000 events over 3 tenants → \(expected.count) deliveries to 30 endpoints")

            #expect(dead.count == 1, "the malformed event only: the one without subscribers is not dead-lettered")
            let letter = DeadLetter(record: try #require(dead.first))
            #expect(letter.reason == "malformed" && letter.origin?.topic == env.topics.events)
        }
    }

    @Test func aTransactionTheBrokerRefusesIsAbortedAndItsEventsFannedOutAgain() async throws {
        let ids = ["acme-a", "acme-b"]
        let receiverEndpoints = try ids.map { WebhookReceiver.Endpoint(id: $0, verifier: try TestSecrets.verifier(.standard)) }
        try await RelayTestEnvironment.with(partitions: 1, events: true, receiverEndpoints: receiverEndpoints) { env in
            let yaml = "endpoints:\n" + ids.map { "  - id: \($0)\n    url: \(env.receiverURL)/\($0)\n    tenant: acme\n    secrets: [\"\(TestSecrets.standard)\"]\n" }.joined()
            // The first transaction's commit is refused (EndTxn: UNKNOWN_SERVER_ERROR).
            env.broker.pushRequestErrors(.endTransaction, [-1])
            let events = (0..<20).map { index in
                KafkaProducerRecord(topic: env.topics.events, key: Array("acme".utf8), value: Array("{}".utf8), headers: [
                    KafkaHeader(key: "webhook-event", value: "order.created"), KafkaHeader(key: "webhook-id", value: "evt_\(index)"),
                ])
            }
            try await env.produce(events)
            let expected = Set(ids.flatMap { id in (0..<20).map { "\(id) evt_\($0)" } })
            let replica = try env.startReplica(endpointsYAML: yaml)
            let all = await env.waitForRequests(timeout: .seconds(60)) { requests in
                Set(requests.filter { $0.status == 204 }.map { "\($0.endpointID) \($0.webhookID)" }).isSuperset(of: expected)
            }
            let written = try await env.read(topic: env.topics.deliveries, count: 1_000, timeout: .seconds(8)).map { record in
                "\(String(decoding: record.key ?? [], as: UTF8.self)) \(record.headers.first { $0.key == "webhook-id" }?.stringValue ?? "")"
            }
            try await replica.stop()
            #expect(all, "every event reached both endpoints after the refused commit")
            #expect(Set(written) == expected)
            // The embedded broker shows aborted records (docs/fan-out.md): the refused transaction's
            // deliveries are on the topic besides the ones written again — proof the abort path ran.
            #expect(written.count > expected.count, "\(written.count) records for \(expected.count) deliveries")
            #expect(env.receiver.requests.allSatisfy { $0.verified })
        }
    }
}
