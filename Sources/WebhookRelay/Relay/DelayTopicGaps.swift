import Kafka

/// Notices records skipped on a delay topic. The relay writes its delay topics without
/// transactions, so within one assignment their offsets have no holes: a jump means records were
/// skipped (a bug, or a topic written by something else).
struct DelayTopicGaps: Sendable {
    private var last: [KafkaTopicPartition: (offset: Int64, generation: UInt64)] = [:]

    /// Notes a record started in `topicPartition`'s assignment `generation`; returns the last
    /// offset started before it when offsets between the two were skipped.
    mutating func skipped(before offset: Int64, in topicPartition: KafkaTopicPartition, generation: UInt64) -> Int64? {
        defer { last[topicPartition] = (offset, generation) }
        guard let previous = last[topicPartition], previous.generation == generation, offset > previous.offset + 1 else { return nil }
        return previous.offset
    }
}
