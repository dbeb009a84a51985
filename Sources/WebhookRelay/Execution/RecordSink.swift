import Kafka

/// Where the relay writes hops and dead letters: the producer, or a test's recorder.
protocol RecordSink: Sendable {
    /// Writes a record; returns once the broker acknowledged it.
    func write(_ record: KafkaProducerRecord) async throws(KafkaError) -> KafkaDeliveryReport
}

extension KafkaProducer: RecordSink {
    func write(_ record: KafkaProducerRecord) async throws(KafkaError) -> KafkaDeliveryReport {
        try await send(record)
    }
}
