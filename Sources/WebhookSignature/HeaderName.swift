/// The header names used by the supported schemes, spelled exactly as they are sent.
public enum HeaderName {
    /// Standard Webhooks: the message id, stable across retries (`webhook-id`).
    public static let webhookID = "webhook-id"
    /// Standard Webhooks: unix seconds at signing time (`webhook-timestamp`).
    public static let webhookTimestamp = "webhook-timestamp"
    /// Standard Webhooks: space-separated `v1,…` / `v1a,…` signatures (`webhook-signature`).
    public static let webhookSignature = "webhook-signature"

    /// nSelf: `sha256=<lowercase hex HMAC-SHA256>` (`X-Nself-Signature-256`).
    public static let nselfSignature = "X-Nself-Signature-256"
    /// nSelf: the delivery id (`X-Nself-Delivery`).
    public static let nselfDelivery = "X-Nself-Delivery"
    /// nSelf: the event name (`X-Nself-Event`).
    public static let nselfEvent = "X-Nself-Event"
    /// nSelf: unix seconds at signing time (`X-Nself-Timestamp`).
    public static let nselfTimestamp = "X-Nself-Timestamp"
    /// The content type header sent with nSelf deliveries (`Content-Type`).
    public static let contentType = "Content-Type"
}
