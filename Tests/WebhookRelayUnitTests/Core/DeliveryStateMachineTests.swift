import Kafka
import Testing
@testable import WebhookRelay

/// Every decision about one record, event by event: no broker, no network, no clock.
struct DeliveryStateMachineTests {
    let now: Int64 = 1_700_000_000_000
    let admission = EndpointAdmission.Admission(probe: false, rateSlot: nil, waited: false, admittedAt: 0)

    func write(_ action: DeliveryAction) throws -> DeliveryAction.Write {
        guard case .write(let write) = action else {
            Issue.record("expected a write, got \(action)")
            throw CancellationError()
        }
        return write
    }

    /// A machine admitted for its attempt: started, endpoint found, admitted.
    func admitted(_ record: KafkaConsumerRecord, policy: EndpointPolicy = EndpointPolicy()) -> DeliveryStateMachine {
        var machine = CoreTest.machine(record)
        _ = machine.start(now: now)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint(policy: policy))), now: now)
        _ = machine.admitted(.attempt(admission), now: now)
        return machine
    }

    /// A delay-topic record after `attempts` attempts, first made at `firstAt`.
    func retry(attempts: Int, firstAt: Int64? = nil, dueAt: Int64? = nil, tier: String = "5s") -> KafkaConsumerRecord {
        var relay = [("relay-attempts", String(attempts)), ("relay-first-attempt-at", String(firstAt ?? now - 1_000))]
        if let dueAt { relay.append(("relay-due-at", String(dueAt))) }
        return CoreTest.record(topic: CoreTest.topics.retry(tier == "5s" ? .seconds(5) : .seconds(1)), relay: relay)
    }

    // MARK: record decoded

    @Test func anInvalidRecordIsDeadLetteredAtOnceWithItsDefect() throws {
        var machine = CoreTest.machine(CoreTest.record(nil))
        let dead = try write(machine.start(now: now))
        #expect(dead.purpose == .deadLetter(.malformed) && dead.topic == "t.dlq")
        #expect(dead.state.attempts == 0 && dead.state.diedAt == now && dead.state.lastError == "record has no key (the endpoint id)")
        #expect(dead.state.origin == DeliveryRecord.Origin(topic: "t.deliveries", partition: 0, offset: 0))
        #expect(dead.cause == .invalidRecord(DeliveryRecordDefect(reason: .malformed, detail: "record has no key (the endpoint id)")))
        #expect(machine.written(.written, now: now) == .finish(.deadLettered(.malformed)))

        var large = CoreTest.machine(CoreTest.record(body: [UInt8](repeating: 1, count: 11)), bodyLimit: 10)
        #expect(try write(large.start(now: now)).purpose == .deadLetter(.payloadTooLarge))
    }

    @Test func aDelayTopicRecordWaitsUntilDueButNeverLongerThanItsTopicAllows() {
        var early = CoreTest.machine(retry(attempts: 1, dueAt: now + 4_000))
        #expect(early.start(now: now) == .waitUntilDue(DueTime(requested: now + 4_000, tier: .seconds(5), jitter: 0.1, now: now)))
        #expect(early.dueTimeReached() == .findEndpoint("orders"))

        // Due in an hour on the 5 s topic: a forged or corrupt header. 5 s + 10 % jitter at most.
        var forged = CoreTest.machine(retry(attempts: 1, dueAt: now + 3_600_000))
        #expect(forged.start(now: now) == .waitUntilDue(DueTime(requested: now + 3_600_000, tier: .seconds(5), jitter: 0.1, now: now)))
        let bounded = DueTime(requested: now + 3_600_000, tier: .seconds(5), jitter: 0.1, now: now)
        #expect(bounded.at == now + 5_500 && bounded.wasBounded)

        var due = CoreTest.machine(retry(attempts: 1, dueAt: now))
        #expect(due.start(now: now) == .findEndpoint("orders"), "due now: straight to its endpoint")
        // The deliveries topic has no due times, whatever a producer writes.
        var forgedFirst = CoreTest.machine(CoreTest.record(relay: [("relay-due-at", String(now + 60_000))]))
        #expect(forgedFirst.start(now: now) == .findEndpoint("orders"))
    }

    // MARK: endpoint found

    @Test func anUnknownEndpointDeadLettersAndAnUnsubscribedEventIsSkipped() throws {
        var unknown = CoreTest.machine(retry(attempts: 2))
        _ = unknown.start(now: now)
        let dead = try write(unknown.endpointFound(.unknown, now: now))
        #expect(dead.purpose == .deadLetter(.unknownEndpoint) && dead.cause == .unknownEndpoint)
        #expect(dead.state.lastError == "no endpoint 'orders' is configured" && dead.state.attempts == 2 && dead.state.lastStatus == nil)

        var skipped = CoreTest.machine(CoreTest.record(event: "invoice.paid"))
        _ = skipped.start(now: now)
        #expect(skipped.endpointFound(.found(SharedEndpoint(CoreTest.endpoint(events: ["order.*"]))), now: now) == .finish(.skipped))
        var taken = CoreTest.machine(CoreTest.record(event: "order.paid"))
        _ = taken.start(now: now)
        #expect(taken.endpointFound(.found(SharedEndpoint(CoreTest.endpoint(events: ["order.*"]))), now: now) == .enter(reserved: false, waited: false))
    }

    @Test func aDeletedOrDisabledRegistryEndpointsRecordsAreDeadLetteredWithTheirOwnReasons() throws {
        var deleted = CoreTest.machine(retry(attempts: 1))
        _ = deleted.start(now: now)
        let gone = try write(deleted.endpointFound(.deleted, now: now))
        #expect(gone.purpose == .deadLetter(.endpointDeleted) && gone.state.lastError == "endpoint 'orders' was deleted from the registry")
        #expect(gone.state.attempts == 1)

        let endpoint = SharedEndpoint(CoreTest.endpoint(events: ["order.*"]))
        var disabled = CoreTest.machine(CoreTest.record())
        _ = disabled.start(now: now)
        let off = try write(disabled.endpointFound(.disabled(endpoint, reason: "paused by ops"), now: now))
        #expect(off.purpose == .deadLetter(.endpointDisabled) && off.state.lastError == "paused by ops")
        // An event it does not subscribe to is skipped, disabled or not: it would never be delivered.
        var unsubscribed = CoreTest.machine(CoreTest.record(event: "invoice.paid"))
        _ = unsubscribed.start(now: now)
        #expect(unsubscribed.endpointFound(.disabled(endpoint, reason: "paused"), now: now) == .finish(.skipped))
    }

    @Test func aParkedRecordWhoseEndpointChangedLooksItUpAgain() {
        var machine = CoreTest.machine(CoreTest.record())
        _ = machine.start(now: now)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: now)
        machine.parked()
        #expect(machine.endpointChanged() == .findEndpoint("orders"))
        #expect(machine.endpoint == nil)
    }

    // MARK: endpoint admitted, parked or sent elsewhere

    @Test func anAdmittedRecordIsAttemptedWithTheNextAttemptNumber() {
        var machine = CoreTest.machine(retry(attempts: 2))
        _ = machine.start(now: now)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: now)
        #expect(machine.admitted(.attempt(admission), now: now) == .attempt(admission, number: 3))
    }

    @Test func aParkedRecordEntersAgainWithItsReservedSlot() {
        var machine = CoreTest.machine(CoreTest.record())
        _ = machine.start(now: now)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: now)
        machine.parked()
        #expect(machine.state == .parked)
        #expect(machine.resumed() == .enter(reserved: true, waited: false))
    }

    @Test func theRateLimitIsWaitedForInMemoryThenTheRecordEntersAgainAsWaiting() {
        var machine = CoreTest.machine(CoreTest.record())
        _ = machine.start(now: now)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: now)
        #expect(machine.admitted(.rateLimited(.milliseconds(40)), now: now) == .wait(.milliseconds(40)))
        #expect(machine.timerFired(now: now + 40) == .enter(reserved: false, waited: true))
    }

    @Test func aDisabledEndpointDeadLettersAsGone() throws {
        var machine = CoreTest.machine(retry(attempts: 1))
        _ = machine.start(now: now)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: now)
        let dead = try write(machine.admitted(.disabled(reason: "410 Gone at then"), now: now))
        #expect(dead.purpose == .deadLetter(.gone) && dead.state.lastError == "410 Gone at then" && dead.state.attempts == 1)
    }

    @Test func anOpenCircuitPostponesToTheFittingDelayTopicUntilTheMaximumAge() throws {
        var policy = EndpointPolicy()
        policy.circuitMaxAge = .seconds(60)
        // First attempted 30 s ago: postponed, without using an attempt.
        var young = CoreTest.machine(retry(attempts: 1, firstAt: now - 30_000))
        _ = young.start(now: now)
        _ = young.endpointFound(.found(SharedEndpoint(CoreTest.endpoint(policy: policy))), now: now)
        let hop = try write(young.admitted(.circuitOpen(.seconds(3)), now: now))
        #expect(hop.purpose == .hop(tier: .seconds(5), afterFailure: false) && hop.topic == "t.retry.5s")
        #expect(hop.state.attempts == 1 && hop.state.dueAt == now + 3_000 && hop.state.firstAttemptAt == now - 30_000)
        #expect(young.written(.written, now: now) == .finish(.postponed))

        // First attempted 61 s ago: it dies as circuit_open, keeping its last status.
        var old = CoreTest.machine(retry(attempts: 1, firstAt: now - 61_000))
        _ = old.start(now: now)
        _ = old.endpointFound(.found(SharedEndpoint(CoreTest.endpoint(policy: policy))), now: now)
        let dead = try write(old.admitted(.circuitOpen(.seconds(3)), now: now))
        #expect(dead.purpose == .deadLetter(.circuitOpen) && dead.state.lastError == "circuit open")

        // Longer than the longest delay topic: that topic (it comes back and asks again).
        var long = CoreTest.machine(CoreTest.record())
        _ = long.start(now: now)
        _ = long.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: now)
        let longest = try write(long.admitted(.deferred(.seconds(600)), now: now))
        #expect(longest.topic == "t.retry.30s" && longest.state.dueAt == now + 30_000 && longest.state.firstAttemptAt == now)
    }

    @Test func withoutDelayTopicsAPostponementWaitsInMemoryAndLooksForItsEndpointAgain() throws {
        let topics = try RelayTopics(prefix: "n", schedule: RetrySchedule(parsing: "none"))
        let record = CoreTest.record(topic: topics.deliveries)
        var machine = DeliveryStateMachine(
            record: record, decoded: DeliveryRecord.decode(record, bodyLimit: 100, trustingRelayHeaders: false), tier: nil,
            configuration: .init(planner: RetryPlanner(topics: topics, jitter: 0))
        )
        _ = machine.start(now: now)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: now)
        #expect(machine.admitted(.deferred(.seconds(2)), now: now) == .wait(.seconds(2)))
        #expect(machine.timerFired(now: now + 2_000) == .findEndpoint("orders"))
    }

    // MARK: revocation

    @Test func aRecordWaitingWhenItsPartitionGoesIsLeftToTheNextOwner() {
        var waiting = CoreTest.machine(retry(attempts: 1, dueAt: now + 1_000))
        _ = waiting.start(now: now)
        #expect(waiting.revoked() == .abandon(.none))

        var parked = CoreTest.machine(CoreTest.record())
        _ = parked.start(now: now)
        _ = parked.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: now)
        parked.parked()
        #expect(parked.revoked() == .abandon(.none))

        // Admitted but not started: the endpoint hears it was not made (no result), then abandoned.
        var notStarted = admitted(CoreTest.record())
        #expect(notStarted.revoked() == .report(admission, .notMade))
        #expect(notStarted.reported(now: now) == .abandon(.none))
    }
}
