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
    /// Republished records only: `<dlq id> <epoch ms>` of the replay.
    public static let replayedFrom = "replayed-from"

    /// The HTTP header telling the receiver which attempt a POST is (1 for the first). Not signed
    /// and not for deduplication, which is what `webhook-id` is for.
    public static let attemptHTTPHeader = "Webhook-Attempt"

    /// Headers the relay owns: replaced, never duplicated, on every hop.
    public static let relayOwned: Set<String> = [
        attempts, dueAt, firstAttemptAt, originTopic, originPartition, originOffset, lastStatus, lastError,
        deadLetterReason, diedAt,
    ]

    /// Longest `relay-last-error` value, in bytes.
    public static let lastErrorLimit = 512
}
