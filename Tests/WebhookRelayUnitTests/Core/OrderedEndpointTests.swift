import Kafka
import Synchronization
import Testing
@testable import WebhookRelay

/// Ordered endpoints (`ordered: true`): one delivery at a time in the order read, a failure
/// retried in place holding the later ones, an open circuit holding them in memory, and the
/// partition paused instead of a delay topic when too many wait — decided by the admission and the
/// state machine, carried out by the executor. No broker, no network; time moves when a test moves it.
struct OrderedEndpointTests {
    let now: Int64 = 1_700_000_000_000

    static func orderedPolicy(circuit: CircuitBreaker.Configuration = .init()) -> EndpointPolicy {
        var policy = EndpointPolicy()
        policy.ordered = true
        policy.circuit = circuit
        return policy
    }

    func admission(_ policy: EndpointPolicy = orderedPolicy()) -> EndpointAdmission {
        EndpointAdmission(policy: policy, limits: EndpointLimits(maxInFlight: 32, rateLimit: policy.rateLimit, ordered: policy.ordered))
    }

    // MARK: admission

    @Test func theTurnGoesToOneDeliveryAtATimeAndAFailureRetriedInPlaceKeepsIt() throws {
        var endpoint = admission()
        #expect(endpoint.limits.maxInFlight == 1, "max_in_flight does not apply")
        let first = try CoreTest.admitted(endpoint.enter(now: 0))
        for _ in 0..<3 { #expect(endpoint.enter(now: 0) == (.park, .first(0))) }

        // Failed, to be made again in place: the slot becomes the head's reservation; nobody resumes.
        var failed = EndpointAdmission.Result(success: false, status: 500, now: 5)
        failed.keepsTurn = true
        #expect(endpoint.leave(first, failed).0 == .first(0))
        #expect(endpoint.reserved == 1 && endpoint.inFlight == 0)
        #expect(endpoint.enter(now: 6).0 == .park, "a newcomer parks behind the head waiting to retry")
        let again = try CoreTest.admitted(endpoint.enter(now: 1_005, reserved: true))

        // Delivered: the longest parked one gets the turn, and only it.
        #expect(endpoint.leave(again, .init(success: true, status: 204, now: 1_010)).0 == .first(1))
        endpoint.resumed(1)
        #expect(endpoint.enter(now: 1_010).0 == .park, "the resumed one holds the turn before it enters")
        let second = try CoreTest.admitted(endpoint.enter(now: 1_011, reserved: true))
        #expect(second.waited && endpoint.inFlight == 1 && endpoint.parked == 4)
    }

    @Test func anOpenCircuitHoldsTheHeadInMemoryUntilItIsTooOldThenTheTurnPasses() throws {
        var endpoint = admission(Self.orderedPolicy(circuit: .init(failureThreshold: 1, openDuration: .seconds(10), successesToClose: 1)))
        let first = try CoreTest.admitted(endpoint.enter(now: 0))
        for _ in 0..<2 { _ = endpoint.enter(now: 0) }
        var failed = EndpointAdmission.Result(success: false, status: 503, now: 100)
        failed.keepsTurn = true
        #expect(endpoint.leave(first, failed).0 == .first(0), "an ordered endpoint's parked records never go elsewhere")
        #expect(endpoint.circuit.state == .open(until: 10_100))

        // The head comes back for its retry: held by the circuit, not sent to a delay topic.
        #expect(endpoint.enter(now: 1_100, reserved: true) == (.hold(.milliseconds(9_000)), .first(0)))
        #expect(endpoint.enter(now: 1_200).0 == .park, "still its turn while it is held")
        // Held back too long: it is told the circuit is open (dead-lettered), and the next one gets the turn.
        let (decision, resumption) = endpoint.enter(now: 2_000, waited: true, mayHold: false)
        #expect(decision == .circuitOpen(.milliseconds(8_100)) && resumption == .first(1))
    }

    @Test func theRateLimitHoldsTheTurnAndA410SendsEveryParkedRecordAway() throws {
        var policy = Self.orderedPolicy()
        policy.rateLimit = RateLimit.Rate(count: 1, period: .seconds(1))
        var endpoint = admission(policy)
        let first = try CoreTest.admitted(endpoint.enter(now: 0))
        _ = endpoint.leave(first, .init(success: true, status: 204, now: 10))
        guard case .rateLimited = endpoint.enter(now: 20).0 else {
            Issue.record("the second must wait for the rate limit")
            return
        }
        #expect(endpoint.enter(now: 30).0 == .park, "the rate-limited one keeps the turn")
        let second = try CoreTest.admitted(endpoint.enter(now: 1_010, waited: true))
        let (resumption, disabled) = endpoint.leave(second, .init(success: false, status: 410, now: 1_020, goneReason: "410 Gone"))
        #expect(resumption == .all && disabled == .gone)
    }

    @Test func tooManyWaitingAskForThePartitionToPauseUntilHalfAreGone() throws {
        var endpoint = admission()
        var current = try CoreTest.admitted(endpoint.enter(now: 0))
        for _ in 0..<EndpointLimits.orderedQueue { #expect(endpoint.enter(now: 0).0 == .park) }
        #expect(endpoint.overflowing && !endpoint.drained)
        #expect(endpoint.enter(now: 0).0 == .park, "never deferred to a delay topic")
        var time: Int64 = 0
        while !endpoint.drained {
            time += 1
            #expect(endpoint.leave(current, .init(success: true, status: 204, now: time)).0 == .first(1))
            endpoint.resumed(1)
            current = try CoreTest.admitted(endpoint.enter(now: time, reserved: true))
        }
        #expect(endpoint.parked == EndpointLimits.orderedQueue / 2 && !endpoint.overflowing)
    }

    // MARK: state machine

    func orderedMachine(_ record: KafkaConsumerRecord = CoreTest.record(), policy: EndpointPolicy = orderedPolicy()) -> DeliveryStateMachine {
        var machine = CoreTest.machine(record)
        _ = machine.start(now: now)
        _ = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint(policy: policy))), now: now)
        return machine
    }

    @Test func aFailedAttemptWaitsTheScheduleInPlaceAndIsDeadLetteredWithItsHistoryWhenExhausted() throws {
        var machine = orderedMachine()
        let admission = EndpointAdmission.Admission(probe: false, rateSlot: nil)
        var time = now
        // Schedule 1s, 5s, 30s: three retries in place, then exhausted — never a hop.
        for (number, delay) in [(1, 1_000), (2, 5_000), (3, 30_000)] {
            #expect(machine.admitted(.attempt(admission), now: time) == .attempt(admission, number: number))
            guard case .report(_, .result(false, 500?, _, _, _, true)) = machine.attempted(.answered(.init(status: 500)), startedAt: time, now: time + 2, random: 0) else {
                Issue.record("attempt \(number): the endpoint must hear a failure that keeps the turn")
                return
            }
            #expect(machine.reported(now: time + 2) == .wait(.milliseconds(delay)))
            #expect(machine.state == .waitingToRetry)
            #expect(machine.timerFired(now: time + 2 + Int64(delay)) == .enter(reserved: true, waited: false))
            time += 2 + Int64(delay)
        }
        #expect(machine.admitted(.attempt(admission), now: time) == .attempt(admission, number: 4))
        guard case .report(_, .result(false, 502?, _, _, _, false)) = machine.attempted(.answered(.init(status: 502)), startedAt: time, now: time + 1, random: 0) else {
            Issue.record("the last attempt's failure gives up the turn")
            return
        }
        guard case .write(let dead) = machine.reported(now: time + 1) else {
            Issue.record("exhausted: a dead letter")
            return
        }
        #expect(dead.purpose == .deadLetter(.exhausted) && dead.state.attempts == 4)
        #expect(dead.state.firstAttemptAt == now && dead.state.lastStatus == 502)
    }

    @Test func anOpenCircuitHoldsTheRecordInMemoryAndTooOldItIsDeadLetteredNotPostponed() throws {
        var policy = Self.orderedPolicy()
        policy.circuitMaxAge = .seconds(60)
        var machine = orderedMachine(policy: policy)
        #expect(machine.admitted(.hold(.seconds(9)), now: now) == .wait(.seconds(9)))
        #expect(machine.mayHold(now: now + 60_000) && !machine.mayHold(now: now + 60_001))
        #expect(machine.timerFired(now: now + 9_000) == .enter(reserved: false, waited: true))
        guard case .write(let dead) = machine.admitted(.circuitOpen(.seconds(9)), now: now + 61_000) else {
            Issue.record("an ordered record told the circuit is open dies; it never goes to a delay topic")
            return
        }
        #expect(dead.purpose == .deadLetter(.circuitOpen) && dead.state.firstAttemptAt == now)
    }

    @Test func aRecordWaitingToRetryInPlaceWhenItsPartitionGoesIsLeftToTheNextOwner() {
        var machine = orderedMachine()
        let admission = EndpointAdmission.Admission(probe: false, rateSlot: nil)
        _ = machine.admitted(.attempt(admission), now: now)
        _ = machine.attempted(.answered(.init(status: 500)), startedAt: now, now: now, random: 0)
        _ = machine.reported(now: now)
        #expect(machine.revoked() == .abandon(.none))
    }

    // MARK: executor

    /// Fails a share of the requests to `/ordered` at random (seeded) with 500; answers the rest
    /// 204; records the accepted `webhook-id`s per path in the order accepted.
    final class FlakyTransport: DeliveryTransport {
        private struct State {
            var random: UInt64
            var accepted: [String: [String]] = [:]
            var failures = 0
        }

        private let state: Mutex<State>
        let failureShare: Double

        init(failureShare: Double, seed: UInt64) {
            self.failureShare = failureShare
            state = Mutex(State(random: seed))
        }

        func post(
            url: String, headers: [(name: String, value: String)], body: [UInt8], timeout: Duration, cancellation: AttemptCancellation?
        ) async -> AttemptResult {
            let path = String(url.split(separator: "/").last ?? "")
            let id = headers.first { $0.name == "webhook-id" }?.value ?? ""
            let failed = state.withLock { state -> Bool in
                // SplitMix64.
                state.random &+= 0x9E37_79B9_7F4A_7C15
                var z = state.random
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                let fails = path == "ordered" && Double(z >> 11) / Double(1 << 53) < failureShare
                if fails { state.failures += 1 } else { state.accepted[path, default: []].append(id) }
                return fails
            }
            return AttemptResult(.answered(.init(status: failed ? 500 : 204)), duration: .milliseconds(1))
        }

        func accepted(_ path: String) -> [String] { state.withLock { $0.accepted[path] ?? [] } }
        var failures: Int { state.withLock { $0.failures } }
    }

    @Test func underAReceiverFailing30PercentOrderHoldsAndTheNeighboursOnThePartitionAreNotHeldBack() async throws {
        let transport = FlakyTransport(failureShare: 0.3, seed: 18)
        let endpoints = [CoreTest.endpoint("ordered", policy: Self.orderedPolicy())] + (0..<3).map { CoreTest.endpoint("n\($0)", maxInFlight: 64) }
        let harness = DeliveryExecutorTests.Harness(endpoints: endpoints, maxInFlight: 256, transport: transport)
        harness.ledger.assign([harness.partition])
        // 150 ordered records among 450 for the neighbours, all on one partition: more than an
        // ordered endpoint keeps waiting, so the partition pauses once and resumes.
        var produced: [String] = []
        var neighbours = 0
        try await harness.run {
            for offset in 0..<600 {
                if offset % 4 == 0 {
                    produced.append("o_\(offset)")
                    await harness.read(CoreTest.record("ordered", offset: Int64(offset), id: "o_\(offset)"))
                } else {
                    neighbours += 1
                    await harness.read(CoreTest.record("n\(offset % 3)", offset: Int64(offset), id: "n_\(offset)"))
                }
            }
            // No time has passed: every retry of the ordered endpoint is still waiting, and yet
            // the neighbours got all of theirs.
            #expect(await eventually { (0..<3).map { transport.accepted("n\($0)").count }.reduce(0, +) == neighbours })
            #expect(transport.failures > 0 && transport.accepted("ordered").count < produced.count)
            // Time moves until the ordered endpoint is through.
            for _ in 0..<20_000 where harness.offsets.last != 600 {
                harness.clock.advance(by: 500)
                try await Task.sleep(for: .milliseconds(1))
            }
            #expect(harness.offsets.last == 600)
        }
        let accepted = transport.accepted("ordered")
        let deadLettered = harness.sink.records.filter { $0.topic == CoreTest.topics.deadLetters }
        #expect(harness.sink.records.allSatisfy { $0.topic == CoreTest.topics.deadLetters }, "an ordered endpoint's record never goes to a delay topic")
        // Each record is accepted once, in produced order; one the schedule gave up on is dead-lettered and skipped.
        let dead = Set(deadLettered.compactMap { record in record.headers.first { $0.key == "webhook-id" }.map { String(decoding: $0.value ?? [], as: UTF8.self) } })
        #expect(accepted == produced.filter { !dead.contains($0) })
        #expect(accepted.count + dead.count == produced.count && transport.failures >= 30)
        // Paused by each record that arrived with the queue full (the consumer stops handing them
        // out; this test's reader does not), resumed once when half were gone.
        let log = harness.source.log
        #expect(log.last == "resume \(harness.partition)" && log.filter { $0.hasPrefix("resume") }.count == 1)
        #expect(log.count >= 2 && log.dropLast().allSatisfy { $0 == "pause \(harness.partition)" })
        #expect(harness.ledger.unsettledTickets == 0)
    }
}
