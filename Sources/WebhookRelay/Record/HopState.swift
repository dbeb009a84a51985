import Kafka

/// What the relay knows about a delivery between attempts, as its `relay-*` headers carry it from
/// hop to hop: the one codec of those headers. The relay reads it from delay topics (strictly:
/// a header that does not parse is a defect), the DLQ views read it from dead letters (leniently:
/// such a field is absent), every hop and dead letter writes it, replacing whatever `relay-*`
/// headers the record had, and `republish` drops it (``replay(of:to:webhookID:replayedFrom:)``).
public struct HopState: Sendable, Hashable {
    /// HTTP attempts made so far.
    public var attempts = 0
    /// When the next attempt is due, epoch milliseconds (delay topics).
    public var dueAt: Int64?
    /// When the first attempt was made, epoch milliseconds.
    public var firstAttemptAt: Int64?
    /// Where the delivery was first read, as the three `relay-origin-*` headers give it.
    public var originTopic: String?
    public var originPartition: Int32?
    public var originOffset: Int64?
    /// The last HTTP status and error.
    public var lastStatus: Int?
    public var lastError: String?
    /// Dead letters: why and when the delivery died.
    public var deadLetterReason: String?
    public var diedAt: Int64?
    /// Dead letters kept without their body: the body's size.
    public var bodyOmitted: Int?

    /// The largest `relay-attempts` accepted.
    public static let maxAttempts = 1_000_000
    /// The latest time accepted: 9999-12-31T23:59:59.999Z.
    public static let maxEpochMilliseconds: Int64 = 253_402_300_799_999

    public init() {}

    /// The state of a delivery between attempts: its origin (or the given one) and the given counts.
    init(
        delivery: DeliveryRecord?, attempts: Int, firstAttemptAt: Int64?, lastStatus: Int?, lastError: String?,
        origin: DeliveryRecord.Origin? = nil
    ) {
        self.attempts = attempts
        self.firstAttemptAt = firstAttemptAt
        self.origin = origin ?? delivery?.origin
        self.lastStatus = lastStatus
        self.lastError = lastError
    }

    /// The origin when all three of its headers are there.
    public var origin: DeliveryRecord.Origin? {
        get {
            guard let originTopic, let originPartition, let originOffset else { return nil }
            return DeliveryRecord.Origin(topic: originTopic, partition: originPartition, offset: originOffset)
        }
        set {
            originTopic = newValue?.topic
            originPartition = newValue?.partition
            originOffset = newValue?.offset
        }
    }

    /// Reads the state strictly, as the pipeline must: ranges keep its arithmetic on these
    /// numbers (attempts + 1, now − first attempt) from overflowing, which would trap — a forged
    /// header must not crash the relay. Returns a `malformed` defect naming the first header that
    /// breaks the contract. `relay-last-status` and `relay-last-error` are information: a bad one is dropped.
    public static func read(_ headers: [KafkaHeader]) -> Result<HopState, DeliveryRecordDefect> {
        func malformed(_ detail: String) -> Result<HopState, DeliveryRecordDefect> {
            .failure(DeliveryRecordDefect(reason: .malformed, detail: detail))
        }
        var state = HopState()
        for header in headers where RelayHeader.isRelayOwned(header.key) {
            switch header.key {
            case RelayHeader.attempts, RelayHeader.dueAt, RelayHeader.firstAttemptAt, RelayHeader.originTopic,
                RelayHeader.originPartition, RelayHeader.originOffset:
                guard let value = header.stringValue else { return malformed("header '\(header.key)' is not valid UTF-8") }
                switch header.key {
                case RelayHeader.attempts:
                    guard let number = Int(value), (0...maxAttempts).contains(number) else {
                        return malformed("header '\(header.key)' is not a count from 0 to \(maxAttempts)")
                    }
                    state.attempts = number
                case RelayHeader.dueAt, RelayHeader.firstAttemptAt:
                    guard let number = epochMilliseconds(value) else { return malformed("header '\(header.key)' is not epoch milliseconds") }
                    if header.key == RelayHeader.dueAt { state.dueAt = number } else { state.firstAttemptAt = number }
                case RelayHeader.originTopic:
                    state.originTopic = value
                case RelayHeader.originPartition:
                    guard let number = Int32(value), number >= 0 else { return malformed("header '\(header.key)' is not a partition") }
                    state.originPartition = number
                default:
                    guard let number = Int64(value), number >= 0 else { return malformed("header '\(header.key)' is not an offset") }
                    state.originOffset = number
                }
            case RelayHeader.lastStatus:
                state.lastStatus = header.stringValue.flatMap { Int($0) }
            case RelayHeader.lastError:
                state.lastError = header.stringValue
            case RelayHeader.deadLetterReason:
                state.deadLetterReason = header.stringValue
            case RelayHeader.diedAt:
                state.diedAt = header.stringValue.flatMap(epochMilliseconds)
            case RelayHeader.bodyOmitted:
                state.bodyOmitted = header.stringValue.flatMap { Int($0) }.flatMap { $0 >= 0 ? $0 : nil }
            default:
                continue
            }
        }
        return .success(state)
    }

    /// Reads the state of a record the relay may not have written (the DLQ views): each field
    /// that does not parse is absent, the others are kept.
    public static func lenient(_ headers: [KafkaHeader]) -> HopState {
        if case .success(let state) = read(headers) { return state }
        var state = HopState()
        for header in headers where RelayHeader.isRelayOwned(header.key) {
            if case .success(let one) = read([header]) { state.merge(one) }
        }
        return state
    }

