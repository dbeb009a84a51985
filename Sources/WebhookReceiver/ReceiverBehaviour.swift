/// How one receiving endpoint answers: what `webhook-relay listen --behaviour` and the tests script.
///
/// Rules are checked in this order for each request: a bad signature is answered `401`; past
/// ``goneAfter`` requests every answer is `410`; ``alwaysFail``, ``failFirstRequests`` and
/// ``failFirstAttempts`` answer ``failureStatus``; then one draw in [0, 1) picks a connection
/// reset, a timeout, a `429`, a failure or (with ``slowRate``) a slow success, in that order of
/// the rates. The draw is a hash of the endpoint, the webhook id and the attempt, so a run can be
/// repeated exactly and a test can tell which answer each attempt got from the log.
public struct ReceiverBehaviour: Sendable, Hashable {
    /// Answer ``failureStatus`` to the first this many requests of each webhook id.
    public var failFirstAttempts: Int
    /// Answer ``failureStatus`` to the first this many requests of the endpoint, whatever their id.
    public var failFirstRequests: Int
    /// Answer ``failureStatus`` to every request.
    public var alwaysFail: Bool
    /// The status of a failed request.
    public var failureStatus: Int
    /// The status of a successful request.
    public var successStatus: Int
    /// How long to wait before every answer.
    public var responseDelay: Duration
    /// A `Retry-After` value sent with ``failureStatus`` answers.
    public var retryAfter: String?
    /// Fraction of requests answered ``failureStatus``.
    public var failureRate: Double
    /// Fraction of requests never answered: the request is held for ``hangDuration``.
    public var timeoutRate: Double
    /// How long a timed-out request is held before the connection is closed.
    public var hangDuration: Duration
    /// Fraction of requests whose connection is reset (TCP RST) without an answer.
    public var resetRate: Double
    /// Fraction of requests answered `429 Too Many Requests` with ``tooManyRequestsRetryAfter``.
    public var tooManyRequestsRate: Double
    /// The `Retry-After` header of a `429`.
    public var tooManyRequestsRetryAfter: String
    /// Fraction of requests answered successfully after ``slowDelay``.
    public var slowRate: Double
    /// The extra wait of a slow answer.
    public var slowDelay: Duration
    /// After this many requests to the endpoint, every request is answered `410 Gone`.
    public var goneAfter: Int?

    /// Creates a behaviour; the default succeeds at once with 204.
    public init(
        failFirstAttempts: Int = 0, failFirstRequests: Int = 0, alwaysFail: Bool = false, failureStatus: Int = 500,
        successStatus: Int = 204, responseDelay: Duration = .zero, retryAfter: String? = nil,
        failureRate: Double = 0, timeoutRate: Double = 0, hangDuration: Duration = .seconds(30), resetRate: Double = 0,
        tooManyRequestsRate: Double = 0, tooManyRequestsRetryAfter: String = "1", slowRate: Double = 0,
        slowDelay: Duration = .milliseconds(500), goneAfter: Int? = nil
    ) {
        self.failFirstAttempts = failFirstAttempts
        self.failFirstRequests = failFirstRequests
        self.alwaysFail = alwaysFail
        self.failureStatus = failureStatus
        self.successStatus = successStatus
        self.responseDelay = responseDelay
        self.retryAfter = retryAfter
        self.failureRate = failureRate
        self.timeoutRate = timeoutRate
        self.hangDuration = hangDuration
        self.resetRate = resetRate
        self.tooManyRequestsRate = tooManyRequestsRate
        self.tooManyRequestsRetryAfter = tooManyRequestsRetryAfter
        self.slowRate = slowRate
        self.slowDelay = slowDelay
        self.goneAfter = goneAfter
    }

    /// What the receiver does with one request.
    public enum Answer: Sendable, Hashable, CustomStringConvertible {
        /// Answer with this status (and headers), after `delay`.
        case respond(status: Int, retryAfter: String?, delay: Duration)
        /// Hold the request without answering, then close the connection.
        case hang(Duration)
        /// Reset the connection without answering.
        case reset

        /// `204`, `timeout` or `reset`: how the log names it.
        public var description: String {
            switch self {
            case .respond(let status, _, _): String(status)
            case .hang: "timeout"
            case .reset: "reset"
            }
        }

        /// The status answered, or `nil` for a timeout or reset.
        public var status: Int? {
            if case .respond(let status, _, _) = self { return status }
            return nil
        }
    }

    /// The answer to a request.
    ///
    /// - Parameters:
    ///   - verified: whether its signature verified.
    ///   - attempt: 1 for the first request with its webhook id at this endpoint, 2 for the next, ….
    ///   - endpointRequests: requests to the endpoint before this one.
    ///   - draw: a number in [0, 1) (see ``draw(endpoint:webhookID:attempt:)``).
    public func answer(verified: Bool, attempt: Int, endpointRequests: Int, draw: Double) -> Answer {
        guard verified else { return .respond(status: 401, retryAfter: nil, delay: responseDelay) }
        if let goneAfter, endpointRequests >= goneAfter { return .respond(status: 410, retryAfter: nil, delay: responseDelay) }
        if alwaysFail || endpointRequests < failFirstRequests || attempt <= failFirstAttempts {
            return .respond(status: failureStatus, retryAfter: retryAfter, delay: responseDelay)
        }
        var bound = resetRate
        if draw < bound { return .reset }
        bound += timeoutRate
        if draw < bound { return .hang(hangDuration) }
        bound += tooManyRequestsRate
        if draw < bound { return .respond(status: 429, retryAfter: tooManyRequestsRetryAfter, delay: responseDelay) }
        bound += failureRate
        if draw < bound { return .respond(status: failureStatus, retryAfter: retryAfter, delay: responseDelay) }
        bound += slowRate
        if draw < bound { return .respond(status: successStatus, retryAfter: nil, delay: responseDelay + slowDelay) }
        return .respond(status: successStatus, retryAfter: nil, delay: responseDelay)
    }

    /// A number in [0, 1) that depends only on its arguments (FNV-1a, then a 64-bit mix).
    public static func draw(endpoint: String, webhookID: String, attempt: Int) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func add(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        for byte in endpoint.utf8 { add(byte) }
        add(0)
        for byte in webhookID.utf8 { add(byte) }
        add(0)
        withUnsafeBytes(of: UInt64(truncatingIfNeeded: attempt).littleEndian) { $0.forEach(add) }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return Double(hash >> 11) / Double(UInt64(1) << 53)
    }
}
