import Kafka
import Testing
@testable import WebhookRelay

/// Schedules, durations, offsets, record decoding and event patterns: no broker, no network.
struct RetryScheduleTests {
    @Test func defaultIsTheNselfSchedule() {
        let schedule = RetrySchedule.standard
        #expect(schedule.description == "1s,5s,30s,5m,30m,2h,8h,1d")
        #expect(schedule.maxAttempts == 9)
        #expect(schedule.delay(afterAttempts: 1) == .seconds(1))
        #expect(schedule.delay(afterAttempts: 8) == .seconds(86_400))
        #expect(schedule.delay(afterAttempts: 9) == nil)
        #expect(schedule.delay(afterAttempts: 0) == nil)
        // Total wait ≈ 34.6 h.
        let total = schedule.delays.reduce(Duration.zero, +)
        #expect(total == .seconds(124_536))
    }

    @Test func parsesAndRejects() throws {
        #expect(try RetrySchedule(parsing: "250ms, 1s,1s,2h").delays == [.milliseconds(250), .seconds(1), .seconds(1), .seconds(7_200)])
        #expect(try RetrySchedule(parsing: "250ms,1s,1s,2h").tiers == [.milliseconds(250), .seconds(1), .seconds(7_200)])
        #expect(try RetrySchedule(parsing: "none").maxAttempts == 1)
        for bad in ["", "1", "5x", "1s,,2s", "-1s", "0ms", "1.5s"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try RetrySchedule(parsing: bad) }
        }
    }

    @Test func durationsRoundTrip() {
        for text in ["1ms", "999ms", "1s", "90s", "5m", "2h", "1d", "1500ms"] {
            #expect(DurationText.parse(text).map(DurationText.format) == text)
        }
        #expect(DurationText.format(.seconds(60)) == "1m")
        #expect(DurationText.parse("99999999999999999d") == nil)
    }

    @Test func topicsFollowThePrefixAndTiers() throws {
        let topics = try RelayTopics(prefix: "hooks", schedule: RetrySchedule(parsing: "30s,5m,30s"))
        #expect(topics.deliveries == "hooks.deliveries")
        #expect(topics.retryTopics == ["hooks.retry.30s", "hooks.retry.5m"])
        #expect(topics.deadLetters == "hooks.dlq")
        #expect(topics.delay(ofRetryTopic: "hooks.retry.5m") == .seconds(300))
        #expect(topics.delay(ofRetryTopic: "hooks.deliveries") == nil)
        #expect(throws: ConfigurationError.self) { try RelayTopics(prefix: "bad prefix") }
    }
}

struct PartitionOffsetsTests {
    @Test func doneUpToIsHighestContiguousFinishedPlusOne() {
        var offsets = PartitionOffsets()
        #expect(offsets.doneUpTo == nil)
        for offset: Int64 in [10, 11, 13, 14] {
            let started = offsets.start(offset)
            #expect(started)
        }
        let startedBackwards = offsets.start(12)
        #expect(!startedBackwards, "offsets must increase")
        #expect(offsets.finish(11) == nil)
        #expect(offsets.finish(14) == nil)
        #expect(offsets.finish(10) == 13, "the gap at 12 is not a record: 13 is next")
        #expect(offsets.finish(13) == 15)
        #expect(offsets.inFlight == 0)
        #expect(offsets.finish(13) == nil, "finishing twice changes nothing")
    }

    @Test func abandonedOffsetIsNeverPassed() {
        var offsets = PartitionOffsets()
        for offset: Int64 in 0..<4 { offsets.start(offset) }
        #expect(offsets.finish(0) == 1)
        offsets.abandon(1)
        #expect(offsets.inFlight == 2)
        #expect(offsets.finish(2) == nil)
        #expect(offsets.finish(3) == nil)
        #expect(offsets.doneUpTo == 1)
        #expect(offsets.inFlight == 0)
    }

    @Test func largeOutOfOrderRunEndsAtTheTop() {
        var offsets = PartitionOffsets()
        for offset: Int64 in 0..<20_000 { offsets.start(offset) }
        var last: Int64?
        for offset in stride(from: Int64(19_999), through: 0, by: -1) where offset % 2 == 1 { last = offsets.finish(offset) ?? last }
        for offset in stride(from: Int64(0), to: 20_000, by: 2) { last = offsets.finish(offset) ?? last }
        #expect(last == 20_000)
        #expect(offsets.inFlight == 0)
    }
}

struct DeliveryRecordTests {
    func record(key: [UInt8]? = Array("ep".utf8), headers: [KafkaHeader], value: [UInt8] = [1, 2]) -> KafkaConsumerRecord {
        KafkaConsumerRecord(topicPartition: .init(topic: "webhooks.deliveries", partition: 3), offset: 1042, key: key, value: value, headers: headers)
    }

    @Test func decodesTheContractWithDefaults() throws {
        let decoded = try DeliveryRecord.decode(record(headers: [KafkaHeader(key: "webhook-event", value: "a.b")]), bodyLimit: 10, trustingRelayHeaders: false).get()
        #expect(decoded.endpointID == "ep")
        #expect(decoded.event == "a.b")
        #expect(decoded.contentType == "application/json")
        #expect(decoded.attempts == 0)
        #expect(decoded.origin == .init(topic: "webhooks.deliveries", partition: 3, offset: 1042))
        #expect(decoded.webhookID == DeliveryRecord.derivedID(decoded.origin))
        #expect(DeliveryRecord.isValidID(decoded.webhookID))
    }

