/// How the relay treats one endpoint beyond where and how it signs: circuit thresholds, rate
/// limit, which answers are final. Set per endpoint or in the endpoints file's `defaults`.
public struct EndpointPolicy: Sendable, Hashable {
    /// Circuit breaker thresholds.
    public var circuit = CircuitBreaker.Configuration()
    /// After this long since the first attempt, a record held back by an open circuit is
    /// dead-lettered as `circuit_open`.
    public var circuitMaxAge: Duration = .seconds(3 * 86_400)
    /// Requests per period at most (`rate_limit: 50/s`), or unlimited.
    public var rateLimit: RateLimit.Rate?
    /// A 4xx other than 408 and 429 is final: dead-lettered at once as `rejected`.
    public var permanent4xx = false
    /// Deliveries go one at a time in the order they were read (`ordered: true`): a failed one is
    /// retried in place on the retry schedule, holding the endpoint's later ones, instead of going
    /// through a delay topic; an open circuit holds them too. `max_in_flight` does not apply.
    public var ordered = false
    /// Every attempt failing for this long since the first failure after the last success
    /// disables the endpoint on the replica that owns it (as a `410` does) and tells the operator;
    /// `nil` (`auto_disable_after: never`): never. Five days, as Svix does.
    public var autoDisableAfter: Duration? = .seconds(5 * 86_400)

    public init() {}
}
