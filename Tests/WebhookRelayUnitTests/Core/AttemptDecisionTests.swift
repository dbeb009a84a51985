import Kafka
import Testing
@testable import WebhookRelay

/// What an attempt's outcome means, and what happens when Kafka refuses a hop or a dead letter:
/// the state machine after an attempt, and ``AttemptVerdict`` on its own.
struct AttemptDecisionTests {
    let now: Int64 = 1_700_000_000_000
    let admission = EndpointAdmission.Admission(probe: false, rateSlot: nil, waited: false, admittedAt: 0)

    func answered(_ status: Int, retryAfter: String? = nil, body: String = "") -> AttemptOutcome {
        .answered(.init(status: status, retryAfter: retryAfter, bodyPrefix: body))
    }

    /// A machine whose attempt number `attempts + 1` was just made and reported.
    func afterAttempt(
        _ outcome: AttemptOutcome, attempts: Int = 0, policy: EndpointPolicy = EndpointPolicy(), random: Double = 0
    ) -> (DeliveryStateMachine, DeliveryAction) {
        let record = attempts == 0
            ? CoreTest.record()
            : CoreTest.record(topic: "t.retry.1s", relay: [("relay-attempts", String(attempts)), ("relay-first-attempt-at", "1600000000000")])
        var machine = CoreTest.machine(record)
        _ = machine.start(now: now)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint(policy: policy))), now: now)
        _ = machine.admitted(.attempt(admission), now: now)
        let report = machine.attempted(outcome, startedAt: now - 100, now: now, random: random)
        guard case .report = report else { return (machine, report) }
        let next = machine.reported(now: now)
        return (machine, next)
    }

    func deadLetterReason(_ action: DeliveryAction) -> DeadLetterReason? {
        if case .write(let write) = action, case .deadLetter(let reason) = write.purpose { reason } else { nil }
    }

    @Test func aTwoHundredFinishesTheDeliveryAndTheEndpointHearsASuccess() {
        var machine = CoreTest.machine(CoreTest.record())
        _ = machine.start(now: now)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: now)
        _ = machine.admitted(.attempt(admission), now: now)
        let report = machine.attempted(answered(204), startedAt: now, now: now, random: 0)
        guard case .report(_, .result(true, 204, nil, _, _, false)) = report else {
            Issue.record("\(report)")
            return
        }
        #expect(machine.reported(now: now) == .finish(.delivered))
    }

    @Test func aFailedAttemptHopsToTheNextDelayTopicCarryingWhatHappened() throws {
        let (machine, action) = afterAttempt(answered(500, body: "boom"))
        guard case .write(let hop) = action else { throw CancellationError() }
        #expect(hop.purpose == .hop(tier: .seconds(1), afterFailure: true) && hop.topic == "t.retry.1s")
        #expect(hop.state.attempts == 1 && hop.state.lastStatus == 500 && hop.state.lastError == "HTTP 500: boom")
        #expect(hop.state.firstAttemptAt == now - 100, "the first attempt's start")
        #expect(hop.state.dueAt == now + 1_000 && hop.webhookID == "msg_1")
        var written = machine
        #expect(written.written(.written, now: now) == .finish(.retried(tier: .seconds(1))))
    }

    @Test func retryAfterOn429And503LengthensTheWaitButNotOnOtherStatuses() throws {
        for status in [429, 503] {
            let (_, action) = afterAttempt(answered(status, retryAfter: "20"))
            guard case .write(let hop) = action else { throw CancellationError() }
            #expect(hop.topic == "t.retry.30s" && hop.state.dueAt == now + 20_000, "\(status)")
        }
        let (_, other) = afterAttempt(answered(500, retryAfter: "20"))
        guard case .write(let hop) = other else { throw CancellationError() }
        #expect(hop.topic == "t.retry.1s", "Retry-After counts on 429 and 503 only")
    }

    @Test func theLastScheduledAttemptsFailureIsExhausted() throws {
        let (_, action) = afterAttempt(.timeout, attempts: 3)
        #expect(deadLetterReason(action) == .exhausted)
        guard case .write(let dead) = action else { throw CancellationError() }
        #expect(dead.state.attempts == 4 && dead.state.lastError == "timeout" && dead.state.firstAttemptAt == 1_600_000_000_000)
    }

    @Test func goneRejectedAndBlockedEndTheDeliveryAtOnce() {
        var permanent = EndpointPolicy()
        permanent.permanent4xx = true
        #expect(deadLetterReason(afterAttempt(answered(410)).1) == .gone)
        #expect(deadLetterReason(afterAttempt(answered(422), policy: permanent).1) == .rejected)
        #expect(deadLetterReason(afterAttempt(answered(422)).1) == nil, "a 4xx is retried unless the policy says permanent")
        for status in [408, 429] {
            #expect(deadLetterReason(afterAttempt(answered(status), policy: permanent).1) == nil, "\(status) is never permanent")
        }
        let refusal = AddressRefusal(host: "h", address: nil, reason: "10.0.0.1 is in 10.0.0.0/8 (private network)")
        #expect(deadLetterReason(afterAttempt(.refusedAddress(refusal)).1) == .blockedAddress)
    }

    @Test func aGoneAnswerTellsTheEndpointToDisableItself() {
        var machine = CoreTest.machine(CoreTest.record())
        _ = machine.start(now: now)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: now)
        _ = machine.admitted(.attempt(admission), now: now)
        guard case .report(_, .result(false, 410, "HTTP 410", now, let reason, false)) = machine.attempted(answered(410), startedAt: now, now: now, random: 0) else {
            Issue.record("a 410 is reported as a result")
            return
        }
        #expect(reason.hasPrefix("410 Gone at 2023-11-14"))
        var admission = EndpointAdmission(policy: EndpointPolicy(), limits: EndpointLimits(maxInFlight: 1, rateLimit: nil))
        guard case (.attempt(let admitted), _) = admission.enter(now: 0) else { return }
        #expect(admission.leave(admitted, .init(success: false, status: 410, now: 1, goneReason: reason)).disabled == .gone)
        #expect(admission.enter(now: 2).0 == .disabled(reason: reason))
    }

    @Test func anAttemptCutShortIsNoResultAndIsLeftToTheNextOwner() {
        var machine = CoreTest.machine(CoreTest.record())
        _ = machine.start(now: now)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: now)
        _ = machine.admitted(.attempt(admission), now: now)
        #expect(machine.attempted(.cutShort, startedAt: now, now: now, random: 0) == .report(admission, .notMade))
        #expect(machine.reported(now: now) == .abandon(.cutShort))
    }

    @Test func noDescriptorMeansAttemptingAgainKeepingTheSlotUnlessThePartitionGoes() {
        var machine = CoreTest.machine(CoreTest.record())
        _ = machine.start(now: now)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: now)
        _ = machine.admitted(.attempt(admission), now: now)
        #expect(machine.attempted(.localShortage("EMFILE"), startedAt: now, now: now, random: 0) == .wait(.milliseconds(250)))
        #expect(machine.timerFired(now: now + 250) == .attempt(admission, number: 1), "the same attempt, not a new one")
        #expect(machine.attempted(.localShortage("EMFILE"), startedAt: now, now: now, random: 0) == .wait(.milliseconds(250)))
        #expect(machine.revoked() == .report(admission, .notMade))
        #expect(machine.reported(now: now) == .abandon(.cutShort))
    }

    @Test func aHopTheDelayTopicRefusesDiesAsForwardFailed() throws {
        var (machine, _) = afterAttempt(answered(503))
        let dead = machine.written(.refused("MSG_SIZE_TOO_LARGE"), now: now)
        #expect(deadLetterReason(dead) == .forwardFailed)
        guard case .write(let write) = dead else { throw CancellationError() }
        #expect(write.state.lastError == "t.retry.1s refused the record (MSG_SIZE_TOO_LARGE): 2 bytes of body")
        #expect(write.state.attempts == 1 && write.cause == .delayTopicRefused(topic: "t.retry.1s", error: "MSG_SIZE_TOO_LARGE"))
    }

    @Test func aDeadLetterTheDLQRefusesIsKeptWithoutItsBodyThenDropped() throws {
        var (machine, _) = afterAttempt(answered(410))
        guard case .write(let small) = machine.written(.refused("MSG_SIZE_TOO_LARGE"), now: now) else { throw CancellationError() }
        #expect(small.withoutBody && small.state.bodyOmitted == 2 && small.state.deadLetterReason == "gone")
        #expect(small.state.lastError == "HTTP 410; body omitted: the DLQ refused the record (MSG_SIZE_TOO_LARGE)")
        #expect(machine.written(.refused("MSG_SIZE_TOO_LARGE"), now: now) == .finish(.dropped(.gone)))
    }

    @Test func aWriteForAPartitionNoLongerOwnedLeavesTheRecord() {
        var (machine, _) = afterAttempt(answered(500))
        #expect(machine.written(.notOwned, now: now) == .abandon(.none))
    }

    @Test func verdictsOnTheirOwn() throws {
        let planner = RetryPlanner(topics: CoreTest.topics, jitter: 0.1)
        func judge(_ outcome: AttemptOutcome, _ attempts: Int = 1, random: Double = 0) -> AttemptVerdict {
            AttemptVerdict.judge(outcome, attempts: attempts, policy: EndpointPolicy(), planner: planner, now: .init(), random: random)
        }
        #expect(judge(answered(200)) == .delivered)
        #expect(judge(answered(302)) == .retry(.init(tier: .seconds(1), wait: .seconds(1))), "redirects are not followed: a failure")
        #expect(judge(answered(500), random: 1) == .retry(.init(tier: .seconds(1), wait: .milliseconds(1_100))), "+10 % jitter")
        #expect(judge(answered(500), 4) == .deadLetter(.exhausted))
        #expect(judge(.cutShort) == .cutShort)
        #expect(judge(.localShortage("x")) == .attemptAgain(after: .milliseconds(250)))
        #expect(judge(.tlsFailed("TLS: bad certificate")) == .retry(.init(tier: .seconds(1), wait: .seconds(1))))
    }
}
