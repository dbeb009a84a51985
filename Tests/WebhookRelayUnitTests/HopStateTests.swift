import Kafka
import Testing
@testable import WebhookRelay

/// The one codec of the relay's `relay-*` headers: what a hop writes, the pipeline and the DLQ
/// views read back the same way.
struct HopStateTests {
    static func state() -> HopState {
        var state = HopState()
        state.attempts = 3
        state.firstAttemptAt = 1_700_000_000_000
        state.origin = .init(topic: "webhooks.deliveries", partition: 2, offset: 77)
        state.lastStatus = 503
        state.lastError = String(repeating: "é", count: 400)
        state.dueAt = 1_700_000_005_000
        state.deadLetterReason = "exhausted"
        state.diedAt = 1_700_000_009_000
        state.bodyOmitted = 2_000_000
        return state
    }

    @Test func whatAHopWritesReadsBackTheSame() throws {
        var written = Self.state()
        let again = try HopState.read(written.headers).get()
        #expect(again.lastError?.utf8.count ?? 0 <= RelayHeader.lastErrorLimit && again.lastError?.hasSuffix("...") == true)
        written.lastError = again.lastError
        #expect(again == written)
        #expect(Set(written.headers.map(\.key)) == RelayHeader.written, "every header the relay writes, once")
    }

    @Test func aHopReplacesEveryRelayHeaderAndKeepsTheProducers() throws {
        let consumed = KafkaConsumerRecord(
            topicPartition: .init(topic: "webhooks.retry.5s", partition: 2), offset: 9, key: Array("orders".utf8), value: [1, 2, 3],
            headers: [
                KafkaHeader(key: "webhook-event", value: "order.created"), KafkaHeader(key: "x-trace", value: "t"),
                KafkaHeader(key: "relay-attempts", value: "1"), KafkaHeader(key: "Relay-Forged", value: "x"),
            ]
        )
        let hop = Self.state().hop(of: consumed, to: "webhooks.dlq", webhookID: "msg_1")
        #expect(hop.topic == "webhooks.dlq" && hop.partition == 2 && hop.key == consumed.key && hop.value == consumed.value)
        #expect(hop.headers.prefix(3).map(\.key) == ["webhook-event", "x-trace", "webhook-id"])
        #expect(hop.headers.filter { RelayHeader.isRelayOwned($0.key) }.map(\.key) == Self.state().headers.map(\.key))
        #expect(hop.headers.first(named: "relay-attempts")?.stringValue == "3")
        // A producer's webhook-id stays as it is.
        var withID = consumed
        withID.headers.append(KafkaHeader(key: "webhook-id", value: "given"))
        #expect(Self.state().hop(of: withID, to: "t", webhookID: "msg_1").headers.filter { $0.key == "webhook-id" }.map(\.stringValue) == ["given"])
    }

    /// The DLQ views read a record the relay may not have written: a bad field is absent, the
    /// others stay (the pipeline, reading strictly, calls the record malformed).
    @Test func lenientReadingKeepsWhatParses() {
        let headers = [
            KafkaHeader(key: "relay-attempts", value: "many"), KafkaHeader(key: "relay-dlq-reason", value: "exhausted"),
            KafkaHeader(key: "relay-origin-topic", value: "webhooks.deliveries"), KafkaHeader(key: "relay-origin-partition", value: "4"),
            KafkaHeader(key: "relay-origin-offset", value: "10"), KafkaHeader(key: "relay-died-at", value: "-5"),
        ]
        guard case .failure(let defect) = HopState.read(headers) else {
            Issue.record("a bad relay-attempts was accepted")
            return
        }
        #expect(defect.reason == .malformed && defect.detail == "header 'relay-attempts' is not a count from 0 to 1000000")
        let state = HopState.lenient(headers)
        #expect(state.attempts == 0 && state.deadLetterReason == "exhausted" && state.diedAt == nil)
        #expect(state.origin == .init(topic: "webhooks.deliveries", partition: 4, offset: 10))
    }
}
