import Foundation
@testable import Kafka
import Synchronization
import Testing

/// The producer and consumer against the embedded broker (librdkafka's mock cluster, the real
/// Kafka protocol). Serialized: each suite blocks threads on polling, and the machine has 2 cores.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct KafkaIntegrationTests {
    let logger = KafkaTestSupport.logger

    @Test func tenThousandKeyedRecordsWithHeadersArriveIntact() async throws {
        try await EmbeddedBroker.withBroker(topics: ["records": 6], logger: logger) { broker in
            // Produce concurrently: many sends in flight, one continuation each.
            let sent = try await KafkaProducer.withProducer(
                configuration: KafkaTestSupport.producerConfiguration(broker), logger: logger
            ) { producer in
                try await withThrowingTaskGroup(of: (KafkaProducerRecord, KafkaDeliveryReport).self) { group in
                    for index in 0..<10_000 {
                        group.addTask {
                            let record = KafkaProducerRecord(
                                topic: "records",
                                key: Array("endpoint-\(index % 97)".utf8),
                                value: Array("{\"n\":\(index)}".utf8) + [0, 255],
                                headers: [
                                    KafkaHeader(key: "webhook-event", value: "order.\(index)"),
                                    KafkaHeader(key: "binary", value: [0, 1, 2, UInt8(index % 256)]),
                                    KafkaHeader(key: "empty", value: []),
                                    KafkaHeader(key: "null", value: nil),
                                ]
                            )
                            return (record, try await producer.send(record))
                        }
                    }
                    var sent: [String: (KafkaProducerRecord, KafkaDeliveryReport)] = [:]
                    for try await (record, report) in group { sent["\(report.partition)/\(report.offset)"] = (record, report) }
                    return sent
                }
            }
            #expect(sent.count == 10_000)
            #expect(Set(sent.values.map(\.1.partition)).count == 6)

            let configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            let received = try await KafkaConsumer.withConsumer(
                configuration: configuration, topics: ["records"], logger: logger
            ) { consumer in
                await KafkaTestSupport.read(10_000, from: consumer, timeout: .seconds(60))
            }
            #expect(received.count == 10_000)
            var seen = Set<String>()
            for record in received {
                let coordinates = "\(record.partition)/\(record.offset)"
                #expect(seen.insert(coordinates).inserted, "duplicate \(coordinates)")
                guard let (original, _) = sent[coordinates] else {
                    Issue.record("unexpected record at \(coordinates)")
                    continue
                }
                #expect(record.key == original.key)
                #expect(record.value == original.value)
                #expect(record.headers == original.headers)
                #expect(record.topic == "records")
            }
            // The key decides the partition: every key lives in exactly one partition.
            let partitionsByKey = Dictionary(grouping: received, by: { $0.key ?? [] }).mapValues { Set($0.map(\.partition)) }
            #expect(partitionsByKey.values.allSatisfy { $0.count == 1 })
        }
    }

    /// A tombstone (null value, a compacted topic's deletion) is not an empty value, both ways,
    /// and kcat (a client we did not write) sees the same: payload length -1 (null) for the
    /// tombstone only.
    /// Watermarks of many partitions are asked in one ListOffsets request per leader and
    /// position, so they answer within the timeout even when every round trip to the broker is
    /// slow. Asked one partition at a time (as before), 32 partitions over a 400 ms round trip took
    /// about 13 s against a 5 s timeout: a relay's assignment handler ran out of time that way.
    @Test func watermarksOfManyPartitionsAnswerWithinTheTimeoutOverASlowBroker() async throws {
        try await EmbeddedBroker.withBroker(topics: ["marks": 32], logger: logger) { broker in
            try await KafkaProducer.withProducer(configuration: KafkaTestSupport.producerConfiguration(broker), logger: logger) { producer in
                for partition in 0..<32 {
                    for index in 0..<(partition % 5) {
                        _ = try await producer.send(KafkaProducerRecord(topic: "marks", partition: Int32(partition), value: Array("\(index)".utf8)))
                    }
                }
            }
            let partitions = (0..<32).map { KafkaTopicPartition(topic: "marks", partition: Int32($0)) }
            let configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            try await KafkaConsumer.withConsumer(configuration: configuration, topics: ["marks"], logger: logger) { consumer in
                let marks = try await consumer.watermarks(partitions, timeout: .seconds(5))
                for partition in partitions {
                    #expect(marks[partition] == KafkaWatermarks(low: 0, high: Int64(partition.partition % 5)), "\(partition)")
                }

                try broker.setRoundTripTime(.milliseconds(400), broker: 1)
                let clock = ContinuousClock()
                let started = clock.now
                let slow = try await consumer.watermarks(partitions, timeout: .seconds(5))
                #expect(clock.now - started < .seconds(5))
                #expect(slow == marks)
            }
        }
    }

    /// What wedged a relay: a consumer that long-polls idle partitions (librdkafka's default
    /// `fetch.wait.max.ms`, 500 ms) holds a fetch open on its broker connection, and the broker
    /// answers a connection's requests in order, so each watermark query waited for that fetch.
    /// One query per partition: 32 partitions took about 32 × 500 ms against a 5 s timeout.
    @Test func watermarksDoNotQueueBehindALongPollFetchOncePerPartition() async throws {
        try await EmbeddedBroker.withBroker(topics: ["idle": 32], logger: logger) { broker in
            var configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            configuration.fetchWait = .milliseconds(500)
            let partitions = (0..<32).map { KafkaTopicPartition(topic: "idle", partition: Int32($0)) }
            try await KafkaConsumer.withConsumer(configuration: configuration, topics: ["idle"], logger: logger) { consumer in
                // Fetching (and long-polling) once the group has assigned the partitions.
                #expect(await KafkaTestSupport.eventually(timeout: .seconds(20)) { consumer.assignment.count == 32 })
                try await Task.sleep(for: .seconds(1))
                let clock = ContinuousClock()
                let started = clock.now
                let marks = try await consumer.watermarks(partitions, timeout: .seconds(5))
                #expect(clock.now - started < .seconds(5))
                #expect(marks.count == 32)
                #expect(marks.values.allSatisfy { $0 == KafkaWatermarks(low: 0, high: 0) })
            }
        }
    }

    /// An assignment handler that runs past the revocation timeout holds the partitions' records
    /// back until it returns, and then every record arrives. Before, the poll thread went on and
    /// handed them out at once: the relay, which learns of its partitions in that handler,
    /// refused them, and they waited for the next rebalance.
    @Test func recordsOfAnAssignmentWaitForALateAssignmentHandler() async throws {
        try await EmbeddedBroker.withBroker(topics: ["late": 2], logger: logger) { broker in
            try await KafkaProducer.withProducer(configuration: KafkaTestSupport.producerConfiguration(broker), logger: logger) { producer in
                for index in 0..<20 {
                    _ = try await producer.send(KafkaProducerRecord(topic: "late", partition: Int32(index % 2), value: Array("\(index)".utf8)))
                }
            }
            var configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            configuration.revocationTimeout = .seconds(1)
            let handlerReturned = Mutex<ContinuousClock.Instant?>(nil)
            let received = try await KafkaConsumer.withConsumer(
                configuration: configuration, topics: ["late"], logger: logger,
                rebalanceHandler: { event in
                    guard case .assigned = event else { return }
                    try? await Task.sleep(for: .seconds(3))
                    handlerReturned.withLock { $0 = .now }
                }
            ) { consumer in
                let records = await KafkaTestSupport.read(20, from: consumer, timeout: .seconds(30))
                // Read to the last record: had any come before the handler returned, all 20
                // would have (1 s after the assignment, 2 s before the handler returns).
                #expect(handlerReturned.withLock { $0 } != nil, "the records arrived before the assignment handler returned")
                return records
            }
            #expect(received.count == 20)
            #expect(Set(received.map { String(decoding: $0.value, as: UTF8.self) }) == Set((0..<20).map(String.init)))
        }
    }

    @Test func tombstonesAreNullValuesAndEmptyValuesStayEmpty() async throws {
        try await EmbeddedBroker.withBroker(topics: ["compacted": 1], logger: logger) { broker in
            try await KafkaProducer.withProducer(configuration: KafkaTestSupport.producerConfiguration(broker), logger: logger) { producer in
                _ = try await producer.send(KafkaProducerRecord(topic: "compacted", key: Array("a".utf8), value: []))
                _ = try await producer.send(.tombstone(topic: "compacted", key: Array("b".utf8)))
                _ = try await producer.send(KafkaProducerRecord(topic: "compacted", key: Array("c".utf8), value: Array("x".utf8)))
            }
            let configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            let received = try await KafkaConsumer.withConsumer(configuration: configuration, topics: ["compacted"], logger: logger) { consumer in
                await KafkaTestSupport.read(3, from: consumer, timeout: .seconds(30))
            }
            #expect(received.map(\.isTombstone) == [false, true, false])
            #expect(received.map(\.value) == [[], [], Array("x".utf8)])

            let kcat = Process()
            kcat.executableURL = URL(fileURLWithPath: "/usr/bin/kcat")
            kcat.arguments = ["-b", broker.bootstrapServers, "-C", "-t", "compacted", "-e", "-q", "-f", "%k=%S;"]
            let output = Pipe()
            kcat.standardOutput = output
            try kcat.run()
            kcat.waitUntilExit()
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(text == "a=0;b=-1;c=1;", "kcat read \(text)")
        }
    }

    @Test func twoConsumersSplitPartitionsAndTheSurvivorTakesAll() async throws {
        try await EmbeddedBroker.withBroker(topics: ["split": 6], logger: logger) { broker in
            let configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            let first = try KafkaConsumer(configuration: configuration, topics: ["split"], logger: logger)
            let second = try KafkaConsumer(configuration: configuration, topics: ["split"], logger: logger)
            let all = Set((0..<6).map { KafkaTopicPartition(topic: "split", partition: Int32($0)) })

            let split = await KafkaTestSupport.eventually {
                let a = first.assignment, b = second.assignment
                return !a.isEmpty && !b.isEmpty && a.isDisjoint(with: b) && a.union(b) == all
            }
            #expect(split, "assignments: \(first.assignment) / \(second.assignment)")
            #expect(first.assignment.count == 3 && second.assignment.count == 3)

            try await first.close(timeout: .seconds(20))
            let takenOver = await KafkaTestSupport.eventually { second.assignment == all }
            #expect(takenOver, "survivor holds \(second.assignment)")

            // And the survivor now reads every partition.
            try await KafkaProducer.withProducer(configuration: KafkaTestSupport.producerConfiguration(broker), logger: logger) {
                try await KafkaTestSupport.produce($0, topic: "split", partitions: Array(0..<6), count: 5)
            }
            let records = await KafkaTestSupport.read(30, from: second)
            #expect(Set(records.map(\.partition)) == Set(0..<6))
            // Each partition's records come through its own queue — also the three the survivor
            // held before, assigned to it again (librdkafka keeps the application's forwarding
            // across a fetch stop and start) — so the prefetch limit holds per partition.
            let taken = second.core.recordsTaken
            #expect(taken.consumerQueue == 0 && taken.ownQueues == 30, "taken \(taken)")
            try await second.close(timeout: .seconds(20))
        }
    }

    /// Static membership (`group.instance.id`): members with ids join, split the partitions and
    /// read. librdkafka 2.0.2's mock broker accepts the id (JoinGroup v5) but ignores it: a member
    /// restarted with the same id is a new member there and the group rebalances, where Apache
    /// Kafka 2.3+ gives it its partitions back without one. That part needs a real cluster.
    @Test func staticMembersJoinSplitAndReadOnTheEmbeddedBroker() async throws {
        try await EmbeddedBroker.withBroker(topics: ["static": 4], logger: logger) { broker in
            var configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            configuration.groupInstanceID = "relay-a"
            #expect(configuration.librdkafkaProperties.contains { $0 == ("group.instance.id", "relay-a") })
            let first = try KafkaConsumer(configuration: configuration, topics: ["static"], logger: logger)
            configuration.groupInstanceID = "relay-b"
            let second = try KafkaConsumer(configuration: configuration, topics: ["static"], logger: logger)
            let split = await KafkaTestSupport.eventually { first.assignment.count == 2 && second.assignment.count == 2 }
            #expect(split, "assignments: \(first.assignment) / \(second.assignment)")
            try await KafkaProducer.withProducer(configuration: KafkaTestSupport.producerConfiguration(broker), logger: logger) {
                try await KafkaTestSupport.produce($0, topic: "static", partitions: Array(0..<4), count: 5)
            }
            let fromFirst = await KafkaTestSupport.read(10, from: first)
            let fromSecond = await KafkaTestSupport.read(10, from: second)
            #expect(fromFirst.count + fromSecond.count == 20)
            try await first.close(timeout: .seconds(20))
            try await second.close(timeout: .seconds(20))
        }
    }

    @Test func newConsumerResumesAtFirstRecordNotStored() async throws {
        try await EmbeddedBroker.withBroker(topics: ["resume": 3], logger: logger) { broker in
            try await KafkaProducer.withProducer(configuration: KafkaTestSupport.producerConfiguration(broker), logger: logger) {
                try await KafkaTestSupport.produce($0, topic: "resume", partitions: [0, 1, 2], count: 50)
            }
            let configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            // Done up to a different point in each partition; 2 is never stored.
            let doneUpTo: [Int32: Int64] = [0: 17, 1: 50]
            try await KafkaConsumer.withConsumer(configuration: configuration, topics: ["resume"], logger: logger) { consumer in
                let records = await KafkaTestSupport.read(150, from: consumer)
                #expect(records.count == 150)
                for (partition, next) in doneUpTo {
                    try consumer.storeOffset(next, for: KafkaTopicPartition(topic: "resume", partition: partition))
                }
                #expect(throws: KafkaError.self, "a partition not assigned") {
                    try consumer.storeOffset(5, for: KafkaTopicPartition(topic: "resume", partition: 99))
                }
            }
            try await KafkaConsumer.withConsumer(configuration: configuration, topics: ["resume"], logger: logger) { consumer in
                let expected = 150 - 17 - 50
                let records = await KafkaTestSupport.read(expected, from: consumer)
                #expect(records.count == expected)
                let byPartition = Dictionary(grouping: records, by: \.partition).mapValues { $0.map(\.offset) }
                #expect(byPartition[0] == Array(17..<50))
                #expect(byPartition[1] == nil)
                #expect(byPartition[2] == Array(0..<50))
                // Nothing beyond them: no repeats.
                let extra = await KafkaTestSupport.read(1, from: consumer, timeout: .seconds(2))
                #expect(extra.isEmpty)
            }
        }
    }

    @Test func pauseStopsAPartitionAndResumeRestartsItWithoutLoss() async throws {
        try await EmbeddedBroker.withBroker(topics: ["pause": 2], logger: logger) { broker in
            try await KafkaProducer.withProducer(configuration: KafkaTestSupport.producerConfiguration(broker), logger: logger) { producer in
                try await KafkaTestSupport.produce(producer, topic: "pause", partitions: [0, 1], count: 10, tag: "before")
                var configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
                configuration.maxBufferedRecordsPerPartition = 5
                try await KafkaConsumer.withConsumer(configuration: configuration, topics: ["pause"], logger: logger) { consumer in
                    let p0 = KafkaTopicPartition(topic: "pause", partition: 0)
                    // Take the first record of partition 0 and hold it (e.g. not yet due), then pause.
                    let held = await KafkaTestSupport.read(1, from: consumer) { $0.partition == 0 }
                    #expect(held.first?.offset == 0)
                    consumer.pause([p0])
                    try await KafkaTestSupport.produce(producer, topic: "pause", partitions: [0, 1], count: 10, tag: "during")

                    // While paused: partition 1 flows (20 records, some may have been skipped above
                    // while waiting for partition 0), partition 0 stays silent.
                    let whilePaused = await KafkaTestSupport.read(100, from: consumer, timeout: .seconds(4))
                    #expect(whilePaused.allSatisfy { $0.partition == 1 })
                    #expect(!whilePaused.isEmpty)

                    consumer.resume([p0])
                    let afterResume = await KafkaTestSupport.read(19, from: consumer) { $0.partition == 0 }
                    #expect(afterResume.map(\.offset) == Array(1..<20))
                }
            }
        }
    }

    @Test func boundedBufferingDeliversEverythingInOrder() async throws {
        try await EmbeddedBroker.withBroker(topics: ["bounded": 1], logger: logger) { broker in
            try await KafkaProducer.withProducer(configuration: KafkaTestSupport.producerConfiguration(broker), logger: logger) {
                try await KafkaTestSupport.produce($0, topic: "bounded", partitions: [0], count: 500)
            }
            var configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            configuration.maxBufferedRecordsPerPartition = 50
            try await KafkaConsumer.withConsumer(configuration: configuration, topics: ["bounded"], logger: logger) { consumer in
                var offsets: [Int64] = []
                var maxBuffered = 0
                for await record in consumer.records {
                    offsets.append(record.offset)
                    // A slow application: the buffer fills, so fetching pauses and resumes repeatedly
                    // (librdkafka 2.0.2 purges its fetch queue on pause and re-fetches on resume).
                    if record.offset % 50 == 0 {
                        try? await Task.sleep(for: .milliseconds(100))
                        maxBuffered = max(maxBuffered, consumer.bufferedRecordCount)
                    }
                    if offsets.count == 500 { break }
                }
                #expect(offsets == Array(0..<500))
                // The limit plus at most one poll batch, instead of the whole backlog.
                #expect(maxBuffered >= 40)
                #expect(maxBuffered <= 50 + KafkaConsumerCore.pollBatchSize)
            }
        }
    }

    /// The bound must hold however long a pause request waits behind others: here the
    /// application keeps pausing and resuming another partition, so the request that stops a
    /// full partition queues behind about a hundred. Before the poll thread waited for it, that
    /// partition's whole backlog (2,000 records) reached the buffer meanwhile.
    @Test func bufferingStaysBoundedWhilePauseRequestsQueue() async throws {
        try await EmbeddedBroker.withBroker(topics: ["queued-pauses": 2], logger: logger) { broker in
            try await KafkaProducer.withProducer(configuration: KafkaTestSupport.producerConfiguration(broker), logger: logger) { producer in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for chunk in 0..<20 {
                        group.addTask {
                            for index in 0..<100 {
                                _ = try await producer.send(KafkaProducerRecord(topic: "queued-pauses", partition: 0, value: Array("\(chunk)-\(index)".utf8)))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            var configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            configuration.maxBufferedRecordsPerPartition = 50
            try await KafkaConsumer.withConsumer(configuration: configuration, topics: ["queued-pauses"], logger: logger) { consumer in
                let busy = KafkaTopicPartition(topic: "queued-pauses", partition: 1)
                // Keeps about 100 real requests queued ahead of any other.
                let toggling = Task {
                    while !Task.isCancelled {
                        while consumer.core.pendingFetchRequests < 100 {
                            consumer.pause([busy])
                            consumer.resume([busy])
                        }
                        try? await Task.sleep(for: .milliseconds(1))
                    }
                }
                defer { toggling.cancel() }
                var offsets: [Int64] = []
                var maxBuffered = 0
                for await record in consumer.records where record.partition == 0 {
                    offsets.append(record.offset)
                    maxBuffered = max(maxBuffered, consumer.bufferedRecordCount)
                    if offsets.count % 50 == 0 { try? await Task.sleep(for: .milliseconds(20)) }
                    if offsets.count == 2_000 { break }
                }
                #expect(offsets == Array(0..<2_000))
                #expect(maxBuffered <= 50 + KafkaConsumerCore.pollBatchSize, "buffered \(maxBuffered)")
            }
        }
    }

    /// The application pauses and resumes partitions all the time while their records stream in:
    /// no offset is skipped. librdkafka 2.0.2's batch read (`rd_kafka_consume_batch_queue`)
    /// loses records here: a pause served while a batch is being collected moves the fetch
    /// position past the records collected so far, and the pause's version barrier then drops
    /// them from the batch (a known issue of 2.0.2, fixed in 2.1.0). Read that way, this test saw
    /// gaps of 1 to 241 offsets in 6 runs of 6 (most start where a fetch handed over a new
    /// batch); read a record at a time, none in 5. The toggling slows reading down, so the test
    /// reads for at most 40 s and checks what arrived by then.
    @Test func pausingAndResumingWhileRecordsStreamInSkipsNoOffset() async throws {
        let partitions: Int32 = 4
        let perPartition = 10_000
        try await EmbeddedBroker.withBroker(topics: ["toggled": Int(partitions)], logger: logger) { broker in
            // Sent many at a time with a long linger: each partition's log is a few large batches,
            // so a fetch hands the poll thread hundreds of records of a partition at once.
            var producerConfiguration = KafkaTestSupport.producerConfiguration(broker)
            producerConfiguration.linger = .milliseconds(20)
            try await KafkaProducer.withProducer(configuration: producerConfiguration, logger: logger) { producer in
                for round in 0..<(perPartition / 500) {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for index in 0..<(500 * Int(partitions)) {
                            group.addTask {
                                let record = KafkaProducerRecord(topic: "toggled", partition: Int32(index) % partitions, value: Array("\(round)-\(index)".utf8))
                                _ = try await producer.send(record)
                            }
                        }
                        try await group.waitForAll()
                    }
                }
            }
            var configuration = KafkaTestSupport.consumerConfiguration(broker, group: KafkaTestSupport.uniqueName("g"))
            // Short long-polls: a resumed partition is fetched again at once.
            configuration.fetchWait = .milliseconds(10)
            try await KafkaConsumer.withConsumer(configuration: configuration, topics: ["toggled"], logger: logger) { consumer in
                let all = (0..<partitions).map { KafkaTopicPartition(topic: "toggled", partition: $0) }
                let toggling = Task {
                    while !Task.isCancelled {
                        // A pause and a resume queued at a time: the partitions fetch in between.
                        if consumer.core.pendingFetchRequests == 0 {
                            consumer.pause(all)
                            consumer.resume(all)
                        }
                        try? await Task.sleep(for: .milliseconds(1))
                    }
                }
                defer { toggling.cancel() }
                let reader = Task {
                    var next = [Int32: Int64]()
                    var gaps: [String] = []
                    var complete = 0
                    for await record in consumer.records {
                        // A record read again (the fetch restarts at the last record handed over)
                        // is no gap; one past the next expected offset is.
                        let expected = next[record.partition, default: 0]
                        if record.offset > expected { gaps.append("\(record.partition): \(expected)...\(record.offset - 1)") }
                        guard record.offset >= expected else { continue }
                        next[record.partition] = record.offset + 1
                        if record.offset + 1 == Int64(perPartition) { complete += 1 }
                        if complete == Int(partitions) { break }
                    }
                    return (next, gaps)
                }
                let timeout = Task {
                    try await Task.sleep(for: .seconds(40))
                    reader.cancel()
                }
                defer { timeout.cancel() }
                let (reached, gaps) = await reader.value
                #expect(gaps.isEmpty, "offsets skipped: \(gaps.prefix(10))")
                // Every partition streamed through many pauses.
                #expect((0..<partitions).allSatisfy { reached[$0, default: 0] >= 500 }, "read up to \(reached)")
            }
        }
    }

    @Test func sendFailsWithTypedErrorWhenBrokersAreDown() async throws {
        try await EmbeddedBroker.withBroker(brokers: 2, topics: ["down": 2], logger: logger) { broker in
            var configuration = KafkaTestSupport.producerConfiguration(broker)
            configuration.messageTimeout = .seconds(2)
            try await KafkaProducer.withProducer(configuration: configuration, logger: logger) { producer in
                _ = try await producer.send(KafkaProducerRecord(topic: "down", partition: 0, value: [1]))
                for id in broker.brokerIDs { try broker.setBrokerDown(id) }
                let started = ContinuousClock.now
                let error = await #expect(throws: KafkaError.self) {
                    _ = try await producer.send(KafkaProducerRecord(topic: "down", partition: 0, value: [2]))
                }
                #expect(error?.isMessageTimeout == true, "got \(String(describing: error))")
                #expect(ContinuousClock.now - started < .seconds(20))
                for id in broker.brokerIDs { try broker.setBrokerUp(id) }
            }
        }
    }

    @Test func badPropertyIsRejectedWithItsName() {
        var configuration = KafkaProducerConfiguration(bootstrapServers: "127.0.0.1:1")
        configuration.properties["no.such.property"] = "1"
        let error = #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: configuration, logger: logger)
        }
        #expect(error?.message.contains("no.such.property") == true)
    }

    @Test func closedProducerRefusesSends() async throws {
        try await EmbeddedBroker.withBroker(topics: ["closed": 1], logger: logger) { broker in
            let producer = try KafkaProducer(configuration: KafkaTestSupport.producerConfiguration(broker), logger: logger)
            _ = try await producer.send(KafkaProducerRecord(topic: "closed", value: [1]))
            await producer.close(timeout: .seconds(5))
            await #expect(throws: KafkaError.self) {
                _ = try await producer.send(KafkaProducerRecord(topic: "closed", value: [2]))
            }
        }
    }
}
