/// One endpoint as the admin view (`/endpoints`) shows it.
public struct EndpointStatus: Sendable, Hashable, Codable {
    public var id: String
    /// `closed`, `open` or `half_open`.
    public var circuit: String
    /// open 0, half-open 30, closed `max(10, 100 − 10 × consecutive failures)`.
    public var healthScore: Int
    public var inFlight: Int
    public var waiting: Int
    public var lastStatus: Int?
    /// Set when a `410 Gone` disabled the endpoint on this replica.
    public var disabledReason: String?

    enum CodingKeys: String, CodingKey {
        case id, circuit, waiting
        case healthScore = "health_score"
        case inFlight = "in_flight"
        case lastStatus = "last_status"
        case disabledReason = "disabled_reason"
    }
}
