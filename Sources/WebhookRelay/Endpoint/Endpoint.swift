import WebhookSignature

/// A subscriber endpoint: where and how its deliveries are sent.
public struct Endpoint: Sendable {
    /// The id producers use as the record key.
    public var id: String
    /// The URL deliveries are POSTed to (`http` or `https`).
    public var url: String
    /// The signature scheme.
    public var scheme: SignatureScheme
    /// Signs deliveries with the endpoint's secrets (decoded once).
    public var signer: WebhookSigner
    /// Event patterns (`*` and `?` globs); empty means every event.
    public var events: [EventPattern]
    /// Time limit of one POST.
    public var timeout: Duration
    /// Deliveries to this endpoint in flight at once, at most.
    public var maxInFlight: Int
    /// Static headers added to every POST.
    public var headers: [(name: String, value: String)]
    /// Circuit, rate limit and final answers.
    public var policy: EndpointPolicy
    /// The tenant (or application) whose events the endpoint subscribes to on the events topic;
    /// `nil`: none (it gets only deliveries producers address to it).
    public var tenant: String? = nil

    /// What its deliveries may hold in memory.
    var limits: EndpointLimits { EndpointLimits(maxInFlight: maxInFlight, rateLimit: policy.rateLimit, ordered: policy.ordered) }

    /// Whether a record of this event type is delivered to the endpoint.
    public func accepts(event: String) -> Bool {
        events.isEmpty || events.contains { $0.matches(event) }
    }
}

/// A glob over event types: `*` matches any run of characters, `?` one character.
public struct EventPattern: Sendable, Hashable, CustomStringConvertible {
    private let pattern: [Character]

    /// Creates a pattern.
    public init(_ pattern: String) {
        self.pattern = Array(pattern)
    }

    public var description: String { String(pattern) }

    /// Whether `event` matches the whole pattern.
    public func matches(_ event: String) -> Bool {
        let text = Array(event)
        var p = 0, t = 0
        var star: Int?, starText = 0
        while t < text.count {
            if p < pattern.count && (pattern[p] == "?" || pattern[p] == text[t]) {
                p += 1
                t += 1
            } else if p < pattern.count && pattern[p] == "*" {
                star = p
                starText = t
                p += 1
            } else if let star {
                p = star + 1
                starText += 1
                t = starText
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}
