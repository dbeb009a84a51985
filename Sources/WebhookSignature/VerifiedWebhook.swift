/// What a successful verification establishes about a webhook.
public struct VerifiedWebhook: Sendable, Hashable {
    /// The message id (`webhook-id`) or delivery id (`X-Nself-Delivery`), if sent.
    public var id: String?
    /// The signed unix timestamp.
    public var timestamp: Int64
    /// The event (`X-Nself-Event`), if sent.
    public var event: String?

    /// Creates a verification result.
    public init(id: String?, timestamp: Int64, event: String?) {
        self.id = id
        self.timestamp = timestamp
        self.event = event
    }
}