    private mutating func merge(_ other: HopState) {
        if other.attempts != 0 { attempts = other.attempts }
        originTopic = other.originTopic ?? originTopic
        originPartition = other.originPartition ?? originPartition
        originOffset = other.originOffset ?? originOffset
        dueAt = other.dueAt ?? dueAt
        firstAttemptAt = other.firstAttemptAt ?? firstAttemptAt
        lastStatus = other.lastStatus ?? lastStatus
        lastError = other.lastError ?? lastError
        deadLetterReason = other.deadLetterReason ?? deadLetterReason
        diedAt = other.diedAt ?? diedAt
        bodyOmitted = other.bodyOmitted ?? bodyOmitted
    }

    /// A number from 0 to year 9999.
    private static func epochMilliseconds(_ value: String) -> Int64? {
        guard let number = Int64(value), (0...maxEpochMilliseconds).contains(number) else { return nil }
        return number
    }

    /// The headers of this state, in a fixed order: `relay-attempts` always, the rest when set;
    /// `relay-last-error` cut to ``RelayHeader/lastErrorLimit`` bytes.
    public var headers: [KafkaHeader] {
        var headers = [KafkaHeader(key: RelayHeader.attempts, value: String(attempts))]
        if let firstAttemptAt { headers.append(KafkaHeader(key: RelayHeader.firstAttemptAt, value: String(firstAttemptAt))) }
        if let origin {
            headers.append(KafkaHeader(key: RelayHeader.originTopic, value: origin.topic))
            headers.append(KafkaHeader(key: RelayHeader.originPartition, value: String(origin.partition)))
            headers.append(KafkaHeader(key: RelayHeader.originOffset, value: String(origin.offset)))
        }
        if let lastStatus { headers.append(KafkaHeader(key: RelayHeader.lastStatus, value: String(lastStatus))) }
        if let lastError { headers.append(KafkaHeader(key: RelayHeader.lastError, value: Self.truncate(lastError))) }
        if let dueAt { headers.append(KafkaHeader(key: RelayHeader.dueAt, value: String(dueAt))) }
        if let deadLetterReason { headers.append(KafkaHeader(key: RelayHeader.deadLetterReason, value: deadLetterReason)) }
        if let diedAt { headers.append(KafkaHeader(key: RelayHeader.diedAt, value: String(diedAt))) }
        if let bodyOmitted { headers.append(KafkaHeader(key: RelayHeader.bodyOmitted, value: String(bodyOmitted))) }
        return headers
    }

    /// The record of a hop to `topic`: the same key, body and partition number; the producer's
    /// headers kept, with `webhook-id` added when the relay derived it; every `relay-*` header
    /// replaced by this state's (a producer's forged ones never travel on).
    public func hop(of record: KafkaConsumerRecord, to topic: String, webhookID: String?) -> KafkaProducerRecord {
        var headers = Self.producerHeaders(of: record, webhookID: webhookID)
        headers.append(contentsOf: self.headers)
        return KafkaProducerRecord(topic: topic, partition: record.partition, key: record.key, value: record.value, headers: headers)
    }

    /// A dead letter put back on the deliveries topic (`republish`): the same key, body, partition
    /// number, producer headers and `webhook-id`; no `relay-*` header (the delivery starts again
    /// at attempt 0), and `replayed-from: <DLQ id> <epoch ms>` (information, never trusted).
    public static func replay(of record: KafkaConsumerRecord, to topic: String, webhookID: String?, replayedFrom: String) -> KafkaProducerRecord {
        var headers = producerHeaders(of: record, webhookID: webhookID).filter { $0.key != RelayHeader.replayedFrom }
        headers.append(KafkaHeader(key: RelayHeader.replayedFrom, value: replayedFrom))
        return KafkaProducerRecord(topic: topic, partition: record.partition, key: record.key, value: record.value, headers: headers)
    }

    /// The record's headers without the relay's, with `webhook-id` added when it has none.
    private static func producerHeaders(of record: KafkaConsumerRecord, webhookID: String?) -> [KafkaHeader] {
        var headers = record.headers.filter { !RelayHeader.isRelayOwned($0.key) }
        if let webhookID, !headers.contains(where: { $0.key == RelayHeader.id }) {
            headers.append(KafkaHeader(key: RelayHeader.id, value: webhookID))
        }
        return headers
    }

    /// A dead letter without its body (the DLQ refused it whole): the key, the contract's headers
    /// (each at most 1 KiB) and this state's, which says in `relay-body-omitted` how large the body
    /// was. `republish` skips such entries.
    public func withoutBody(of record: KafkaConsumerRecord, to topic: String, webhookID: String?) -> KafkaProducerRecord {
        let contract: Set<String> = [RelayHeader.event, RelayHeader.id, RelayHeader.contentType]
        let whole = hop(of: record, to: topic, webhookID: webhookID)
        let kept = whole.headers.filter { contract.contains($0.key) && ($0.value?.count ?? 0) <= 1_024 }
        return KafkaProducerRecord(topic: topic, partition: record.partition, key: record.key, value: [], headers: kept + headers)
    }

    /// `text` cut to ``RelayHeader/lastErrorLimit`` bytes on a character boundary, with `...`.
    static func truncate(_ text: String) -> String {
        guard text.utf8.count > RelayHeader.lastErrorLimit else { return text }
        var result = ""
        for character in text {
            if result.utf8.count + character.utf8.count > RelayHeader.lastErrorLimit - 3 { break }
            result.append(character)
        }
        return result + "..."
    }
}
