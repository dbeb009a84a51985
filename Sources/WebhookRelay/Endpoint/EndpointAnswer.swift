/// What the state machine learns when it looks a record's endpoint up.
enum EndpointAnswer: Sendable {
    case found(SharedEndpoint)
    /// Disabled in the registry: its records are dead-lettered `endpoint_disabled` (replayable
    /// with `republish` once it is enabled again), unless it does not subscribe to their event.
    case disabled(SharedEndpoint, reason: String)
    /// Deleted from the registry: its records are dead-lettered `endpoint_deleted`.
    case deleted
    /// No endpoint has the id: `unknown_endpoint`.
    case unknown
}
