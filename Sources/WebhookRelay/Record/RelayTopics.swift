/// The topics webhook-relay reads and writes, derived from a prefix and the retry schedule.
///
/// All of them must have the deliveries topic's partition count: every hop keeps the source
/// partition number, so with the range assignor one replica owns an endpoint's partition on every
/// topic.
public struct RelayTopics: Sendable, Hashable {
    /// The topic prefix, `webhooks` by default.
    public let prefix: String
    /// The retry schedule whose distinct delays name the delay topics.
    public let schedule: RetrySchedule
    /// Each delay topic's delay, looked up for every record read from it.
    private let delaysByTopic: [String: Duration]

    /// Creates the topic set.
    public init(prefix: String = "webhooks", schedule: RetrySchedule = .standard) throws(ConfigurationError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard !prefix.isEmpty, prefix.count <= 200, prefix.allSatisfy(allowed.contains) else {
            throw ConfigurationError("topic prefix '\(prefix)' must be 1-200 characters of a-z, A-Z, 0-9, '.', '_' and '-'")
        }
        self.prefix = prefix
        self.schedule = schedule
        self.delaysByTopic = Dictionary(schedule.tiers.map { (Self.retryTopic(prefix: prefix, delay: $0), $0) }) { first, _ in first }
    }

    /// Where producers publish deliveries.
    public var deliveries: String { "\(prefix).deliveries" }
    /// Where applications publish events once (key = tenant), turned into one delivery per
    /// subscribed endpoint.
    public var events: String { "\(prefix).events" }
    /// What the relay tells operators (``OperationalEvent``: endpoint changes, circuits,
    /// exhausted messages; key = endpoint id).
    public var operational: String { "\(prefix).operational" }
    /// Dead letters.
    public var deadLetters: String { "\(prefix).dlq" }
    /// Marks of republished dead letters (compacted; key = DLQ id).
    public var replayed: String { "\(prefix).dlq.replayed" }
    /// What each partition's owner finished (compacted; key = consumed topic, same partition
    /// number), read by the next owner so that a hand-over repeats only unfinished records.
    public var progress: String { "\(prefix).progress" }
    /// The endpoint registry (compacted; key = endpoint id, value = the endpoint's JSON document,
    /// a tombstone deletes it), read whole by every replica that takes its endpoints from it.
    public var endpoints: String { "\(prefix).endpoints" }
    /// What each endpoint's owner last knew of its circuit and health (compacted; key = endpoint
    /// id), so that any replica's management API can answer for any endpoint.
    public var endpointStatus: String { "\(prefix).endpoint-status" }

    /// The delay topic of a delay, e.g. `webhooks.retry.30s`.
    public func retry(_ delay: Duration) -> String {
        Self.retryTopic(prefix: prefix, delay: delay)
    }

    private static func retryTopic(prefix: String, delay: Duration) -> String {
        "\(prefix).retry.\(DurationText.format(delay))"
    }

    /// Every delay topic, shortest delay first.
    public var retryTopics: [String] { schedule.tiers.map(retry) }

    /// The topics the relay consumes: deliveries and every delay topic.
    public var consumed: [String] { [deliveries] + retryTopics }

    /// Every topic the relay needs.
    public var all: [String] { consumed + [deadLetters, replayed, progress, endpoints, endpointStatus, events, operational] }

    /// The delay a delay topic stands for, or `nil` for any other topic.
    public func delay(ofRetryTopic topic: String) -> Duration? {
        delaysByTopic[topic]
    }
}
