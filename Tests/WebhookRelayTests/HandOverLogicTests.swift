import Kafka
import Testing
@testable import WebhookRelay

/// What a partition's owner records for the next one, and how the next one uses it: no broker.
struct PartitionProgressTests {
    @Test func rangesAreNormalizedAndFoldIntoNext() {
        let progress = PartitionProgress(next: 10, finished: [14...15, 3...4, 11...12, 16...16, 10...10])
        #expect(progress.next == 13, "10 and 11-12 continue from next; below-next ranges are dropped")
        #expect(progress.finished == [14...16])
        #expect(progress.contains(0) && progress.contains(12) && progress.contains(15))
        #expect(!progress.contains(13) && !progress.contains(17))
    }

    @Test func mergingIsTheUnionOfFactsWhateverTheOrder() {
        let early = PartitionProgress(next: 100, finished: [105...107])
        let late = PartitionProgress(next: 103, finished: [110...110])
        let merged = early.merged(with: late)
        #expect(merged == late.merged(with: early))
        #expect(merged.next == 103)
        #expect(merged.finished == [105...107, 110...110])
        #expect(early.isCovered(by: merged) && late.isCovered(by: merged))
        #expect(!merged.isCovered(by: early))
        // A stale entry (a late write from an owner that lost the partition) changes nothing.
        #expect(merged.merged(with: PartitionProgress(next: 50, finished: [60...70])) == merged)
    }

    @Test func encodesAsReadableJSONAndRejectsWhatIsNotAnEntry() {
        let progress = PartitionProgress(next: 42, finished: [44...45, 50...50])
        #expect(String(decoding: progress.encoded, as: UTF8.self) == #"{"next":42,"finished":[[44,45],[50,50]]}"#)
        #expect(PartitionProgress(encoded: progress.encoded) == progress)
        for bad in [
            "", "{}", "null", #"{"next":-1,"finished":[]}"#, #"{"next":1.5,"finished":[]}"#, #"{"next":true,"finished":[]}"#,
            #"{"next":1,"finished":[[3]]}"#, #"{"next":1,"finished":[[5,4]]}"#, #"{"next":1,"finished":[[1,9223372036854775807]]}"#,
            #"{"next":"1","finished":[]}"#,
        ] {
            #expect(PartitionProgress(encoded: Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    @Test func anEntryKeepsAtMostMaxRanges() {
        let ranges = (0..<Int64(PartitionProgress.maxRanges + 10)).map { (10 + 2 * $0)...(10 + 2 * $0) }
        let progress = PartitionProgress(next: 0, finished: ranges)
        #expect(progress.finished.count == PartitionProgress.maxRanges)
        #expect(progress.finished.first == 10...10, "the lowest ranges are kept")
    }

    @Test func partitionOffsetsReportTheirFinishedRanges() {
        var offsets = PartitionOffsets()
        for offset: Int64 in [10, 11, 12, 14, 15, 16, 17] { offsets.start(offset) }
        _ = offsets.finish(11)
        _ = offsets.finish(14)
        _ = offsets.finish(15)
        _ = offsets.finish(17)
        offsets.abandon(16)
        #expect(offsets.doneUpTo == 10)
        #expect(offsets.finishedAboveDone == [11...11, 14...15, 17...17], "12 and 16 are unfinished; 13 was never a record")
    }
}

struct OffsetLedgerHandOverTests {
    let partition = KafkaTopicPartition(topic: "t", partition: 0)

    func record(_ offset: Int64) -> KafkaConsumerRecord {
        KafkaConsumerRecord(topicPartition: partition, offset: offset, key: nil, value: [], headers: [])
    }

    @Test func recordsAnEarlierOwnerFinishedStartAsAlreadyDone() {
        let stored = LockedValue<[Int64]>([])
        let ledger = OffsetLedger { _, offset in stored.withLock { $0.append(offset) } }
        ledger.assign([partition], inherited: [partition: PartitionProgress(next: 3, finished: [5...5])])
        var outcomes: [String] = []
        for offset: Int64 in 1...6 {
            switch ledger.start(record(offset)) {
            case .alreadyDone(let ticket):
                outcomes.append("done")
                ledger.finish(ticket)
            case .work(let ticket):
                outcomes.append("work")
                if offset == 6 { ledger.finish(ticket) }
            case .refused:
                outcomes.append("refused")
            }
        }
        #expect(outcomes == ["done", "done", "work", "work", "done", "work"])
        #expect(stored.value == [2, 3], "offsets 1-2 finished as they came; 3 is still being worked on and holds the partition")
    }

