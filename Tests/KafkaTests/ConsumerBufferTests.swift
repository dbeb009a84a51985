import Testing

@testable import Kafka

/// The consumer's buffering and flow-control state machine, without a broker.
struct ConsumerBufferTests {
    let p0 = KafkaTopicPartition(topic: "t", partition: 0)
    let p1 = KafkaTopicPartition(topic: "t", partition: 1)

    func record(_ topicPartition: KafkaTopicPartition, _ offset: Int64) -> KafkaConsumerRecord {
        KafkaConsumerRecord(topicPartition: topicPartition, offset: offset, key: nil, value: [], headers: [])
    }

    @Test func handsOutRoundRobinInOffsetOrder() {
        var buffer = ConsumerBuffer(maxPerPartition: 100)
        buffer.assign([p0, p1])
        _ = buffer.append([record(p0, 0), record(p0, 1), record(p0, 2), record(p1, 0), record(p1, 1)])
        var order: [String] = []
        while let (record, _) = buffer.next() { order.append("\(record.partition):\(record.offset)") }
        #expect(order == ["0:0", "1:0", "0:1", "1:1", "0:2"])
    }

    @Test func fullPartitionIsPausedAndResumedAtHalf() {
        var buffer = ConsumerBuffer(maxPerPartition: 4)
        buffer.assign([p0])
        #expect(buffer.append([record(p0, 0), record(p0, 1), record(p0, 2)]).isEmpty)
        #expect(buffer.append([record(p0, 3)]) == .init(pause: [p0]))
        #expect(buffer.next()?.action == .init())  // 3 left
        #expect(buffer.next()?.action == .init(resume: [p0]))  // 2 left = half
        #expect(buffer.next()?.action == .init())
    }

    @Test func pausedPartitionHoldsRecordsUntilResumed() {
        var buffer = ConsumerBuffer(maxPerPartition: 100)
        buffer.assign([p0, p1])
        _ = buffer.append([record(p0, 0), record(p0, 1), record(p1, 0)])
        #expect(buffer.pause([p0]) == .init(pause: [p0]))
        #expect(buffer.pause([p0]).isEmpty)
        #expect(buffer.next()?.record == record(p1, 0))
        #expect(buffer.next() == nil)
        _ = buffer.append([record(p0, 2)])
        #expect(buffer.next() == nil)
        #expect(buffer.resume([p0]) == .init(resume: [p0]))
        #expect(buffer.next()?.record.offset == 0)
        #expect(buffer.next()?.record.offset == 1)
        #expect(buffer.next()?.record.offset == 2)
        #expect(buffer.next() == nil)
    }

    @Test func resumingAFullPausedPartitionKeepsFetchPaused() {
        var buffer = ConsumerBuffer(maxPerPartition: 2)
        buffer.assign([p0])
        #expect(buffer.pause([p0]) == .init(pause: [p0]))
        #expect(buffer.append([record(p0, 0), record(p0, 1)]).isEmpty)  // already paused
        #expect(buffer.resume([p0]).isEmpty)  // still full
        #expect(buffer.next()?.action == .init(resume: [p0]))
    }

    @Test func revokeDropsBufferedRecordsAndLaterRecordsOfThePartition() {
        var buffer = ConsumerBuffer(maxPerPartition: 100)
        buffer.assign([p0, p1])
        _ = buffer.append([record(p0, 0), record(p1, 0), record(p0, 1)])
        #expect(buffer.revoke([p0]) == 2)
        _ = buffer.append([record(p0, 2)])
        #expect(buffer.next()?.record == record(p1, 0))
        #expect(buffer.next() == nil)
        #expect(buffer.assigned == [p1])
        buffer.assign([p0])
        _ = buffer.append([record(p0, 5)])
        #expect(buffer.next()?.record == record(p0, 5))
        #expect(buffer.bufferedCount == 0)
    }

    @Test func aRevokedPartitionsPlaceIsReusedByAnotherWithoutMixingThem() {
        let p2 = KafkaTopicPartition(topic: "u", partition: 7)
        var buffer = ConsumerBuffer(maxPerPartition: 2)
        buffer.assign([p0, p1])
        _ = buffer.append([record(p0, 0), record(p0, 1), record(p1, 0)])
        buffer.revoke([p0])
        buffer.assign([p2])  // takes p0's place
        #expect(buffer.append([record(p0, 2), record(p2, 0), record(p2, 1)]) == .init(pause: [p2]), "p0's record is dropped; p2 is full")
        #expect(buffer.isPaused(p2) == false)
        #expect(buffer.pause([p2]).isEmpty, "fetching is already paused (full)")
        #expect(buffer.isPaused(p2) && !buffer.isPaused(p1))
        #expect(buffer.next()?.record == record(p1, 0))
        #expect(buffer.next() == nil, "p2 is paused by the application")
        #expect(buffer.resume([p2]).isEmpty, "still full: fetching stays paused")
        let first = buffer.next()
        #expect(first?.record == record(p2, 0) && first?.action == .init(resume: [p2]), "drained to half")
        #expect(buffer.next()?.record == record(p2, 1))
        #expect(buffer.assigned == [p1, p2] && buffer.bufferedCount == 0)
    }

    @Test func largeRecordsPauseThePartitionByBytesAndResumeAtHalf() {
        func big(_ offset: Int64) -> KafkaConsumerRecord {
            KafkaConsumerRecord(topicPartition: p0, offset: offset, key: [1, 2], value: Array(repeating: 0, count: 96), headers: [KafkaHeader(key: "h", value: [1])])
        }
        #expect(ConsumerBuffer.size(of: big(0)) == 100, "key, value, header name and value")
        var buffer = ConsumerBuffer(maxPerPartition: 1_000, maxBytesPerPartition: 400)
        buffer.assign([p0])
        #expect(buffer.append([big(0), big(1), big(2)]).isEmpty, "300 bytes")
        #expect(buffer.append([big(3)]) == .init(pause: [p0]), "400 bytes: full, far below 1,000 records")
        #expect(buffer.next()?.action == .init(), "300 bytes left")
        #expect(buffer.next()?.action == .init(resume: [p0]), "200 bytes left: half")
        #expect(buffer.append([big(4), big(5)]) == .init(pause: [p0]), "full again")
        #expect(buffer.bufferedCount == 4)
    }

    @Test func manyRecordsKeepOrderThroughCompaction() {
        var buffer = ConsumerBuffer(maxPerPartition: 10_000)
        buffer.assign([p0])
        var expected: Int64 = 0
        for chunk in 0..<10 {
            _ = buffer.append((0..<1_000).map { record(p0, Int64(chunk * 1_000 + $0)) })
            for _ in 0..<700 {
                #expect(buffer.next()?.record.offset == expected)
                expected += 1
            }
        }
        while let (record, _) = buffer.next() {
            #expect(record.offset == expected)
            expected += 1
        }
        #expect(expected == 10_000)
    }
}
