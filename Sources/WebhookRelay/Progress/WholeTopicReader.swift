import Kafka
import Logging

extension KafkaConsumer {
    /// A reader of every partition of a small compacted topic (progress, endpoint registry,
    /// endpoint status), from its beginning and outside any consumer group, with a small fetch
    /// buffer (the deliveries' 16 MiB would add much to the relay's memory for a few records).
    /// - Parameter role: names the reader in the group id librdkafka requires (no group is joined).
    static func wholeTopicReader(
        _ topic: String, partitions: Int, consumerConfiguration: KafkaConsumerConfiguration, role: String, fetchBytes: Int = 1_048_576,
        logger: Logger
    ) throws(KafkaError) -> KafkaConsumer {
        var configuration = consumerConfiguration
        configuration.groupInstanceID = nil
        configuration.groupID += ".\(role)"
        configuration.prefetchKilobytes = 1_024
        configuration.maxFetchBytes = fetchBytes
        let assignment = Dictionary(uniqueKeysWithValues: (0..<partitions).map {
            (KafkaTopicPartition(topic: topic, partition: Int32($0)), KafkaConsumer.beginning)
        })
        return try KafkaConsumer(configuration: configuration, assignment: assignment, logger: logger)
    }
}
