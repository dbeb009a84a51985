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

    /// Starts a record that must be worked on.
    func work(_ ledger: OffsetLedger, _ offset: Int64) -> RecordTicket? {
        let started = ledger.start(record(offset))
        switch consume started {
        case .work(let ticket): return ticket
        case .alreadyDone(let ticket):
            Issue.record("\(offset) already done")
            ticket.finish()
            return nil
        case .refused:
            Issue.record("\(offset) refused")
            return nil
        }
    }

    @Test func recordsAnEarlierOwnerFinishedStartAsAlreadyDone() {
        let stored = LockedValue<[Int64]>([])
        let ledger = OffsetLedger { _, offset in stored.withLock { $0.append(offset) } }
        ledger.assign([partition], inherited: [partition: PartitionProgress(next: 3, finished: [5...5])])
        var outcomes: [String] = []
        var held: RecordTicket?
        for offset: Int64 in 1...6 {
            let started = ledger.start(record(offset))
            switch consume started {
            case .alreadyDone(let ticket):
                outcomes.append("done")
                ticket.finish()
            case .work(let ticket):
                outcomes.append("work")
                if offset == 6 { ticket.finish() } else if offset == 3 { held = consume ticket } else { ticket.abandon() }
            case .refused:
                outcomes.append("refused")
            }
        }
        #expect(outcomes == ["done", "done", "work", "work", "done", "work"])
        #expect(stored.value == [2, 3], "offsets 1-2 finished as they came; 3 is still being worked on and holds the partition")
        held?.finish()
        #expect(ledger.unsettledTickets == 0)
    }

    @Test func progressCombinesOwnAndInheritedAndIsWrittenOnlyWhenItChanged() throws {
        let ledger = OffsetLedger { _, _ in }
        ledger.assign([partition], inherited: [partition: PartitionProgress(next: 0, finished: [8...9])])
        #expect(ledger.unwrittenProgress()[partition] == PartitionProgress(next: 0, finished: [8...9]))
        let zero = work(ledger, 0), one = work(ledger, 1), two = work(ledger, 2), three = work(ledger, 3), four = work(ledger, 4)
        zero?.finish()
        one?.finish()
        three?.finish()
        let progress = try #require(ledger.unwrittenProgress()[partition])
        #expect(progress == PartitionProgress(next: 2, finished: [3...3, 8...9]))
        ledger.markWritten(partition, progress)
        #expect(ledger.unwrittenProgress().isEmpty, "nothing new since the last write")
        two?.abandon()
        #expect(ledger.unwrittenProgress().isEmpty, "abandoning finishes nothing")
        four?.finish()
        #expect(ledger.unwrittenProgress()[partition] == PartitionProgress(next: 2, finished: [3...4, 8...9]))
    }

    @Test func waitingForIdleEndsWhenTheLastRecordFinishesOrAtTheDeadline() async {
        let ledger = OffsetLedger { _, _ in }
        ledger.assign([partition])
        guard let first = work(ledger, 1), let second = work(ledger, 2) else { return }
        ledger.beginRevoking([partition])
        #expect(!first.isCurrent && first.isOwned, "being let go: no new work, results still count")
        let clock = ContinuousClock()
        let started = clock.now
        #expect(!(await ledger.waitUntilIdle([partition], until: started.advanced(by: .milliseconds(100)))))
        #expect(clock.now - started >= .milliseconds(100))
        let waiter = Task { await ledger.waitUntilIdle([partition], until: clock.now.advanced(by: .seconds(30))) }
        first.finish()
        try? await Task.sleep(for: .milliseconds(20))
        second.abandon()
        #expect(await waiter.value)
        #expect(clock.now - started < .seconds(10), "woken by the last record, not the deadline")
    }

    @Test func aTicketSettlesOnceAndOneDroppedUnsettledIsAbandonedAndCounted() {
        let stored = LockedValue<[Int64]>([])
        let ledger = OffsetLedger { _, offset in stored.withLock { $0.append(offset) } }
        ledger.assign([partition])
        // Started and dropped at once, never settled.
        _ = work(ledger, 0)
        #expect(ledger.unsettledTickets == 1, "dropped while its partition is owned: a defect, counted")
        #expect(ledger.inFlight([partition]) == 0, "and abandoned, so the partition's progress stops before it")
        work(ledger, 1)?.finish()
        #expect(stored.value.isEmpty, "offset 0 was never finished: nothing is stored past it")
        // After the partition is gone, a ticket still held changes nothing and is no defect.
        guard let late = work(ledger, 2) else { return }
        ledger.remove([partition])
        late.finish()
        #expect(stored.value.isEmpty && ledger.unsettledTickets == 1)
    }
}
