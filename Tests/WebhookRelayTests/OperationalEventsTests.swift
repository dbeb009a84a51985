import Foundation
import Kafka
import Testing
import WebhookReceiver
import WebhookRelay
import WebhookSignature

/// The relay's own events: on `<prefix>.operational` for each trigger, and at the operator's
/// endpoint as verified webhooks.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct OperationalEventsTests {
    struct Seen: Hashable {
        var type: String
        var endpoint: String
    }

    @Test func circuitsGoneEndpointsAndExhaustedMessagesAreToldOnTheTopicAndToTheOperator() async throws {
        let verifier = try TestSecrets.verifier(.standard)
        let receiverEndpoints = [
            WebhookReceiver.Endpoint(id: "broken", verifier: verifier, behaviour: .init(alwaysFail: true, failureStatus: 503)),
            WebhookReceiver.Endpoint(id: "gone", verifier: verifier, behaviour: .init(alwaysFail: true, failureStatus: 410)),
            WebhookReceiver.Endpoint(id: "flaky", verifier: verifier, behaviour: .init(failFirstAttempts: 2)),
            WebhookReceiver.Endpoint(id: "stale", verifier: verifier, behaviour: .init(alwaysFail: true, failureStatus: 500)),
            WebhookReceiver.Endpoint(id: "ops", verifier: verifier),
        ]
        try await RelayTestEnvironment.with(receiverEndpoints: receiverEndpoints) { env in
            func endpoint(_ id: String, _ extra: String = "") -> String {
                "  - id: \(id)\n    url: \(env.receiverURL)/\(id)\n    secrets: [\"\(TestSecrets.standard)\"]\n\(extra)"
            }
            // Circuits open after two failures and probe after 300 ms; the schedule (200ms, 400ms)
            // gives three attempts.
            let circuit = "    circuit_failure_threshold: 2\n    circuit_open_duration: 300ms\n    circuit_successes_to_close: 1\n"
            // Failing for 100 ms disables it: at its second attempt, due 200 ms after the first.
            let yaml = "endpoints:\n" + endpoint("broken", circuit) + endpoint("gone") + endpoint("flaky", circuit) + endpoint("ops")
                + endpoint("stale", "    auto_disable_after: 100ms\n")
            try await env.produce(["broken", "gone", "flaky", "stale"].map { (id: String) in env.delivery(endpoint: id, id: "msg_" + id, body: Array("{}".utf8)) })
            var configuration = env.configuration()
            configuration.operationalEndpoint = "ops"
            let replica = try env.startReplica(endpointsYAML: yaml, configuration: configuration)

            let expected: Set<Seen> = [
                Seen(type: "endpoint.circuit_opened", endpoint: "broken"), Seen(type: "message.attempt.exhausted", endpoint: "broken"),
                Seen(type: "endpoint.disabled", endpoint: "gone"), Seen(type: "endpoint.disabled", endpoint: "stale"),
                Seen(type: "endpoint.circuit_opened", endpoint: "flaky"), Seen(type: "endpoint.recovered", endpoint: "flaky"),
            ]
            let records = try await env.read(topic: env.topics.operational, count: expected.count, timeout: .seconds(60))
            let atOperator = await env.waitForRequests(timeout: .seconds(30)) { requests in
                requests.filter { $0.endpointID == "ops" && $0.status == 204 }.count >= expected.count
            }
            let dead = try await env.read(topic: env.topics.deadLetters, count: 3)
            try await replica.stop()

            func seen(_ record: KafkaConsumerRecord) -> Seen {
                Seen(type: record.headers.first { $0.key == "webhook-event" }?.stringValue ?? "", endpoint: String(decoding: record.key ?? [], as: UTF8.self))
            }
            #expect(Set(records.map(seen)) == expected, "\(records.map(seen))")
            // The exhausted message's event names its dead letter.
            let exhausted = try #require(records.first { seen($0).type == "message.attempt.exhausted" })
            let data = try #require((try JSONSerialization.jsonObject(with: Data(exhausted.value)) as? [String: Any])?["data"] as? [String: Any])
            let letter = try #require(dead.first { $0.key == Array("broken".utf8) })
            #expect(data["dlq_id"] as? String == "\(letter.partition)-\(letter.offset)" && data["message_id"] as? String == "msg_broken", "\(data)")
            #expect(data["attempts"] as? Int == 3 && data["last_status"] as? Int == 503)
            // Disabled for failing: its run of failures and its dead letter say so.
            let stale = try #require(records.first { seen($0) == Seen(type: "endpoint.disabled", endpoint: "stale") })
            let staleData = try #require((try JSONSerialization.jsonObject(with: Data(stale.value)) as? [String: Any])?["data"] as? [String: Any])
            #expect(staleData["reason"] as? String == "failing" && staleData["failing_since"] is Int, "\(staleData)")
            let staleLetter = try #require(dead.first { $0.key == Array("stale".utf8) })
            #expect(staleLetter.headers.first { $0.key == RelayHeader.deadLetterReason }?.stringValue == "endpoint_disabled")
            #expect(staleLetter.headers.first { $0.key == RelayHeader.attempts }?.stringValue == "2")
            // The operator's endpoint got each, signed, with the event's id and type.
            #expect(atOperator)
            let requests = env.receiver.requests.filter { $0.endpointID == "ops" }
            #expect(Set(requests.map(\.webhookID)) == Set(records.compactMap { $0.headers.first { $0.key == "webhook-id" }?.stringValue }))
            #expect(requests.allSatisfy { $0.verified })
        }
    }
}
