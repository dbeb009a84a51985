/// Why a delivery ended on the dead-letter topic (`relay-dlq-reason`).
public enum DeadLetterReason: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Every attempt of the retry schedule failed.
    case exhausted
    /// The endpoint answered `410 Gone` and is disabled.
    case gone
    /// The endpoint answered a 4xx that its settings call permanent.
    case rejected
    /// The body is larger than the configured limit.
    case payloadTooLarge = "payload_too_large"
    /// The record's key names no configured endpoint.
    case unknownEndpoint = "unknown_endpoint"
    /// The record's endpoint was deleted from the registry (its tombstone is still known).
    case endpointDeleted = "endpoint_deleted"
    /// The record's endpoint is disabled in the registry.
    case endpointDisabled = "endpoint_disabled"
    /// The record does not follow the contract (no key, no event, bad headers).
    case malformed
    /// The endpoint's circuit stayed open past the maximum age.
    case circuitOpen = "circuit_open"
    /// The endpoint's address is not allowed (SSRF guard).
    case blockedAddress = "blocked_address"
    /// A delay topic refused the record (too large for it, or invalid there): it could not wait
    /// for its next attempt, so it died instead of being retried forever.
    case forwardFailed = "forward_failed"

    public var description: String { rawValue }
}
