import Benchmark
import Kafka
import WebhookRelay

/// The relay's per-record work besides signing and HTTP: decoding a consumed record into a
/// delivery, and tracking which offsets are done. Each iteration runs the operation 1,000 times
/// (`scalingFactor: .kilo`), so wall-clock figures are nanoseconds per record.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 10_000
    )

    let body = [UInt8]((0..<512).map { UInt8(truncatingIfNeeded: 0x20 + $0 % 90) })
    let partition = KafkaTopicPartition(topic: "webhooks.deliveries", partition: 7)

    Benchmark("decode a first delivery (512 B body, 2 headers)") { benchmark in
        let record = KafkaConsumerRecord(
            topicPartition: partition, offset: 42, key: Array("orders".utf8), value: body,
            headers: [KafkaHeader(key: "webhook-event", value: Array("order.created".utf8)),
                      KafkaHeader(key: "webhook-id", value: Array("msg_p5jXN8AQM9LWM0D4loKWxJek".utf8))]
        )
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(DeliveryRecord.decode(record, bodyLimit: 1_048_576, trustingRelayHeaders: false))
        }
    }

    Benchmark("decode a retry (512 B body, 9 headers)") { benchmark in
        let headers: [(String, String)] = [
            ("webhook-event", "order.created"), ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("relay-attempts", "2"), ("relay-first-attempt-at", "1700000000000"), ("relay-origin-topic", "webhooks.deliveries"),
            ("relay-origin-partition", "7"), ("relay-origin-offset", "42"), ("relay-last-status", "503"),
            ("relay-due-at", "1700000005000"),
        ]
        let record = KafkaConsumerRecord(
            topicPartition: KafkaTopicPartition(topic: "webhooks.retry.5s", partition: 7), offset: 9, key: Array("orders".utf8),
            value: body, headers: headers.map { KafkaHeader(key: $0.0, value: Array($0.1.utf8)) }
        )
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(DeliveryRecord.decode(record, bodyLimit: 1_048_576, trustingRelayHeaders: true))
        }
    }

    Benchmark("track offsets (start, finish out of order by 64)") { benchmark in
        var offsets = PartitionOffsets()
        var next: Int64 = 0
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            // 64 records in flight; they finish in reverse order within each window of 64.
            _ = offsets.start(next)
            if next % 64 == 63 {
                for offset in stride(from: next, to: next - 64, by: -1) { blackHole(offsets.finish(offset)) }
            }
            next += 1
        }
    }
}
