/// How one HTTP attempt ended: the typed form that the delivery's decisions, logs, metrics labels
/// and dead-letter errors all use.
public enum AttemptOutcome: Sendable, Hashable {
    /// The endpoint answered with a status (redirects are not followed).
    case answered(HTTPAnswer)
    /// No complete answer within the endpoint's timeout.
    case timeout
    /// No connection could be opened: refused, unreachable, not resolved, connect timeout.
    case connectFailed(String)
    /// The TLS handshake failed: an untrusted certificate, a wrong name.
    case tlsFailed(String)
    /// The connection broke or closed while the request or its answer was under way.
    case connectionFailed(String)
    /// The answer was not HTTP/1.1 the relay can read.
    case invalidResponse(String)
    /// The request could not be built (a header value the endpoint's settings made invalid,
    /// signing failed); nothing was sent.
    case invalidRequest(String)
    /// The SSRF guard refused the endpoint's address: no connection was opened.
    case refusedAddress(AddressRefusal)
    /// The relay ended the attempt itself (its partition was let go): not the endpoint's doing.
    case cutShort
    /// The relay had no file descriptor for a connection: its own shortage, nothing was sent.
    case localShortage(String)

    /// An endpoint's answer: its status, `Retry-After` and the start of its body (failures only).
    public struct HTTPAnswer: Sendable, Hashable {
        public var status: Int
        public var retryAfter: String?
        /// The first bytes of a non-2xx answer's body, as text.
        public var bodyPrefix: String

        public init(status: Int, retryAfter: String? = nil, bodyPrefix: String = "") {
            self.status = status
            self.retryAfter = retryAfter
            self.bodyPrefix = bodyPrefix
        }
    }

    /// The answer's status, when there was one.
    public var status: Int? {
        if case .answered(let answer) = self { answer.status } else { nil }
    }

    /// A 2xx answer: the delivery is done. Anything else, 3xx included, is a failure.
    public var succeeded: Bool { status.map { (200..<300).contains($0) } ?? false }

    /// Whether the outcome says something about the endpoint: everything but the relay's own
    /// ``cutShort`` and ``localShortage``, which leave its circuit and health as they were.
    public var isEndpointResult: Bool {
        switch self {
        case .cutShort, .localShortage: false
        default: true
        }
    }

    /// The error text of logs and `relay-last-error`: `HTTP 503: <body start>`, `timeout`,
    /// `connect timeout`, `TLS: …`; `nil` for a 2xx.
    public var errorText: String? {
        switch self {
        case .answered(let answer):
            guard !(200..<300).contains(answer.status) else { return nil }
            return "HTTP \(answer.status)" + (answer.bodyPrefix.isEmpty ? "" : ": " + answer.bodyPrefix)
        case .timeout: return "timeout"
        case .connectFailed(let detail), .tlsFailed(let detail), .connectionFailed(let detail), .invalidResponse(let detail),
            .invalidRequest(let detail):
            return detail
        case .refusedAddress(let refusal): return refusal.description
        case .cutShort: return "cancelled"
        case .localShortage(let detail): return "no local resources: \(detail)"
        }
    }

    /// A bounded name of the outcome's kind, for metrics labels and the `error.class` of logs:
    /// `2xx`, `3xx`, `4xx`, `5xx`, `timeout`, `connect_failed`, `tls_failed`, `connection_failed`,
    /// `invalid_response`, `invalid_request`, `refused_address`, `cut_short`, `local_shortage`.
    public var kind: String {
        switch self {
        case .answered(let answer):
            switch answer.status {
            case 200..<300: "2xx"
            case 300..<400: "3xx"
            case 400..<500: "4xx"
            case 500..<600: "5xx"
            default: "other_status"
            }
        case .timeout: "timeout"
        case .connectFailed: "connect_failed"
        case .tlsFailed: "tls_failed"
        case .connectionFailed: "connection_failed"
        case .invalidResponse: "invalid_response"
        case .invalidRequest: "invalid_request"
        case .refusedAddress: "refused_address"
        case .cutShort: "cut_short"
        case .localShortage: "local_shortage"
        }
    }
}