    @Test func progressCombinesOwnAndInheritedAndIsWrittenOnlyWhenItChanged() {
        let ledger = OffsetLedger { _, _ in }
        ledger.assign([partition], inherited: [partition: PartitionProgress(next: 0, finished: [8...9])])
        #expect(ledger.unwrittenProgress()[partition] == PartitionProgress(next: 0, finished: [8...9]))
        var tickets: [Int64: OffsetLedger.Ticket] = [:]
        for offset: Int64 in 0...4 {
            if case .work(let ticket) = ledger.start(record(offset)) { tickets[offset] = ticket }
        }
        ledger.finish(tickets[0]!)
        ledger.finish(tickets[1]!)
        ledger.finish(tickets[3]!)
        let progress = ledger.unwrittenProgress()[partition]
        #expect(progress == PartitionProgress(next: 2, finished: [3...3, 8...9]))
        ledger.markWritten(partition, progress!)
        #expect(ledger.unwrittenProgress().isEmpty, "nothing new since the last write")
        ledger.abandon(tickets[2]!)
        #expect(ledger.unwrittenProgress().isEmpty, "abandoning finishes nothing")
        ledger.finish(tickets[4]!)
        #expect(ledger.unwrittenProgress()[partition] == PartitionProgress(next: 2, finished: [3...4, 8...9]))
    }

    @Test func waitingForIdleEndsWhenTheLastRecordFinishesOrAtTheDeadline() async {
        let ledger = OffsetLedger { _, _ in }
        ledger.assign([partition])
        guard case .work(let first) = ledger.start(record(1)), case .work(let second) = ledger.start(record(2)) else {
            Issue.record("records not started")
            return
        }
        ledger.beginRevoking([partition])
        let clock = ContinuousClock()
        let started = clock.now
        #expect(!(await ledger.waitUntilIdle([partition], until: started.advanced(by: .milliseconds(100)))))
        #expect(clock.now - started >= .milliseconds(100))
        let waiter = Task { await ledger.waitUntilIdle([partition], until: clock.now.advanced(by: .seconds(30))) }
        ledger.finish(first)
        try? await Task.sleep(for: .milliseconds(20))
        ledger.abandon(second)
        #expect(await waiter.value)
        #expect(clock.now - started < .seconds(10), "woken by the last record, not the deadline")
    }

    @Test func aRecordWaitingForItsDueTimeLearnsAtOnceThatItsPartitionGoes() async {
        let ledger = OffsetLedger { _, _ in }
        ledger.assign([partition])
        guard case .work(let ticket) = ledger.start(record(1)) else { return }
        let clock = ContinuousClock()
        #expect(await ledger.waitWhileCurrent(ticket, until: clock.now.advanced(by: .milliseconds(30))), "due: still ours")
        let started = clock.now
        let waiter = Task { await ledger.waitWhileCurrent(ticket, until: clock.now.advanced(by: .seconds(30))) }
        try? await Task.sleep(for: .milliseconds(20))
        ledger.beginRevoking([partition])
        #expect(!(await waiter.value))
        #expect(clock.now - started < .seconds(10))
    }
}

struct FastAdmissionTests {
    @Test func tryEnterAdmitsOrParksAndOtherwiseChangesNothing() {
        var policy = EndpointPolicy()
        policy.circuit.failureThreshold = 1
        let runtime = EndpointRuntime(policy: policy, maxInFlight: 1)
        guard case .attempt(let admission)? = runtime.tryEnter(now: 0, park: {}) else {
            Issue.record("a free slot admits")
            return
        }
        #expect(runtime.tryEnter(now: 0, park: {}) == .parked, "at the cap: parked")
        #expect(runtime.snapshot.waiting == 1)
        runtime.leave(admission, .init(success: false, status: 500, now: 10))
        // The parked one was resumed with the freed slot; the circuit is open now.
        let before = runtime.snapshot
        #expect(runtime.tryEnter(now: 20, park: {}) == nil, "circuit open: decided by enter, not here")
        #expect(runtime.snapshot == before, "nothing changed")
    }

    @Test func anAttemptCutShortLeavesTheCircuitAndHealthAsTheyWere() {
        var policy = EndpointPolicy()
        policy.circuit.failureThreshold = 1
        let runtime = EndpointRuntime(policy: policy, maxInFlight: 2)
        let before = runtime.snapshot
        guard case .attempt(let cutShort)? = runtime.tryEnter(now: 0, park: {}) else { return }
        runtime.cancel(cutShort, now: 5)
        #expect(runtime.snapshot == before, "a cut-short attempt is not a result")
        guard case .attempt(let failed)? = runtime.tryEnter(now: 10, park: {}) else { return }
        runtime.leave(failed, .init(success: false, status: nil, now: 20))
        guard case .open = runtime.snapshot.circuit else {
            Issue.record("one failure opens this circuit: \(runtime.snapshot.circuit)")
            return
        }
    }
}
