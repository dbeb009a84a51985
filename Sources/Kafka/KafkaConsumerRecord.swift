/// A record read by a ``KafkaConsumer``.
public struct KafkaConsumerRecord: Sendable, Hashable {
    /// The topic and partition the record was read from.
    public var topicPartition: KafkaTopicPartition
    /// The record's offset within its partition.
    public var offset: Int64
    /// The key, or `nil` for a keyless record.
    public var key: [UInt8]?
    /// The value (payload).
    public var value: [UInt8]
    /// The headers, in order.
    public var headers: [KafkaHeader]
    /// The record timestamp in milliseconds since the epoch, when the broker supplied one.
    public var timestampMilliseconds: Int64?
    /// The value is null (a tombstone: on a compacted topic, the key's deletion); ``value`` is
    /// empty then, as it is for an empty value.
    public var isTombstone = false
    /// When librdkafka handed the record to this process, in monotonic nanoseconds
    /// (`DispatchTime.now().uptimeNanoseconds`; 0 for a record made by hand), for measuring the
    /// application's own latency. Eight bytes, not an optional instant: the record is copied along
    /// the whole delivery path. Not part of the record's identity: records that differ only in it
    /// are equal.
    public var receivedAt: UInt64 = 0

    /// Creates a record (useful for tests of code that consumes records).
    public init(
        topicPartition: KafkaTopicPartition,
        offset: Int64,
        key: [UInt8]?,
        value: [UInt8],
        headers: [KafkaHeader],
        timestampMilliseconds: Int64? = nil
    ) {
        self.topicPartition = topicPartition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestampMilliseconds = timestampMilliseconds
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.topicPartition == rhs.topicPartition && lhs.offset == rhs.offset && lhs.key == rhs.key && lhs.value == rhs.value
            && lhs.headers == rhs.headers && lhs.timestampMilliseconds == rhs.timestampMilliseconds && lhs.isTombstone == rhs.isTombstone
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(topicPartition)
        hasher.combine(offset)
        hasher.combine(key)
        hasher.combine(value)
        hasher.combine(headers)
        hasher.combine(timestampMilliseconds)
        hasher.combine(isTombstone)
    }

    /// The topic name.
    public var topic: String { topicPartition.topic }
    /// The partition number.
    public var partition: Int32 { topicPartition.partition }
}