    @Test func derivedIDComesFromTheOriginHeadersOnLaterHops() throws {
        let hop = KafkaConsumerRecord(
            topicPartition: .init(topic: "webhooks.retry.5s", partition: 3), offset: 7, key: Array("ep".utf8), value: [],
            headers: [
                KafkaHeader(key: "webhook-event", value: "a"), KafkaHeader(key: "relay-origin-topic", value: "webhooks.deliveries"),
                KafkaHeader(key: "relay-origin-partition", value: "3"), KafkaHeader(key: "relay-origin-offset", value: "1042"),
                KafkaHeader(key: "relay-attempts", value: "2"), KafkaHeader(key: "relay-due-at", value: "1700000000000"),
            ]
        )
        let decoded = try DeliveryRecord.decode(hop, bodyLimit: 10, trustingRelayHeaders: true).get()
        let first = try DeliveryRecord.decode(record(headers: [KafkaHeader(key: "webhook-event", value: "a")]), bodyLimit: 10, trustingRelayHeaders: false).get()
        #expect(decoded.webhookID == first.webhookID)
        #expect(decoded.attempts == 2)
        #expect(decoded.dueAtMilliseconds == 1_700_000_000_000)
    }

    /// Issue 15: `relay-attempts: 999999` skipped the schedule, `relay-first-attempt-at: 1` made an
    /// open circuit dead-letter at once, and copied origin headers gave two records one derived id.
    @Test func relayHeadersOnTheDeliveriesTopicAreIgnoredAndDropped() throws {
        let forged = [
            KafkaHeader(key: "webhook-event", value: "a"), KafkaHeader(key: "relay-attempts", value: "999999"),
            KafkaHeader(key: "relay-first-attempt-at", value: "1"), KafkaHeader(key: "relay-origin-topic", value: "webhooks.deliveries"),
            KafkaHeader(key: "relay-origin-partition", value: "0"), KafkaHeader(key: "relay-origin-offset", value: "0"),
            KafkaHeader(key: "Relay-Due-At", value: "1"), KafkaHeader(key: "relay-last-status", value: "not even a number"),
            KafkaHeader(key: "x-trace", value: "t1"),
        ]
        let decoded = try DeliveryRecord.decode(record(headers: forged), bodyLimit: 10, trustingRelayHeaders: false).get()
        #expect(decoded.attempts == 0)
        #expect(decoded.firstAttemptAtMilliseconds == nil && decoded.dueAtMilliseconds == nil && decoded.lastStatus == nil)
        #expect(decoded.origin == .init(topic: "webhooks.deliveries", partition: 3, offset: 1042))
        #expect(decoded.webhookID == DeliveryRecord.derivedID(decoded.origin))
        #expect(decoded.headers.map(\.key) == ["webhook-event", "x-trace"])
        // Malformed relay headers are no defect there either: they are not read at all.
        let broken = [KafkaHeader(key: "webhook-event", value: "a"), KafkaHeader(key: "relay-attempts", value: "-1")]
        #expect(throws: Never.self) { try DeliveryRecord.decode(self.record(headers: broken), bodyLimit: 10, trustingRelayHeaders: false).get() }
        // On a delay topic, which only the relay writes, the same headers are the record's state.
        let hop = try DeliveryRecord.decode(record(headers: forged), bodyLimit: 10, trustingRelayHeaders: true).get()
        #expect(hop.attempts == 999_999 && hop.firstAttemptAtMilliseconds == 1 && hop.origin.offset == 0)
        #expect(RelayHeader.isRelayOwned("relay-x") && RelayHeader.isRelayOwned("RELAY-ATTEMPTS") && !RelayHeader.isRelayOwned("relay"))
        #expect(!RelayHeader.isRelayOwned("x-relay-attempts") && !RelayHeader.isRelayOwned("replayed-from"))
    }

    @Test func everyDefectHasItsReason() {
        let event = KafkaHeader(key: "webhook-event", value: "e")
        let cases: [(KafkaConsumerRecord, DeadLetterReason)] = [
            (record(key: nil, headers: [event]), .malformed),
            (record(key: [], headers: [event]), .malformed),
            (record(key: [0xFF], headers: [event]), .malformed),
            (record(headers: []), .malformed),
            (record(headers: [KafkaHeader(key: "webhook-event", value: [0xC3, 0x28])]), .malformed),
            (record(headers: [KafkaHeader(key: "webhook-event", value: nil)]), .malformed),
            (record(headers: [event, KafkaHeader(key: "relay-attempts", value: "-1")]), .malformed),
            (record(headers: [event, KafkaHeader(key: "relay-due-at", value: "soon")]), .malformed),
            (record(headers: [event, KafkaHeader(key: "webhook-id", value: "a b")]), .malformed),
            (record(headers: [event, KafkaHeader(key: "webhook-id", value: String(repeating: "x", count: 257))]), .malformed),
            (record(headers: [KafkaHeader(key: "webhook-event", value: "line\nbreak")]), .malformed),
            (record(headers: [event], value: [UInt8](repeating: 0, count: 11)), .payloadTooLarge),
        ]
        for (index, (input, reason)) in cases.enumerated() {
            guard case .failure(let defect) = DeliveryRecord.decode(input, bodyLimit: 10, trustingRelayHeaders: true) else {
                Issue.record("case \(index) decoded")
                continue
            }
            #expect(defect.reason == reason, "case \(index): \(defect)")
            #expect(!defect.detail.isEmpty)
        }
    }

    @Test func eventPatternsAreGlobs() {
        #expect(EventPattern("order.*").matches("order.created"))
        #expect(!EventPattern("order.*").matches("invoice.paid"))
        #expect(EventPattern("*").matches(""))
        #expect(EventPattern("a?c").matches("abc"))
        #expect(!EventPattern("a?c").matches("ac"))
        #expect(EventPattern("*.paid").matches("invoice.paid"))
        #expect(EventPattern("a*b*c").matches("aXXbYYc"))
        #expect(!EventPattern("a*b*c").matches("aXXbYY"))
    }
}
