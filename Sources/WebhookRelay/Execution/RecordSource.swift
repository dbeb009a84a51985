import Kafka

/// Where the records come from, as far as deliveries act on it: records are taken from its
/// buffer, and a record read before it is due pauses its partition's fetching until it is.
protocol RecordSource: Sendable {
    /// The next buffered record, without waiting.
    func nextBuffered() -> KafkaConsumerRecord?
    func pause(_ topicPartitions: [KafkaTopicPartition])
    func resume(_ topicPartitions: [KafkaTopicPartition])
}

extension KafkaConsumer: RecordSource {}
