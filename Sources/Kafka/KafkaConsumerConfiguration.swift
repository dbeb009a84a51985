/// Settings of a ``KafkaConsumer``. Every field has a production default.
public struct KafkaConsumerConfiguration: Sendable {
    /// Where a group starts reading a partition that has no committed offset.
    public enum OffsetReset: String, Sendable {
        /// The oldest record still kept.
        case earliest
        /// Only records produced after the consumer joined.
        case latest
    }

    /// Comma-separated `host:port` list of bootstrap brokers.
    public var bootstrapServers: String
    /// The consumer group (`group.id`).
    public var groupID: String
    /// `client.id`, shown in broker logs and metrics.
    public var clientID: String = "webhook-relay"
    /// Static group membership (`group.instance.id`, KIP-345; Apache Kafka 2.3 and later): a member
    /// that comes back with the same id within ``sessionTimeout`` gets its partitions back without
    /// a rebalance, and a static member leaving does not rebalance the group either (its
    /// partitions wait for the session timeout). Unique per member; `nil` for dynamic membership.
    public var groupInstanceID: String?
    /// A member that sends no heartbeat for this long is removed from the group
    /// (`session.timeout.ms`).
    public var sessionTimeout: Duration = .seconds(10)
    /// `partition.assignment.strategy`. The range assignor gives a member the same partition numbers
    /// of every subscribed topic when the topics have equal partition counts.
    public var assignmentStrategy: String = "range"
    /// Where to start without a committed offset (`auto.offset.reset`).
    public var offsetReset: OffsetReset = .earliest
    /// How often stored offsets are committed (`auto.commit.interval.ms`).
    public var commitInterval: Duration = .seconds(1)
    /// Whether librdkafka commits stored offsets (`enable.auto.commit`). Off for a consumer
    /// whose offsets go into a producer's transactions
    /// (``KafkaProducer/sendOffsetsToTransaction(_:of:timeout:)``): nothing else commits them.
    public var autoCommit: Bool = true
    /// How often the member tells the coordinator it is alive (`heartbeat.interval.ms`); also how
    /// late it may learn that a rebalance started. Must be below ``sessionTimeout``.
    public var heartbeatInterval: Duration = .seconds(1)
    /// Records of one partition buffered ahead of the application. Above it the partition's
    /// fetching is paused until the application has taken half of them.
    public var maxBufferedRecordsPerPartition: Int = 1_000
    /// Bytes of one partition's buffered records (keys, values, headers) above which its fetching
    /// is paused too, until half of them were taken: what bounds the buffer's memory when records
    /// are large. Unbounded by default.
    public var maxBufferedBytesPerPartition: Int = .max
    /// What librdkafka fetches ahead per partition (`queued.max.messages.kbytes`): each assigned
    /// partition has its own queue, so the limit holds per partition (librdkafka's default
    /// forwards all partitions to one queue, which the limit then held for all of them).
    public var prefetchKilobytes: Int = 1_024
    /// The largest answer to one fetch request (`fetch.max.bytes`); librdkafka holds each answer
    /// in one buffer.
    public var maxFetchBytes: Int = 52_428_800
    /// How long the broker may hold a fetch request that finds no data (`fetch.wait.max.ms`).
    /// librdkafka has one fetch request in flight per broker, and a partition resumed after a
    /// pause (its buffer was full) joins only the next one: while the other partitions on that
    /// broker are idle, the resumed one waits this long for records.
    public var fetchWait: Duration = .milliseconds(500)
    /// How long the rebalance handler may take for revoked partitions before they are let go anyway.
    public var revocationTimeout: Duration = .seconds(30)
    /// Any librdkafka property (`security.protocol`, `sasl.*`, `ssl.*`, …); applied last, so it
    /// overrides the fields above.
    public var properties: [String: String] = [:]

    /// Creates a configuration with defaults for everything but the brokers and the group.
    public init(bootstrapServers: String, groupID: String) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
    }

    /// The librdkafka properties this configuration stands for.
    var librdkafkaProperties: [(String, String)] {
        var result: [(String, String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("group.id", groupID),
            ("client.id", clientID),
            ("session.timeout.ms", String(sessionTimeout.milliseconds)),
            ("partition.assignment.strategy", assignmentStrategy),
            ("auto.offset.reset", offsetReset.rawValue),
            ("enable.auto.commit", autoCommit ? "true" : "false"),
            ("auto.commit.interval.ms", String(commitInterval.milliseconds)),
            ("heartbeat.interval.ms", String(min(heartbeatInterval, sessionTimeout / 3).milliseconds)),
            ("enable.auto.offset.store", "false"),
            ("enable.partition.eof", "false"),
            ("queued.max.messages.kbytes", String(prefetchKilobytes)),
            ("fetch.max.bytes", String(maxFetchBytes)),
            ("fetch.wait.max.ms", String(fetchWait.milliseconds)),
        ]
        if let groupInstanceID { result.append(("group.instance.id", groupInstanceID)) }
        result.append(contentsOf: properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        // At-least-once rests on the application storing offsets itself: not overridable.
        result.append(("enable.auto.offset.store", "false"))
        return result
    }
}
