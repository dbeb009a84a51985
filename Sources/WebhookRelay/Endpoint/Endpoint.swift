import WebhookSignature

/// A subscriber endpoint: where and how its deliveries are sent.
///
/// A value with its fields in one shared, copy-on-write box: every record in flight carries its
/// endpoint, and a copy costs one reference count instead of one per field.
public struct Endpoint: Sendable {
    private struct Fields: Sendable {
        var id: String
        var url: String
        var scheme: SignatureScheme
        var signer: WebhookSigner
        var events: [EventPattern]
        var timeout: Duration
        var maxInFlight: Int
        var headers: [(name: String, value: String)]
        var policy: EndpointPolicy
    }

    private final class Box: Sendable {
        let fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box
    private var fields: Fields {
        get { box.fields }
        set { box = Box(newValue) }
    }

    init(
        id: String, url: String, scheme: SignatureScheme, signer: WebhookSigner, events: [EventPattern], timeout: Duration,
        maxInFlight: Int, headers: [(name: String, value: String)], policy: EndpointPolicy
    ) {
        box = Box(Fields(
            id: id, url: url, scheme: scheme, signer: signer, events: events, timeout: timeout, maxInFlight: maxInFlight,
            headers: headers, policy: policy
        ))
    }

    /// The id producers use as the record key.
    public var id: String {
        get { box.fields.id }
        set { fields.id = newValue }
    }
    /// The URL deliveries are POSTed to (`http` or `https`).
    public var url: String {
        get { box.fields.url }
        set { fields.url = newValue }
    }
    /// The signature scheme.
    public var scheme: SignatureScheme {
        get { box.fields.scheme }
        set { fields.scheme = newValue }
    }
    /// Signs deliveries with the endpoint's secrets (decoded once).
    public var signer: WebhookSigner {
        get { box.fields.signer }
        set { fields.signer = newValue }
    }
    /// Event patterns (`*` and `?` globs); empty means every event.
    public var events: [EventPattern] {
        get { box.fields.events }
        set { fields.events = newValue }
    }
    /// Time limit of one POST.
    public var timeout: Duration {
        get { box.fields.timeout }
        set { fields.timeout = newValue }
    }
    /// Deliveries to this endpoint in flight at once, at most.
    public var maxInFlight: Int {
        get { box.fields.maxInFlight }
        set { fields.maxInFlight = newValue }
    }
    /// Static headers added to every POST.
    public var headers: [(name: String, value: String)] {
        get { box.fields.headers }
        set { fields.headers = newValue }
    }
    /// Circuit, rate limit and final answers.
    public var policy: EndpointPolicy {
        get { box.fields.policy }
        set { fields.policy = newValue }
    }

    /// What its deliveries may hold in memory.
    var limits: EndpointLimits { EndpointLimits(maxInFlight: maxInFlight, rateLimit: policy.rateLimit) }

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
