/// A record to produce.
public struct KafkaProducerRecord: Sendable, Hashable {
    /// The topic to produce to.
    public var topic: String
    /// An explicit partition, or `nil` to let the partitioner choose (by key when there is one).
    public var partition: Int32?
    /// The key, or `nil` for a keyless record.
    public var key: [UInt8]?
    /// The value (payload).
    public var value: [UInt8]
    /// The headers, in order.
    public var headers: [KafkaHeader]
    /// A tombstone: the value is null (not empty), which a compacted topic takes as the deletion
    /// of the key. ``value`` is empty then.
    public var isTombstone = false

    /// Creates a record.
    public init(topic: String, partition: Int32? = nil, key: [UInt8]? = nil, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// A tombstone for `key`: a record with a null value.
    public static func tombstone(topic: String, partition: Int32? = nil, key: [UInt8], headers: [KafkaHeader] = []) -> KafkaProducerRecord {
        var record = KafkaProducerRecord(topic: topic, partition: partition, key: key, value: [], headers: headers)
        record.isTombstone = true
        return record
    }
}

/// Where the broker stored a produced record.
public struct KafkaDeliveryReport: Sendable, Hashable {
    /// The partition the record was written to.
    public var partition: Int32
    /// The record's offset in that partition.
    public var offset: Int64

    /// Creates a report.
    public init(partition: Int32, offset: Int64) {
        self.partition = partition
        self.offset = offset
    }
}
