/// The range of offsets a partition holds.
public struct KafkaWatermarks: Sendable, Hashable {
    /// The oldest offset still kept.
    public var low: Int64
    /// The offset the next record will get: the partition's end as seen when asked.
    public var high: Int64

    public init(low: Int64, high: Int64) {
        self.low = low
        self.high = high
    }

    /// Whether the partition holds no records.
    public var isEmpty: Bool { high <= low }
}
