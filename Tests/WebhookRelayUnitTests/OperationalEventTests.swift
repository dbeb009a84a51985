import Foundation
import Kafka
import Testing
@testable import WebhookRelay

/// What the relay tells operators: the event's shape, its id, and when a circuit change counts.
struct OperationalEventTests {
    @Test func anEventIsAStandardWebhooksPayloadWithAStableValidId() throws {
        let event = OperationalEvent(.attemptExhausted, endpointID: "orders", at: 1_796_590_800_123, data: [
            "dlq_id": .text("3-1042"), "attempts": .number(9), "message_id": .text("msg_1"),
        ])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(event.body)) as? [String: Any])
        #expect(object["type"] as? String == "message.attempt.exhausted")
        #expect(object["timestamp"] as? String == "2026-12-06T21:00:00.123Z")
        let data = try #require(object["data"] as? [String: Any])
        #expect(data["endpoint_id"] as? String == "orders" && data["dlq_id"] as? String == "3-1042" && data["attempts"] as? Int == 9)
        // The same event, the same id (receivers deduplicate); any difference, another id.
        #expect(DeliveryRecord.isValidID(event.webhookID) && event.webhookID.hasPrefix("op_"))
        #expect(OperationalEvent(.attemptExhausted, endpointID: "orders", at: 1_796_590_800_123, data: event.data).webhookID == event.webhookID)
        #expect(OperationalEvent(.circuitOpened, endpointID: "orders", at: 1_796_590_800_123).webhookID != event.webhookID)
        let record = event.record(topic: "webhooks.operational")
        #expect(record.key == Array("orders".utf8) && record.value == event.body)
        #expect(record.headers.first { $0.key == "webhook-event" }?.stringValue == "message.attempt.exhausted")
        #expect(record.headers.first { $0.key == "webhook-id" }?.stringValue == event.webhookID)
        // What the fan-out reads back from the operational topic.
        let read = try EventRecord.decode(
            KafkaConsumerRecord(topicPartition: .init(topic: "webhooks.operational", partition: 0), offset: 0, key: record.key,
                                value: record.value, headers: record.headers),
            bodyLimit: 1_000
        ).get()
        #expect(read.tenant == "orders" && read.event == "message.attempt.exhausted" && read.webhookID == event.webhookID)
    }

    @Test func aCircuitOpeningAndClosingAgainAreToldButNotEveryProbe() {
        typealias Change = EndpointRuntime.CircuitChange
        #expect(Change(from: .closed(consecutiveFailures: 4), to: .open(until: 10)) == .opened)
        #expect(Change(from: .halfOpen(successes: 1, probeInFlight: false), to: .closed(consecutiveFailures: 0)) == .recovered)
        #expect(Change(from: .open(until: 10), to: .closed(consecutiveFailures: 0)) == .recovered)
        // A failed probe opens it again: already told.
        #expect(Change(from: .halfOpen(successes: 0, probeInFlight: true), to: .open(until: 20)) == nil)
        #expect(Change(from: .closed(consecutiveFailures: 1), to: .closed(consecutiveFailures: 2)) == nil)
    }
}
