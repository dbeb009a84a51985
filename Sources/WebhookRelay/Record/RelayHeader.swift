/// Names of the Kafka headers of the record contract (docs/records.md).
public enum RelayHeader {
    // Set by producers.
    /// The event type (required).
    public static let event = "webhook-event"
    /// The message id, sent as `webhook-id` / `X-Nself-Delivery`. Optional: derived from the
    /// record's coordinates when absent, and added on the first hop so that it never changes.
    public static let id = "webhook-id"
    /// The body's content type (default `application/json`).
    public static let contentType = "content-type"

    // Added by the relay on hops to delay and dead-letter topics.
    /// HTTP attempts made so far.
    public static let attempts = "relay-attempts"
    /// When the record is due for its next attempt, epoch milliseconds.
    public static let dueAt = "relay-due-at"
    /// When the first attempt was made, epoch milliseconds.
    public static let firstAttemptAt = "relay-first-attempt-at"
    /// The deliveries-topic coordinates the record was first read at.
    public static let originTopic = "relay-origin-topic"
    public static let originPartition = "relay-origin-partition"
    public static let originOffset = "relay-origin-offset"
    /// The last HTTP status received (absent when no response arrived).
    public static let lastStatus = "relay-last-status"
    /// The last error, truncated to 512 bytes.
    public static let lastError = "relay-last-error"
    /// Dead letters only: why the delivery died (a ``DeadLetterReason``).
    public static let deadLetterReason = "relay-dlq-reason"
    /// Dead letters only: when it died, epoch milliseconds.
    public static let diedAt = "relay-died-at"
    /// Dead letters only: the body was left out because the DLQ refused the whole record; the
    /// value is the body's size in bytes. `republish` skips such entries.
    public static let bodyOmitted = "relay-body-omitted"
    /// Republished records only: `<dlq id> <epoch ms>` of the replay.
    public static let replayedFrom = "replayed-from"

    /// The HTTP header telling the receiver which attempt a POST is (1 for the first). Not signed
    /// and not for deduplication, which is what `webhook-id` is for.
    public static let attemptHTTPHeader = "Webhook-Attempt"

    /// The headers the relay writes on hops.
    public static let written: Set<String> = [
        attempts, dueAt, firstAttemptAt, originTopic, originPartition, originOffset, lastStatus, lastError,
        deadLetterReason, diedAt, bodyOmitted,
    ]

    /// Whether a header is in the relay's namespace (`relay-*`, in any case). The relay reads
    /// these only on the topics it writes (delay topics, the DLQ); on the deliveries topic a
    /// producer's `relay-*` header is ignored and dropped, so it cannot skip retries, fake a
    /// circuit age or borrow another record's origin. Every hop drops them all and writes its own.
    public static func isRelayOwned(_ key: String) -> Bool {
        let prefix = "relay-".utf8
        guard key.utf8.count >= prefix.count else { return false }
        return zip(key.utf8.prefix(prefix.count), prefix).allSatisfy { pair in
            let (byte, expected) = pair
            return byte == expected || (byte >= 0x41 && byte <= 0x5A && byte + 0x20 == expected)
        }
    }

    /// Longest `relay-last-error` value, in bytes.
    public static let lastErrorLimit = 512
}
