import Kafka
import WebhookSignature

/// A record of the contract in docs/records.md, decoded from the deliveries topic or a delay topic.
public struct DeliveryRecord: Sendable {
    /// The endpoint id (the record key).
    public var endpointID: String
    /// The event type (`webhook-event`).
    public var event: String
    /// The message id: the `webhook-id` header, or one derived from the origin coordinates.
    public var webhookID: String
    /// The body's content type.
    public var contentType: String
    /// The HTTP body, byte for byte.
    public var body: [UInt8]
    /// HTTP attempts made so far (0 on the deliveries topic).
    public var attempts: Int
    /// When the next attempt is due, epoch milliseconds (`nil`: now).
    public var dueAtMilliseconds: Int64?
    /// When the first attempt was made, epoch milliseconds.
    public var firstAttemptAtMilliseconds: Int64?
    /// The last HTTP status and error of an earlier attempt, carried from hop to hop.
    public var lastStatus: Int?
    public var lastError: String?
    /// Where the record was first read.
    public var origin: Origin
    /// The record's headers as read: the producer's, and the relay's hop headers on a delay topic
    /// (a producer's `relay-*` headers on the deliveries topic are not among them).
    public var headers: [KafkaHeader]

    /// Coordinates on the deliveries topic.
    public struct Origin: Sendable, Hashable {
        public var topic: String
        public var partition: Int32
        public var offset: Int64
    }
}

/// Why a record could not be decoded: the dead-letter reason and a detail for the log and header.
public struct DeliveryRecordDefect: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: DeadLetterReason
    public var detail: String

    /// Creates a defect.
    public init(reason: DeadLetterReason, detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason): \(detail)" }
}

extension DeliveryRecord {
    /// Decodes a consumed record. Never traps: every defect is returned as a reason.
    /// - Parameters:
    ///   - bodyLimit: the largest body accepted, in bytes.
    ///   - trustingRelayHeaders: whether the record comes from a topic only the relay writes (a
    ///     delay topic). When `false` (the deliveries topic, written by producers) every `relay-*`
    ///     header is ignored and left out of ``headers``: the record starts at attempt 0 with its
    ///     own coordinates as its origin, whatever a producer put there.
    public static func decode(
        _ record: KafkaConsumerRecord, bodyLimit: Int, trustingRelayHeaders: Bool
    ) -> Result<DeliveryRecord, DeliveryRecordDefect> {
        func malformed(_ detail: String) -> Result<DeliveryRecord, DeliveryRecordDefect> {
            .failure(DeliveryRecordDefect(reason: .malformed, detail: detail))
        }
        guard let keyBytes = record.key, !keyBytes.isEmpty else { return malformed("record has no key (the endpoint id)") }
        guard let endpointID = String(validating: keyBytes, as: UTF8.self) else { return malformed("key is not valid UTF-8") }

        var event: String?
        var webhookID: String?
        var contentType = "application/json"
        for header in record.headers {
            switch header.key {
            case RelayHeader.event, RelayHeader.id, RelayHeader.contentType:
                guard let value = header.stringValue else { return malformed("header '\(header.key)' is not valid UTF-8") }
                switch header.key {
                case RelayHeader.event: event = value
                case RelayHeader.id: webhookID = value
                default: contentType = value
                }
            default:
                continue
            }
        }
        // Copied only when there is something to drop: on the deliveries topic there rarely is.
        let forged = !trustingRelayHeaders && record.headers.contains { RelayHeader.isRelayOwned($0.key) }
        let headers = forged ? record.headers.filter { !RelayHeader.isRelayOwned($0.key) } : record.headers
        let hop: HopState
        switch trustingRelayHeaders ? HopState.read(record.headers) : .success(HopState()) {
        case .success(let state): hop = state
        case .failure(let defect): return .failure(defect)
        }
        guard let event, !event.isEmpty else { return malformed("no '\(RelayHeader.event)' header") }
        guard HeaderText.isPrintable(event) else {
            return malformed("'\(RelayHeader.event)' must be at most 256 printable characters")
        }
        guard HeaderText.isPrintable(contentType) else {
            return malformed("'\(RelayHeader.contentType)' must be at most 256 printable characters")
        }
        let origin = DeliveryRecord.Origin(
            topic: hop.originTopic ?? record.topic,
            partition: hop.originPartition ?? record.partition,
            offset: hop.originOffset ?? record.offset
        )
        let id = webhookID ?? derivedID(origin)
        guard isValidID(id) else {
            return malformed("'\(RelayHeader.id)' must be 1-256 printable ASCII characters without '.', ',' or spaces")
        }
        guard record.value.count <= bodyLimit else {
            return .failure(DeliveryRecordDefect(
                reason: .payloadTooLarge, detail: "body is \(record.value.count) bytes, the limit is \(bodyLimit)"
            ))
        }
        return .success(DeliveryRecord(
            endpointID: endpointID, event: event, webhookID: id, contentType: contentType, body: record.value,
            attempts: hop.attempts, dueAtMilliseconds: hop.dueAt, firstAttemptAtMilliseconds: hop.firstAttemptAt,
            lastStatus: hop.lastStatus, lastError: hop.lastError, origin: origin, headers: headers
        ))
    }

    /// A stable id for a record without `webhook-id`: the same for every retry and replay, since it
    /// comes from the origin coordinates (which hops carry), e.g. `msg_9c1f0e3a7b2d4c11_3_1042`.
    public static func derivedID(_ origin: Origin) -> String {
        // A fingerprint of the topic keeps ids short; partition and offset make them unique within it.
        "msg_\(HeaderText.fingerprint(origin.topic))_\(origin.partition)_\(origin.offset)"
    }

    /// Whether an id can be signed and sent: 1-256 printable ASCII characters without `.` (it
    /// separates the signed parts), `,` (HTTP splits header lists on it) or spaces.
    public static func isValidID(_ id: String) -> Bool {
        // One rule with the signer: an id the relay accepts is one it can send.
        WebhookSigner.isValidID(id)
    }
}
