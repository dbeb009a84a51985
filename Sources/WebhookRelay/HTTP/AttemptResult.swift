/// The result of one HTTP attempt: how it ended and how long it took.
public struct AttemptResult: Sendable {
    /// How the attempt ended.
    public var outcome: AttemptOutcome
    /// How long it took.
    public var duration: Duration
    /// When the request was written, and when its response was read, in monotonic nanoseconds
    /// (`DispatchTime`); 0 when unknown.
    public var writtenAt: UInt64 = 0
    public var answeredAt: UInt64 = 0

    public init(_ outcome: AttemptOutcome, duration: Duration) {
        self.outcome = outcome
        self.duration = duration
    }

    /// The response status, or `nil` when no response arrived.
    public var status: Int? { outcome.status }
    /// Why the attempt failed, as logs and dead letters say it; `nil` for a 2xx.
    public var error: String? { outcome.errorText }
    /// The `Retry-After` response header, if any.
    public var retryAfter: String? {
        if case .answered(let answer) = outcome { answer.retryAfter } else { nil }
    }
    /// The SSRF guard's refusal, when it refused the address.
    public var refusal: AddressRefusal? {
        if case .refusedAddress(let refusal) = outcome { refusal } else { nil }
    }
    /// The relay itself cut the attempt short (``AttemptCancellation``).
    public var cutShort: Bool { outcome == .cutShort }
    /// 2xx is success; anything else, including 3xx, is a failure.
    public var succeeded: Bool { outcome.succeeded }
}
