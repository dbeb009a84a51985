import Kafka

extension RelayTopics {
    /// The topics `webhook-relay topics create` makes, each with the same partition count and a
    /// retention suited to it:
    /// - deliveries, events and operational events: 7 days (time to fix a stopped relay without
    ///   losing records);
    /// - each delay topic: 7 days or twice its delay, whichever is longer;
    /// - dead letters: 90 days (operators replay them with `republish`);
    /// - replay marks: compacted (one mark per dead letter, kept as long as needed);
    /// - progress: compacted (one entry per consumed partition), with 10-minute segments so that
    ///   superseded entries are compacted away soon and a starting replica reads little;
    /// - endpoint status: compacted the same way (one snapshot per endpoint, from its owner);
    /// - endpoints (the registry): compacted the same way; a deletion's tombstone is kept 7 days
    ///   (records of a deleted endpoint are dead-lettered `endpoint_deleted` while it is known).
    ///
    /// The deliveries, delay and dead-letter topics accept records of `sizes.recordLimit`
    /// (`max.message.bytes`), what the relay's producer writes: a body within the body limit
    /// fits on every hop (Kafka's default, 1,048,588, is below a 1 MiB body and its headers).
    public func plan(partitions: Int, replicationFactor: Int, sizes: RecordSizeLimits = RecordSizeLimits(bodyLimit: 1_048_576)) -> [KafkaNewTopic] {
        let week: Int64 = 7 * 86_400_000
        let maxBytes = String(sizes.recordLimit)
        var topics = [KafkaNewTopic(name: deliveries, partitions: partitions, replicationFactor: replicationFactor,
                                    config: ["retention.ms": String(week), "max.message.bytes": maxBytes])]
        for delay in schedule.tiers {
            let retention = max(week, 2 * delay.wholeMilliseconds)
            topics.append(KafkaNewTopic(name: retry(delay), partitions: partitions, replicationFactor: replicationFactor,
                                        config: ["retention.ms": String(retention), "max.message.bytes": maxBytes]))
        }
        topics.append(KafkaNewTopic(name: deadLetters, partitions: partitions, replicationFactor: replicationFactor,
                                    config: ["retention.ms": String(90 * 86_400_000), "max.message.bytes": maxBytes]))
        topics.append(KafkaNewTopic(name: replayed, partitions: partitions, replicationFactor: replicationFactor,
                                    config: ["cleanup.policy": "compact"]))
        topics.append(KafkaNewTopic(name: progress, partitions: partitions, replicationFactor: replicationFactor,
                                    config: ["cleanup.policy": "compact", "segment.ms": String(600_000),
                                             "min.cleanable.dirty.ratio": "0.1"]))
        topics.append(KafkaNewTopic(name: endpointStatus, partitions: partitions, replicationFactor: replicationFactor,
                                    config: ["cleanup.policy": "compact", "segment.ms": String(600_000),
                                             "min.cleanable.dirty.ratio": "0.1"]))
        topics.append(KafkaNewTopic(name: endpoints, partitions: partitions, replicationFactor: replicationFactor,
                                    config: ["cleanup.policy": "compact", "segment.ms": String(600_000),
                                             "min.cleanable.dirty.ratio": "0.1", "delete.retention.ms": String(week)]))
        topics.append(KafkaNewTopic(name: events, partitions: partitions, replicationFactor: replicationFactor,
                                    config: ["retention.ms": String(week), "max.message.bytes": maxBytes]))
        topics.append(KafkaNewTopic(name: operational, partitions: partitions, replicationFactor: replicationFactor,
                                    config: ["retention.ms": String(week)]))
        return topics
    }
}
