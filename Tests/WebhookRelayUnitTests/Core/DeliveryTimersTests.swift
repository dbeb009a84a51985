import Kafka
import Testing
@testable import WebhookRelay

/// Records waiting for a time, on a manual clock.
struct DeliveryTimersTests {
    let ledger = OffsetLedger { _, _ in }
    let partition = KafkaTopicPartition(topic: CoreTest.topics.deliveries, partition: 0)
    let other = KafkaTopicPartition(topic: CoreTest.topics.deliveries, partition: 1)

    init() {
        ledger.assign([partition, other])
    }

    func flight(_ offset: Int64, partition: Int32 = 0) -> RecordFlight? {
        let record = CoreTest.record(offset: offset, partition: partition)
        let started = ledger.start(record)
        switch consume started {
        case .work(let ticket): return RecordFlight(record: record, machine: CoreTest.machine(record), next: .wait(.zero), ticket: ticket)
        case .alreadyDone(let ticket):
            ticket.abandon()
            return nil
        case .refused: return nil
        }
    }

    func schedule(_ timers: DeliveryTimers, _ offset: Int64, at deadline: Int64, partition: Int32 = 0) {
        guard let flight = flight(offset, partition: partition) else { return }
        if let refused = timers.schedule(flight, at: deadline) {
            Issue.record("refused \(refused.record.offset)")
            refused.abandon()
        }
    }

    @Test func recordsComeBackInDeadlineOrderWhenTheClockReachesThem() async {
        let clock = ManualClock()
        let timers = DeliveryTimers(clock: clock)
        schedule(timers, 0, at: 300)
        schedule(timers, 1, at: 100)
        schedule(timers, 2, at: 200)
        let next = Task { await timers.next()?.record.offset }
        try? await Task.sleep(for: .milliseconds(20))
        clock.advance(by: 150)
        #expect(await next.value == 1)
        clock.advance(by: 200)
        var offsets: [Int64] = []
        for _ in 0..<2 {
            if let flight = await timers.next() {
                offsets.append(flight.record.offset)
                flight.abandon()
            }
        }
        #expect(offsets == [2, 0])
        #expect(timers.count == 0)
    }

    @Test func anEarlierRecordWakesTheWaitingTask() async {
        let clock = ManualClock()
        let timers = DeliveryTimers(clock: clock)
        schedule(timers, 0, at: 10_000)
        let next = Task { await timers.next()?.record.offset }
        try? await Task.sleep(for: .milliseconds(20))
        schedule(timers, 1, at: 50)
        clock.advance(by: 60)
        #expect(await next.value == 1, "not held behind the later deadline it was sleeping for")
        timers.close()
    }

    @Test func lettingAPartitionGoHandsBackItsRecordsAndRefusesNewOnes() {
        let timers = DeliveryTimers(clock: ManualClock())
        schedule(timers, 0, at: 100)
        schedule(timers, 1, at: 200, partition: 1)
        schedule(timers, 2, at: 300)
        ledger.beginRevoking([partition])
        var released = timers.release([partition])
        var offsets: [Int64] = []
        while let flight = released.next() {
            offsets.append(flight.record.offset)
            flight.abandon()
        }
        #expect(offsets == [0, 2] && timers.count == 1)
        // A record of the going partition that arrives after the release is handed back, not kept.
        guard let late = flightOfARevokedPartition() else { return }
        if let refused = timers.schedule(late, at: 100) { refused.abandon() } else { Issue.record("kept") }
        #expect(timers.count == 1)
    }

    /// A record of the revoked partition started before it was revoked.
    func flightOfARevokedPartition() -> RecordFlight? {
        let record = CoreTest.record(offset: 9)
        let machine = CoreTest.machine(record)
        let fresh = OffsetLedger { _, _ in }
        fresh.assign([partition])
        let started = fresh.start(record)
        fresh.beginRevoking([partition])
        switch consume started {
        case .work(let ticket): return RecordFlight(record: record, machine: machine, next: .wait(.zero), ticket: ticket)
        case .alreadyDone(let ticket):
            ticket.abandon()
            return nil
        case .refused: return nil
        }
    }
}
