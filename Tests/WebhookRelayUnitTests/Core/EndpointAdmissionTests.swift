import Kafka
import Testing
@testable import WebhookRelay

/// An endpoint's admission decisions (pure) and its runtime, which parks records and hands them
/// back: no broker, no network.
struct EndpointAdmissionTests {
    func admission(maxInFlight: Int, policy: EndpointPolicy = EndpointPolicy()) -> EndpointAdmission {
        EndpointAdmission(policy: policy, limits: EndpointLimits(maxInFlight: maxInFlight, rateLimit: policy.rateLimit))
    }

    @Test func atTheCapRecordsParkAndEachFreedSlotResumesOneWithTheSlotReserved() throws {
        var endpoint = admission(maxInFlight: 2)
        let first = try CoreTest.admitted(endpoint.enter(now: 0))
        _ = try CoreTest.admitted(endpoint.enter(now: 0))
        for _ in 0..<3 { #expect(endpoint.enter(now: 0) == (.park, .first(0))) }
        #expect(endpoint.waiting == 3 && endpoint.parked == 3)

        let (resumption, disabled) = endpoint.leave(first, .init(success: true, status: 204, now: 5))
        #expect(resumption == .first(1) && disabled == nil, "one freed slot resumes one parked record")
        endpoint.resumed(1)
        // The slot is reserved for it: a newcomer parks behind instead of taking it.
        #expect(endpoint.enter(now: 5).0 == .park)
        let second = try CoreTest.admitted(endpoint.enter(now: 5, reserved: true))
        #expect(second.waited)
        #expect(endpoint.inFlight == 2 && endpoint.waiting == 3)
    }

    @Test func anOpeningCircuitResumesEveryParkedRecordToGoElsewhere() throws {
        var policy = EndpointPolicy()
        policy.circuit = CircuitBreaker.Configuration(failureThreshold: 1, openDuration: .seconds(60), successesToClose: 1)
        var endpoint = admission(maxInFlight: 1, policy: policy)
        let only = try CoreTest.admitted(endpoint.enter(now: 0))
        for _ in 0..<3 { _ = endpoint.enter(now: 0) }
        #expect(endpoint.leave(only, .init(success: false, status: 500, now: 10)).0 == .all,
                "a single wake-up would leave the others parked behind an open circuit")
        endpoint.resumed(3)
        for _ in 0..<3 { #expect(endpoint.enter(now: 10, reserved: true).0 == .circuitOpen(.milliseconds(60_000))) }
        #expect(endpoint.waiting == 0 && endpoint.inFlight == 0)
    }

    @Test func parkingIsBoundedAndAFastEndpointMayHoldMore() throws {
        var endpoint = admission(maxInFlight: 1)
        var current = try CoreTest.admitted(endpoint.enter(now: 0))
        // Unknown pace: at most 4 × max_in_flight parked, the next is deferred.
        for _ in 1...4 { #expect(endpoint.enter(now: 0).0 == .park) }
        #expect(endpoint.enter(now: 0).0 == .deferred(.seconds(1)))
        // Attempts of 10 ms: one slot drains 100 a second, so up to 64 × max_in_flight may park.
        var now: Int64 = 0
        for _ in 1...4 {
            now += 10
            #expect(endpoint.leave(current, .init(success: true, status: 204, now: now)).0 == .first(1))
            endpoint.resumed(1)
            current = try CoreTest.admitted(endpoint.enter(now: now, reserved: true))
        }
        var parked = 0
        while endpoint.enter(now: now).0 == .park { parked += 1 }
        #expect(parked == 64)
    }

    /// An endpoint that never answers finishes no attempt until the attempts time out: its pace is
    /// unknown, yet the longer it has been busy the longer a deferred record stays away (with a
    /// one-second deferral, its backlog came back every second to be sent away again).
    @Test func aStalledEndpointDefersLongerTheLongerItHasBeenBusyBeforeAnyAttemptFinished() throws {
        var endpoint = admission(maxInFlight: 1)
        _ = try CoreTest.admitted(endpoint.enter(now: 0))
        for _ in 1...4 { #expect(endpoint.enter(now: 0).0 == .park) }
        #expect(endpoint.enter(now: 0).0 == .deferred(.seconds(1)))
        // Five ahead of the next record (four parked, itself), one slot, busy for 600 ms: 3 s.
        #expect(endpoint.enter(now: 600).0 == .deferred(.milliseconds(3_000)))
        #expect(endpoint.enter(now: 4_000).0 == .deferred(.seconds(20)))
        // Parking still treats the pace as unknown: no more than 4 × max_in_flight wait.
        #expect(endpoint.waiting == 4)
    }

    @Test func theRateLimitMakesRecordsWaitInMemoryWithinItsBound() throws {
        var policy = EndpointPolicy()
        policy.rateLimit = RateLimit.Rate(count: 2, period: .seconds(1))
        var endpoint = admission(maxInFlight: 10, policy: policy)
        let first = try CoreTest.admitted(endpoint.enter(now: 0))
        let second = try CoreTest.admitted(endpoint.enter(now: 0))
        _ = endpoint.leave(first, .init(success: true, status: 204, now: 100))
        _ = endpoint.leave(second, .init(success: true, status: 204, now: 100))
        // Two per second: the third waits until the window moves, counted as waiting.
        #expect(endpoint.enter(now: 200).0 == .rateLimited(.milliseconds(900)))
        #expect(endpoint.waiting == 1)
        // 2 s of a 2/s rate: at most 4 wait; the fifth goes to a delay topic.
        for _ in 0..<3 { #expect(endpoint.enter(now: 200).0 == .rateLimited(.milliseconds(900))) }
        #expect(endpoint.enter(now: 200).0 == .deferred(.milliseconds(2_500)))
        // One that waited keeps its place when it must wait again.
        #expect(endpoint.enter(now: 500, waited: true).0 == .rateLimited(.milliseconds(600)))
        let third = try CoreTest.admitted(endpoint.enter(now: 1_100, waited: true))
        #expect(third.waited && endpoint.waiting == 3)
    }

    @Test func aHalfOpenCircuitAdmitsOneProbeAndSendsTheRestElsewhere() throws {
        var policy = EndpointPolicy()
        policy.circuit = CircuitBreaker.Configuration(failureThreshold: 1, openDuration: .seconds(1), successesToClose: 1)
        var endpoint = admission(maxInFlight: 4, policy: policy)
        _ = endpoint.leave(try CoreTest.admitted(endpoint.enter(now: 0)), .init(success: false, status: 500, now: 0))
        #expect(endpoint.enter(now: 500).0 == .circuitOpen(.milliseconds(500)))
        let probe = try CoreTest.admitted(endpoint.enter(now: 1_000))
        #expect(probe.probe)
        #expect(endpoint.enter(now: 1_001).0 == .circuitOpen(.seconds(1)), "one probe at a time")
        // A probe that was not made frees the probe's place.
        _ = endpoint.cancel(probe, now: 1_002)
        #expect(try CoreTest.admitted(endpoint.enter(now: 1_003)).probe)
    }

    @Test func anAttemptThatWasNotMadeLeavesTheCircuitAndHealthAsTheyWere() throws {
        var policy = EndpointPolicy()
        policy.circuit.failureThreshold = 1
        var endpoint = admission(maxInFlight: 2, policy: policy)
        let before = (endpoint.circuit, endpoint.inFlight)
        _ = endpoint.cancel(try CoreTest.admitted(endpoint.enter(now: 0)), now: 5)
        #expect(endpoint.circuit == before.0 && endpoint.inFlight == before.1, "a cut-short attempt is not a result")
        _ = endpoint.leave(try CoreTest.admitted(endpoint.enter(now: 10)), .init(success: false, status: nil, now: 20))
        guard case .open = endpoint.circuit.state else {
            Issue.record("one failure opens this circuit: \(endpoint.circuit.state)")
            return
        }
    }
}

/// The runtime parks the records themselves and hands them back in arrival order.
struct EndpointRuntimeTests {
    let ledger = OffsetLedger { _, _ in }
    let partition = KafkaTopicPartition(topic: CoreTest.topics.deliveries, partition: 0)

    init() {
        ledger.assign([partition])
    }

    /// A record of offset `offset` whose machine asks its endpoint for admission.
    func flight(_ offset: Int64) -> RecordFlight? {
        let record = CoreTest.record(offset: offset)
        var machine = CoreTest.machine(record)
        _ = machine.start(now: 0)
        let next = machine.endpointFound(.found(SharedEndpoint(CoreTest.endpoint())), now: 0)
        let started = ledger.start(record)
        switch consume started {
        case .work(let ticket): return RecordFlight(record: record, machine: machine, next: next, ticket: ticket)
        case .alreadyDone(let ticket):
            ticket.abandon()
            return nil
        case .refused: return nil
        }
    }

    func enter(_ runtime: EndpointRuntime, _ offset: Int64, reserved: Bool = false) -> (decision: EndpointAdmission.Decision?, resumed: [Int64]) {
        guard let flight = flight(offset) else { return (nil, []) }
        let entry = runtime.enter(flight, now: 0, wall: 0, reserved: reserved, waited: false, pause: { _ in })
        switch consume entry {
        case .parked:
            return (nil, [])
        case .partitionGoing(let back):
            back.abandon()
            return (nil, [])
        case .retired(let back):
            back.abandon()
            return (nil, [])
        case .decided(let back, let decision, var resumed):
            back.finish()
            var offsets: [Int64] = []
            while let parked = resumed.next() {
                offsets.append(parked.record.offset)
                parked.finish()
            }
            return (decision, offsets)
        }
    }

    func offsets(_ parked: consuming ParkedRecords) -> [Int64] {
        var offsets: [Int64] = []
        while let flight = parked.next() {
            #expect(flight.machine.state == .parked)
            offsets.append(flight.record.offset)
            flight.finish()
        }
        return offsets
    }

    @Test func parkedRecordsComeBackLongestParkedFirstOnePerFreedSlot() {
        let runtime = EndpointRuntime(endpoint: SharedEndpoint(CoreTest.endpoint(maxInFlight: 1)))
        guard case .attempt(let admission)? = enter(runtime, 0).decision else {
            Issue.record("a free slot admits")
            return
        }
        for offset: Int64 in 1...3 { #expect(enter(runtime, offset).decision == nil, "parked") }
        #expect(runtime.snapshot.waiting == 3)
        let reported = runtime.report(admission, .result(success: true, status: 204, error: nil, at: 1, goneReason: ""), now: 5)
        #expect(offsets(reported.resumedRecords()) == [1], "one slot, the longest parked")
        #expect(offsets(runtime.resumeAll()) == [2, 3], "letting the partition go hands back the rest, in order")
        #expect(runtime.snapshot.waiting == 0)
        #expect(ledger.unsettledTickets == 0)
    }

    @Test func aGoneAnswerDisablesTheEndpointAndSendsEveryParkedRecordElsewhere() {
        let runtime = EndpointRuntime(endpoint: SharedEndpoint(CoreTest.endpoint(maxInFlight: 1)))
        guard case .attempt(let admission)? = enter(runtime, 0).decision else { return }
        _ = enter(runtime, 1)
        _ = enter(runtime, 2)
        let reported = runtime.report(admission, .result(success: false, status: 410, error: "HTTP 410", at: 1, goneReason: "410 Gone at noon"), now: 5)
        let disabled = reported.disabled
        #expect(disabled == .gone)
        #expect(offsets(reported.resumedRecords()) == [1, 2])
        #expect(enter(runtime, 3, reserved: false).decision == .disabled(reason: "410 Gone at noon"))
        #expect(runtime.snapshot.disabledReason == "410 Gone at noon")
    }

    @Test func aRecordWhosePartitionIsGoingIsNotParked() {
        let runtime = EndpointRuntime(endpoint: SharedEndpoint(CoreTest.endpoint(maxInFlight: 1)))
        guard case .attempt(let admission)? = enter(runtime, 0).decision, let second = flight(1) else { return }
        ledger.beginRevoking([partition])
        // At the cap it would park; its partition is going, and the parked records may have been
        // handed back already: it must not wait there.
        let entry = runtime.enter(second, now: 0, wall: 0, reserved: false, waited: false, pause: { _ in })
        switch consume entry {
        case .partitionGoing(let back):
            #expect(back.record.offset == 1)
            back.abandon()
        case .parked:
            Issue.record("parked while its partition is going")
        case .retired(let back):
            Issue.record("retired")
            back.abandon()
        case .decided(let back, let decision, _):
            Issue.record("decided \(decision)")
            back.abandon()
        }
        #expect(runtime.snapshot.waiting == 0)
        _ = runtime.report(admission, .notMade, now: 1)
        #expect(ledger.unsettledTickets == 0)
    }

    @Test func aRetiredRuntimeHandsBackItsParkedRecordsAndTurnsLaterOnesAway() {
        let runtime = EndpointRuntime(endpoint: SharedEndpoint(CoreTest.endpoint(maxInFlight: 1)))
        guard case .attempt(let admission)? = enter(runtime, 0).decision else { return }
        #expect(enter(runtime, 1).decision == nil && runtime.snapshot.waiting == 1, "parked at the cap")
        // The endpoint changed: the parked record comes back to look it up again.
        var handedBack = runtime.retire()
        var offsets: [Int64] = []
        while let flight = handedBack.next() {
            offsets.append(flight.record.offset)
            flight.abandon()
        }
        #expect(offsets == [1])
        // One that comes later (back from a rate-limit wait) is turned away, not attempted with the old settings.
        guard let late = flight(2) else { return }
        let entry = runtime.enter(late, now: 0, wall: 0, reserved: false, waited: true, pause: { _ in })
        switch consume entry {
        case .retired(let back):
            #expect(back.record.offset == 2)
            back.abandon()
        case .parked:
            Issue.record("parked on a retired runtime")
        case .partitionGoing(let back):
            Issue.record("partition going")
            back.abandon()
        case .decided(let back, let decision, _):
            Issue.record("decided \(decision) on a retired runtime")
            back.abandon()
        }
        _ = runtime.report(admission, .notMade, now: 1)
        #expect(ledger.unsettledTickets == 0)
    }
}
