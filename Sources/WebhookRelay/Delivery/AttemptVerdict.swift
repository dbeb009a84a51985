import Foundation

/// What a finished attempt means for its delivery: done, retried on a delay topic, dead-lettered,
/// or not the endpoint's result at all. The decisions on `2xx`, `410 Gone`, permanent 4xx,
/// `Retry-After`, a refused address and an exhausted schedule are all here.
enum AttemptVerdict: Sendable, Equatable {
    /// A 2xx: the delivery is done.
    case delivered
    /// It failed and the schedule has another attempt: wait on this delay topic.
    case retry(RetryPlanner.Wait)
    /// It failed for good, for this reason.
    case deadLetter(DeadLetterReason)
    /// The relay cut it short: not a result; the record is left for the partition's next owner.
    case cutShort
    /// The relay had no descriptor for a connection: nothing was sent, and it is attempted again
    /// after this long, keeping its slot.
    case attemptAgain(after: Duration)

    /// How long an attempt that found no file descriptor waits before trying again.
    static let localShortageWait: Duration = .milliseconds(250)

    /// Judges an attempt.
    /// - Parameters:
    ///   - attempts: HTTP attempts made so far, this one included.
    ///   - now: the wall-clock time, for a `Retry-After` given as a date.
    ///   - random: a draw from -1...1 for the retry delay's jitter.
    static func judge(
        _ outcome: AttemptOutcome, attempts: Int, policy: EndpointPolicy, planner: RetryPlanner, now: Date, random: Double
    ) -> AttemptVerdict {
        switch outcome {
        case .cutShort: return .cutShort
        case .localShortage: return .attemptAgain(after: localShortageWait)
        default: break
        }
        if outcome.succeeded { return .delivered }
        if let reason = finalReason(outcome, policy: policy) { return .deadLetter(reason) }
        let retryAfter: Duration?
        if case .answered(let answer) = outcome, answer.status == 429 || answer.status == 503 {
            retryAfter = RetryAfter.parse(answer.retryAfter, now: now)
        } else {
            retryAfter = nil
        }
        guard let next = planner.afterFailure(attempts: attempts, retryAfter: retryAfter, random: random) else {
            return .deadLetter(.exhausted)
        }
        return .retry(next)
    }

    /// A failed attempt that ends the delivery at once: a refused address, `410 Gone`, or a 4xx
    /// the endpoint's policy calls permanent (never 408 or 429).
    static func finalReason(_ outcome: AttemptOutcome, policy: EndpointPolicy) -> DeadLetterReason? {
        if case .refusedAddress = outcome { return .blockedAddress }
        switch outcome.status {
        case 410?: return .gone
        case let status? where policy.permanent4xx && (400..<500).contains(status) && status != 408 && status != 429:
            return .rejected
        default: return nil
        }
    }
}
