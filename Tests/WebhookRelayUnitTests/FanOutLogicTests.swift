import Kafka
import Testing
@testable import WebhookRelay

/// Events in, deliveries out: the event contract, subscriptions and the fan-out decision, with no
/// broker.
struct FanOutLogicTests {
    static let topics = try! RelayTopics(prefix: "webhooks")

    static func event(
        tenant: String? = "acme", type: String? = "order.created", id: String? = "evt_1", endpoints: String? = nil,
        extra: [KafkaHeader] = [], body: [UInt8] = Array("{}".utf8), offset: Int64 = 7
    ) -> KafkaConsumerRecord {
        var headers: [KafkaHeader] = []
        if let type { headers.append(KafkaHeader(key: "webhook-event", value: type)) }
        if let id { headers.append(KafkaHeader(key: "webhook-id", value: id)) }
        if let endpoints { headers.append(KafkaHeader(key: "webhook-endpoints", value: endpoints)) }
        return KafkaConsumerRecord(
            topicPartition: .init(topic: topics.events, partition: 2), offset: offset, key: tenant.map { Array($0.utf8) },
            value: body, headers: headers + extra
        )
    }

    static func endpoint(_ id: String, tenant: String?, events: [String] = []) throws -> Endpoint {
        var endpoint = try #require(try EndpointsFile.parse("""
            endpoints:
              - id: \(id)
                url: https://example.com/\(id)
                secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
            """, environment: [:]).first)
        endpoint.tenant = tenant
        endpoint.events = events.map(EventPattern.init)
        return endpoint
    }

    @Test func anEventIsReadWithItsTenantTypeIdAndNamedEndpoints() throws {
        let event = try EventRecord.decode(Self.event(endpoints: " a, b ,c"), bodyLimit: 100).get()
        #expect(event.tenant == "acme" && event.event == "order.created" && event.webhookID == "evt_1")
        #expect(event.endpoints == ["a", "b", "c"])
        let derived = try EventRecord.decode(Self.event(id: nil), bodyLimit: 100).get()
        #expect(derived.webhookID == DeliveryRecord.derivedID(.init(topic: Self.topics.events, partition: 2, offset: 7)))
        #expect(derived.endpoints == nil)
    }

    @Test func aBadEventIsADeadLetterWithItsReason() {
        func defect(_ record: KafkaConsumerRecord, limit: Int = 100) -> DeliveryRecordDefect? {
            if case .failure(let defect) = EventRecord.decode(record, bodyLimit: limit) { defect } else { nil }
        }
        #expect(defect(Self.event(tenant: nil))?.detail.contains("tenant") == true)
        #expect(defect(Self.event(tenant: ""))?.reason == .malformed)
        #expect(defect(Self.event(type: nil))?.detail.contains("webhook-event") == true)
        #expect(defect(Self.event(id: "has space"))?.detail.contains("webhook-id") == true)
        #expect(defect(Self.event(endpoints: "a,,b"))?.detail.contains("webhook-endpoints") == true)
        #expect(defect(Self.event(endpoints: Array(repeating: "e", count: 1_001).joined(separator: ",")))?.detail.contains("1000") == true)
        #expect(defect(Self.event(tenant: "bad\u{1}tenant"))?.reason == .malformed)
        #expect(defect(Self.event(body: Array(repeating: 1, count: 101)))?.reason == .payloadTooLarge)
        #expect(defect(Self.event(extra: [KafkaHeader(key: "content-type", value: "text/\u{7}")]))?.detail.contains("content-type") == true)
    }

    @Test func subscribersAreTheTenantsEndpointsWhosePatternsMatch() throws {
        var index = SubscriptionIndex([
            try Self.endpoint("all", tenant: "acme"),
            try Self.endpoint("orders", tenant: "acme", events: ["order.*"]),
            try Self.endpoint("paid", tenant: "acme", events: ["*.paid", "invoice.?ent"]),
            try Self.endpoint("other", tenant: "globex"),
            try Self.endpoint("direct", tenant: nil),
        ])
        #expect(index.subscribers(tenant: "acme", event: "order.created") == ["all", "orders"])
        #expect(index.subscribers(tenant: "acme", event: "order.paid") == ["all", "orders", "paid"])
        #expect(index.subscribers(tenant: "acme", event: "invoice.sent") == ["all", "paid"])
        #expect(index.subscribers(tenant: "globex", event: "order.created") == ["other"])
        #expect(index.subscribers(tenant: "initech", event: "order.created").isEmpty)
        // Named endpoints: only those, and only when subscribed and of the tenant.
        #expect(index.subscribers(tenant: "acme", event: "order.created", named: ["orders", "paid", "other", "ghost", "orders"]) == ["orders"])
        // A change of tenant moves the subscription; a removal ends it.
        index.put(try Self.endpoint("orders", tenant: "globex", events: ["order.*"]))
        #expect(index.subscribers(tenant: "acme", event: "order.created") == ["all"])
        #expect(index.subscribers(tenant: "globex", event: "order.created") == ["orders", "other"])
        index.remove("other")
        index.remove("orders")
        #expect(index.subscribers(tenant: "globex", event: "order.created").isEmpty)
        #expect(index.count == 2)
    }

    @Test func anEventBecomesOneDeliveryPerSubscriberCarryingItsIdAndHeaders() throws {
        let record = Self.event(endpoints: "a,b", extra: [
            KafkaHeader(key: "content-type", value: "application/cloudevents+json"),
            KafkaHeader(key: "traceparent", value: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            KafkaHeader(key: "relay-attempts", value: "5"),
        ])
        let decision = FanOutDecision.decide(record, bodyLimit: 100, recordLimit: 10_000, topics: Self.topics, now: 1_000) { event in
            #expect(event.endpoints == ["a", "b"])
            return ["a", "b"]
        }
        guard case .deliver(let deliveries) = decision else { Issue.record("\(decision)"); return }
        #expect(deliveries.map { $0.key } == [Array("a".utf8), Array("b".utf8)])
        for delivery in deliveries {
            #expect(delivery.topic == Self.topics.deliveries && delivery.partition == nil && delivery.value == record.value)
            #expect(delivery.headers.map { $0.key } == ["webhook-event", "content-type", "traceparent", "webhook-id"])
            #expect(delivery.headers.first { $0.key == "webhook-id" }?.stringValue == "evt_1")
        }
        // What the delivery stage reads back: the event's type, id and content type.
        let read = try DeliveryRecord.decode(
            KafkaConsumerRecord(topicPartition: .init(topic: Self.topics.deliveries, partition: 0), offset: 0, key: deliveries[0].key,
                                value: deliveries[0].value, headers: deliveries[0].headers),
            bodyLimit: 100, trustingRelayHeaders: false
        ).get()
        #expect(read.endpointID == "a" && read.event == "order.created" && read.webhookID == "evt_1"
            && read.contentType == "application/cloudevents+json")
    }

    @Test func anEventWithoutSubscribersIsCountedAndABadOneDeadLetteredWithItsOrigin() throws {
        let none = FanOutDecision.decide(Self.event(), bodyLimit: 100, recordLimit: 10_000, topics: Self.topics, now: 1_000) { _ in [] }
        guard case .noSubscriber = none else { Issue.record("\(none)"); return }
        let bad = FanOutDecision.decide(Self.event(type: nil), bodyLimit: 100, recordLimit: 10_000, topics: Self.topics, now: 1_000) { _ in
            Issue.record("a bad event has no subscribers to look up")
            return []
        }
        guard case .deadLetter(let letter, .malformed) = bad else { Issue.record("\(bad)"); return }
        #expect(letter.topic == Self.topics.deadLetters && letter.partition == 2 && letter.key == Array("acme".utf8))
        let entry = DeadLetter(record: KafkaConsumerRecord(
            topicPartition: .init(topic: Self.topics.deadLetters, partition: 2), offset: 0, key: letter.key, value: letter.value,
            headers: letter.headers))
        #expect(entry.reason == "malformed" && entry.origin == .init(topic: Self.topics.events, partition: 2, offset: 7))
        // Replayed onto the events topic, where it came from; a delivery's onto the deliveries topic.
        #expect(entry.replayTopic(in: Self.topics) == Self.topics.events)
        var delivery = HopState()
        delivery.origin = .init(topic: Self.topics.deliveries, partition: 2, offset: 7)
        delivery.deadLetterReason = "exhausted"
        let deliveryEntry = DeadLetter(record: KafkaConsumerRecord(
            topicPartition: .init(topic: Self.topics.deadLetters, partition: 2), offset: 1, key: Array("a".utf8), value: [],
            headers: delivery.headers))
        #expect(deliveryEntry.replayTopic(in: Self.topics) == Self.topics.deliveries)
    }

    @Test func anEventWhoseDeliveriesWouldBeTooLargeIsDeadLetteredWithoutItsBodyIfNeeded() {
        let big = Self.event(extra: [KafkaHeader(key: "x-big", value: String(repeating: "h", count: 900))], body: Array(repeating: 65, count: 90))
        let decision = FanOutDecision.decide(big, bodyLimit: 100, recordLimit: 1_000, topics: Self.topics, now: 1_000) { _ in ["a-long-endpoint-id"] }
        guard case .deadLetter(let letter, .payloadTooLarge) = decision else { Issue.record("\(decision)"); return }
        // The whole dead letter would be too large as well: kept without its body, which it measures.
        #expect(letter.value.isEmpty && FanOutDecision.size(of: letter) <= 1_000)
        #expect(letter.headers.first { $0.key == "relay-body-omitted" }?.stringValue == "90")
        #expect(letter.headers.first { $0.key == "relay-last-error" }?.stringValue?.contains("record limit is 1000") == true)
        // Within the limit: delivered.
        let fits = FanOutDecision.decide(big, bodyLimit: 100, recordLimit: 2_000, topics: Self.topics, now: 1_000) { _ in ["a"] }
        guard case .deliver = fits else { Issue.record("\(fits)"); return }
    }

    @Test func transactionsAreCutByCountAndBytesAndAnEventsOffsetGoesWithItsLastRecord() {
        func event(_ offset: Int64, partition: Int32 = 0) -> KafkaConsumerRecord {
            KafkaConsumerRecord(topicPartition: .init(topic: Self.topics.events, partition: partition), offset: offset, key: nil, value: [], headers: [])
        }
        func deliveries(_ count: Int, bytes: Int = 10) -> FanOutDecision {
            .deliver((0..<count).map { KafkaProducerRecord(topic: Self.topics.deliveries, key: Array("e\($0)".utf8), value: Array(repeating: 1, count: bytes)) })
        }
        let plan = FanOutTransaction.plan(
            [(event(10), deliveries(3)), (event(11), .noSubscriber), (event(5, partition: 1), deliveries(6)), (event(12), deliveries(1))],
            maxRecords: 4, maxBytes: 1_000_000
        )
        #expect(plan.map(\.records.count) == [4, 4, 2])
        let all: Set<KafkaTopicPartition> = [.init(topic: Self.topics.events, partition: 0), .init(topic: Self.topics.events, partition: 1)]
        // 10 and 11 are done in the first; 5 (split over three) only in the last, with 12.
        #expect(plan[0].offsets(in: all) == [.init(topic: Self.topics.events, partition: 0): 12])
        #expect(plan[1].offsets(in: all).isEmpty)
        #expect(plan[2].offsets(in: all) == [.init(topic: Self.topics.events, partition: 0): 13, .init(topic: Self.topics.events, partition: 1): 6])
        // A partition no longer assigned: its offsets are not committed.
        #expect(plan[2].offsets(in: [.init(topic: Self.topics.events, partition: 0)]) == [.init(topic: Self.topics.events, partition: 0): 13])
        // By bytes: a record larger than the budget goes alone.
        let bySize = FanOutTransaction.plan([(event(1), deliveries(1, bytes: 500)), (event(2), deliveries(2, bytes: 100))], maxRecords: 100, maxBytes: 400)
        #expect(bySize.map(\.records.count) == [1, 2])
        // Events without records still commit their offsets.
        #expect(FanOutTransaction.plan([(event(7), .noSubscriber)], maxRecords: 4, maxBytes: 100).first?.offsets(in: all) == [.init(topic: Self.topics.events, partition: 0): 8])
    }

    @Test func theEndpointsFileTakesATenant() throws {
        let endpoints = try EndpointsFile.parse("""
            defaults:
              tenant: acme
            endpoints:
              - id: a
                url: https://example.com/a
                secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
              - id: b
                url: https://example.com/b
                tenant: globex
                secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
            """, environment: [:])
        #expect(endpoints.map(\.tenant) == ["acme", "globex"])
        #expect(throws: ConfigurationError.self) {
            try EndpointsFile.parse("""
                endpoints:
                  - id: a
                    url: https://example.com/a
                    tenant: ""
                    secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
                """, environment: [:])
        }
    }
}
