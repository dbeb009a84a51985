import Kafka
import Logging

extension KafkaConsumer {
    /// A reader of every partition of a small compacted topic (progress, endpoint registry,
    /// endpoint status), from its beginning and outside any consumer group, with a small fetch
    /// buffer (what the deliveries fetch ahead would add much to the relay's memory for a few records).
    /// - Parameter role: names the reader in the group id librdkafka requires (no group is joined).
    static func wholeTopicReader(
        _ topic: String, partitions: Int, consumerConfiguration: KafkaConsumerConfiguration, role: String, fetchBytes: Int = 1_048_576,
        logger: Logger
    ) throws(KafkaError) -> KafkaConsumer {
        var configuration = consumerConfiguration
        configuration.groupInstanceID = nil
        configuration.groupID += ".\(role)"
        // Per partition: 64 of them fetch ahead at most 4 MiB.
        configuration.prefetchKilobytes = 64
        configuration.maxFetchBytes = fetchBytes
        // Offset 0, not `KafkaConsumer.beginning`: librdkafka 2.0.2 resolves a logical offset with a
        // ListOffsets request, and when the partition's leader is not known yet (always, just after
        // start) it tries again only 500 ms later; records written meanwhile waited for that (a
        // registry change made right after a replica's start took 0.44-1.17 s instead of 0.05).
        // Where the log no longer starts at 0 the fetch is out of range and resets to the earliest.
        configuration.offsetReset = .earliest
        let assignment = Dictionary(uniqueKeysWithValues: (0..<partitions).map {
            (KafkaTopicPartition(topic: topic, partition: Int32($0)), Int64(0))
        })
        return try KafkaConsumer(configuration: configuration, assignment: assignment, logger: logger)
    }
}
