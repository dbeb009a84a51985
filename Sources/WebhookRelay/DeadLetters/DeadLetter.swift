import Kafka

/// An entry of the dead-letter topic, as `dlq list`, `dlq show` and `republish` see it.
public struct DeadLetter: Sendable {
    /// The entry's id: its coordinates on the dead-letter topic, `<partition>-<offset>`.
    public struct ID: Sendable, Hashable, Comparable, CustomStringConvertible {
        public var partition: Int32
        public var offset: Int64

        public init(partition: Int32, offset: Int64) {
            self.partition = partition
            self.offset = offset
        }

        /// Parses `3-1042`.
        public init?(_ text: String) {
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let partition = Int32(parts[0]), partition >= 0, let offset = Int64(parts[1]), offset >= 0,
                parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) })
            else { return nil }
            self.init(partition: partition, offset: offset)
        }

        public var description: String { "\(partition)-\(offset)" }

        public static func < (lhs: ID, rhs: ID) -> Bool { (lhs.partition, lhs.offset) < (rhs.partition, rhs.offset) }
    }

    /// The record as it sits on the dead-letter topic.
    public let record: KafkaConsumerRecord
    /// The relay's headers, read once with the pipeline's codec; a field that does not parse is absent.
    public let state: HopState
    /// When it was re-enqueued by `republish` (epoch milliseconds), if ever.
    public var replayedAt: Int64?

    public init(record: KafkaConsumerRecord, replayedAt: Int64? = nil) {
        self.record = record
        self.state = HopState.lenient(record.headers)
        self.replayedAt = replayedAt
    }

    public var id: ID { ID(partition: record.partition, offset: record.offset) }

    private func header(_ name: String) -> String? { record.headers.first(named: name)?.stringValue }

    /// The endpoint id (the record key), when it is UTF-8.
    public var endpointID: String? { record.key.flatMap { String(validating: $0, as: UTF8.self) } }
    /// The `webhook-id`, or the id the relay derives from the origin coordinates.
    public var webhookID: String? { header(RelayHeader.id) ?? origin.map(DeliveryRecord.derivedID) }
    public var event: String? { header(RelayHeader.event) }
    /// Why it died; `nil` for a record the relay did not write.
    public var reason: String? { state.deadLetterReason }
    public var attempts: Int? { record.headers.first(named: RelayHeader.attempts) == nil ? nil : state.attempts }
    /// When it died, epoch milliseconds (the record timestamp when the header is missing).
    public var diedAt: Int64? { state.diedAt ?? record.timestampMilliseconds }
    public var lastStatus: Int? { state.lastStatus }
    public var lastError: String? { state.lastError }
    /// The size of the body the DLQ could not hold, for an entry written without it.
    public var bodyOmitted: Int? { state.bodyOmitted }

    /// Where the delivery was first read, from the relay's origin headers.
    public var origin: DeliveryRecord.Origin? { state.origin }

    /// Where `republish` puts it back: the events topic for an event the fan-out dead-lettered
    /// (its origin), the deliveries topic for everything else.
    public func replayTopic(in topics: RelayTopics) -> String {
        origin?.topic == topics.events ? topics.events : topics.deliveries
    }

    /// The delivery to put back on the deliveries topic: same key, body, producer headers and
    /// `webhook-id`, attempts reset (no relay headers), a `replayed-from: <id> <epoch ms>` header,
    /// and the same partition number.
    public func replay(to topic: String, at now: Int64) -> KafkaProducerRecord {
        HopState.replay(of: record, to: topic, webhookID: webhookID, replayedFrom: "\(id) \(now)")
    }
}

/// Which dead letters a command works on.
public struct DeadLetterFilter: Sendable {
    public var ids: Set<DeadLetter.ID> = []
    public var endpointID: String?
    public var event: String?
    public var reason: String?
    /// Died at or after, epoch milliseconds.
    public var since: Int64?
    /// Died before, epoch milliseconds.
    public var until: Int64?

    public init() {}

    public func matches(_ entry: DeadLetter) -> Bool {
        if !ids.isEmpty && !ids.contains(entry.id) { return false }
        if let endpointID, entry.endpointID != endpointID { return false }
        if let event, entry.event != event { return false }
        if let reason, entry.reason != reason { return false }
        if let since, (entry.diedAt ?? .min) < since { return false }
        if let until, (entry.diedAt ?? .max) >= until { return false }
        return true
    }
}
