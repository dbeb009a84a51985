import Kafka
import Testing
@testable import WebhookRelay

/// Issue 15, defect 1: the limits a record meets on its way (body limit, producer, topics) agree,
/// and a dead letter the DLQ cannot hold whole is kept without its body.
struct RecordSizeLimitTests {
    static func configuration(bodyLimit: Int, kafka: [String: String] = [:]) throws -> RelayConfiguration {
        var configuration = RelayConfiguration(bootstrapServers: "b:9092", topics: try RelayTopics(prefix: "p", schedule: RetrySchedule(parsing: "1s")))
        configuration.bodyLimit = bodyLimit
        configuration.kafkaProperties = kafka
        return configuration
    }

    /// The producer kept librdkafka's 1,000,000-byte `message.max.bytes` under a 1,048,576-byte
    /// body limit: a body between the two could never be forwarded, and the hop was retried forever.
    @Test func theProducerAcceptsEveryRecordTheBodyLimitLetsIn() throws {
        let standard = try Self.configuration(bodyLimit: 1_048_576)
        #expect(standard.sizeLimits.recordLimit == 1_048_576 + 65_536)
        #expect(standard.producerConfiguration.properties["message.max.bytes"] == "1114112")
        #expect(try Self.configuration(bodyLimit: 10).sizeLimits.recordLimit == 1_000_000, "never below librdkafka's default")
        // A value the operator gives wins, and is checked by `run` (RunOptions) against the limit.
        let given = try Self.configuration(bodyLimit: 4_000_000, kafka: ["message.max.bytes": "5000000"])
        #expect(given.producerConfiguration.properties["message.max.bytes"] == "5000000")
        #expect(given.sizeLimits.problem(withProducerMessageMaxBytes: "1000000")?.contains("need 4065536") == true)
        #expect(given.sizeLimits.problem(withProducerMessageMaxBytes: "lots")?.contains("message.max.bytes") == true)
        #expect(given.sizeLimits.problem(withProducerMessageMaxBytes: "4065536") == nil)
    }

    @Test func aDeadLetterWithoutItsBodyKeepsWhatSaysWhatDied() {
        let record = KafkaConsumerRecord(
            topicPartition: .init(topic: "p.deliveries", partition: 3), offset: 1, key: Array("orders".utf8),
            value: [UInt8](repeating: 0x61, count: 2_000_000),
            headers: [
                KafkaHeader(key: "webhook-event", value: "order.created"), KafkaHeader(key: "webhook-id", value: "msg_1"),
                KafkaHeader(key: "x-huge", value: [UInt8](repeating: 0x62, count: 500_000)),
                KafkaHeader(key: "relay-attempts", value: "7"),
            ]
        )
        var state = HopState()
        state.deadLetterReason = "payload_too_large"
        state.lastError = "body is 2000000 bytes, the limit is 1048576; body omitted: the DLQ refused the record (MSG_SIZE_TOO_LARGE)"
        state.bodyOmitted = 2_000_000
        let kept = state.withoutBody(of: record, to: "p.dlq", webhookID: "msg_1")
        #expect(kept.value.isEmpty && kept.key == record.key && kept.partition == 3 && kept.topic == "p.dlq")
        let names = kept.headers.map(\.key)
        #expect(names == ["webhook-event", "webhook-id", "relay-attempts", "relay-last-error", "relay-dlq-reason", "relay-body-omitted"])
        #expect(kept.headers.first(named: "relay-attempts")?.stringValue == "0", "the relay's state, not the record's relay headers")
        #expect(kept.headers.first(named: "relay-body-omitted")?.stringValue == "2000000")
        #expect(kept.headers.first(named: "relay-last-error")?.stringValue
            == "body is 2000000 bytes, the limit is 1048576; body omitted: the DLQ refused the record (MSG_SIZE_TOO_LARGE)")
        let derived = state.withoutBody(of: KafkaConsumerRecord(
            topicPartition: record.topicPartition, offset: 1, key: record.key, value: record.value, headers: [KafkaHeader(key: "webhook-event", value: "e")]
        ), to: "p.dlq", webhookID: "msg_derived")
        #expect(derived.headers.first(named: "webhook-id")?.stringValue == "msg_derived", "a derived id is kept")
        let entry = DeadLetter(record: KafkaConsumerRecord(
            topicPartition: .init(topic: "p.dlq", partition: 3), offset: 9, key: kept.key, value: kept.value, headers: kept.headers
        ))
        #expect(entry.bodyOmitted == 2_000_000 && entry.reason == "payload_too_large")
        #expect(KafkaError(code: 10, name: "", message: "").isRecordRefused && KafkaError(code: 18, name: "", message: "").isRecordRefused)
        #expect(!KafkaError(code: 7, name: "REQUEST_TIMED_OUT", message: "").isRecordRefused)
    }
}
