/// The version of webhook-relay, printed by `--version` and sent in the `User-Agent` header.
public enum WebhookRelayVersion {
    /// The release version string, e.g. `0.1.0`.
    public static let current = "0.1.0"
}
