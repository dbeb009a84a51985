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

    public init() {}
}
