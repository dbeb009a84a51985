/// A change of a consumer's assignment, told to the application's rebalance handler.
public enum KafkaRebalanceEvent: Sendable, Hashable {
    /// The partitions were assigned; their records follow.
    case assigned([KafkaTopicPartition])
    /// The partitions are about to be taken away. They are still assigned while the handler runs:
    /// finish or abandon in-flight work and store offsets now; librdkafka commits them when the
    /// handler returns. Records of these partitions not yet taken by the application are dropped.
    case revoking([KafkaTopicPartition])
    /// The partitions were lost (session timed out; another member may own them already).
    /// Storing offsets for them is refused: abandon their work without storing.
    case lost([KafkaTopicPartition])
}
