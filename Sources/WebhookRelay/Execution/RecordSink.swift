import Kafka

/// Where the relay writes hops and dead letters: the producer, or a test's recorder.
protocol RecordSink: Sendable {
    /// Writes a record; returns once the broker acknowledged it.
    func write(_ record: KafkaProducerRecord) async throws(KafkaError)
}

extension KafkaProducer: RecordSink {
    func write(_ record: KafkaProducerRecord) async throws(KafkaError) {
        _ = try await send(record)
    }
}

/// Where the records come from, as far as deliveries act on it: a record read before it is due
/// pauses its partition's fetching until it is.
protocol RecordSource: Sendable {
    func pause(_ topicPartitions: [KafkaTopicPartition])
    func resume(_ topicPartitions: [KafkaTopicPartition])
}

extension KafkaConsumer: RecordSource {}

/// How deliveries reach endpoints: the HTTP client, or a test's server stand-in.
protocol DeliveryTransport: Sendable {
    /// POSTs one attempt within `timeout`; `cancellation` cuts it short.
    func post(
        url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration, cancellation: AttemptCancellation?
    ) async -> AttemptResult
}

extension WebhookHTTPClient: DeliveryTransport {}
