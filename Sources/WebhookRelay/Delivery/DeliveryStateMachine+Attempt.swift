import Foundation

/// After an attempt: the endpoint's report, then the hop or dead letter the verdict asks for, and
/// what happens when Kafka refuses one.
extension DeliveryStateMachine {
    /// The attempt ended.
    /// - Parameters:
    ///   - startedAt: when it was made (wall-clock epoch milliseconds): the first attempt's time.
    ///   - now: wall-clock epoch milliseconds.
    ///   - random: a draw from -1...1 for the retry delay's jitter.
    mutating func attempted(_ outcome: AttemptOutcome, startedAt: Int64, now: Int64, random: Double) -> DeliveryAction {
        guard case .attempting(let admission, let number) = state, let endpoint else { return unexpected("attempted") }
        let verdict = AttemptVerdict.judge(
            outcome, attempts: number, policy: endpoint.policy, planner: configuration.planner,
            now: Date(timeIntervalSince1970: Double(now) / 1_000), random: random
        )
        switch verdict {
        case .attemptAgain(let after):
            state = .waitingToAttempt(admission, number: number)
            return .wait(after)
        case .cutShort:
            state = .reporting(.abandon(.cutShort))
            return .report(admission, .notMade)
        case .delivered, .retry, .deadLetter:
            // An ordered endpoint's failed attempt is made again in place, keeping the turn.
            let inPlace = if case .retry = verdict { endpoint.policy.ordered } else { false }
            state = .reporting(.verdict(verdict, outcome, startedAt: startedAt))
            // Formatted only when used: a date's text costs more than the rest of this step.
            let goneReason = outcome.status == 410 ? "410 Gone at \(Date(timeIntervalSince1970: Double(now) / 1_000))" : ""
            return .report(admission, .result(
                success: outcome.succeeded, status: outcome.status, error: outcome.errorText, at: now, goneReason: goneReason, keepsTurn: inPlace
            ))
        }
    }

    /// The endpoint heard how the attempt ended.
    mutating func reported(now: Int64) -> DeliveryAction {
        guard case .reporting(let next) = state else { return unexpected("reported") }
        switch next {
        case .abandon(let tally):
            state = .abandoned
            return .abandon(tally)
        case .verdict(.delivered, _, _):
            state = .finished
            return .finish(.delivered)
        case .verdict(.retry(let wait), let outcome, let startedAt) where endpoint?.policy.ordered == true:
            // Ordered: the next attempt waits here, not on a delay topic.
            var history = inPlace ?? InPlace(since: firstAttemptAt ?? startedAt)
            history.attempts += 1
            history.lastStatus = outcome.status
            history.lastError = outcome.errorText
            inPlace = history
            state = .waitingToRetry
            return .wait(wait.wait)
        case .verdict(.retry(let wait), let outcome, let startedAt):
            var hop = HopState(
                delivery: delivery, attempts: attempts + 1, firstAttemptAt: firstAttemptAt ?? startedAt,
                lastStatus: outcome.status, lastError: outcome.errorText
            )
            hop.dueAt = now + wait.wait.wholeMilliseconds
            return write(.hop(tier: wait.tier, afterFailure: true), to: configuration.topics.retry(wait.tier), hop, webhookID: delivery?.webhookID)
        case .verdict(.deadLetter(let reason), let outcome, let startedAt):
            return deadLetter(
                reason, lastError: outcome.errorText, lastStatus: outcome.status, attempts: attempts + 1,
                firstAttemptAt: firstAttemptAt ?? startedAt, now: now
            )
        case .verdict(.cutShort, _, _), .verdict(.attemptAgain, _, _):
            return unexpected("reported")
        }
    }

    /// Writing a hop or dead letter ended. A hop a delay topic refuses dies as `forward_failed`
    /// (it cannot wait, and writing it again could never work); a dead letter the DLQ refuses is
    /// written without its body; if even that is refused the record is let go (a partition held
    /// forever would stop every record behind it).
    mutating func written(_ outcome: WriteOutcome, now: Int64) -> DeliveryAction {
        guard case .writing(let write) = state else { return unexpected("written") }
        switch (outcome, write.purpose) {
        case (.written, .hop(let tier, let afterFailure)):
            state = .finished
            return .finish(afterFailure ? .retried(tier: tier) : .postponed)
        case (.written, .deadLetter(let reason)):
            state = .finished
            return .finish(.deadLettered(reason))
        case (.notOwned, _):
            state = .abandoned
            return .abandon(.none)
        case (.refused(let error), .hop):
            return deadLetter(
                .forwardFailed, lastError: "\(write.topic) refused the record (\(error)): \(bodySize) bytes of body",
                lastStatus: lastStatus, attempts: write.state.attempts, now: now,
                cause: .delayTopicRefused(topic: write.topic, error: error)
            )
        case (.refused(let error), .deadLetter):
            guard !write.withoutBody else {
                state = .finished
                return .finish(.dropped(write.deadLetterReason ?? .exhausted))
            }
            // Kept as metadata: the DLQ says what died and why, without the body it cannot hold.
            var kept = write
            kept.withoutBody = true
            kept.state.bodyOmitted = bodySize
            kept.state.lastError = (write.state.lastError.map { "\($0); " } ?? "") + "body omitted: the DLQ refused the record (\(error))"
            kept.cause = .deadLetterRefused(error: error)
            state = .writing(kept)
            return .write(kept)
        }
    }

    /// Ends the delivery on the dead-letter topic.
    mutating func deadLetter(
        _ reason: DeadLetterReason, lastError: String?, lastStatus: Int?, attempts: Int, firstAttemptAt: Int64? = nil, now: Int64,
        cause: DeliveryAction.Write.Cause? = nil
    ) -> DeliveryAction {
        var state = HopState(
            delivery: delivery, attempts: attempts, firstAttemptAt: firstAttemptAt ?? self.firstAttemptAt,
            lastStatus: lastStatus, lastError: lastError, origin: delivery?.origin ?? coordinates
        )
        state.deadLetterReason = reason.rawValue
        state.diedAt = now
        return write(.deadLetter(reason), to: configuration.topics.deadLetters, state, webhookID: delivery?.webhookID, cause: cause)
    }

    /// Writes a hop or dead letter.
    mutating func write(
        _ purpose: DeliveryAction.Write.Purpose, to topic: String, _ hop: HopState, webhookID: String?,
        cause: DeliveryAction.Write.Cause? = nil
    ) -> DeliveryAction {
        let write = DeliveryAction.Write(purpose: purpose, topic: topic, state: hop, webhookID: webhookID, cause: cause)
        state = .writing(write)
        return .write(write)
    }
}

extension DeliveryAction.Write {
    /// The dead-letter reason, for a dead letter.
    var deadLetterReason: DeadLetterReason? {
        if case .deadLetter(let reason) = purpose { reason } else { nil }
    }
}
