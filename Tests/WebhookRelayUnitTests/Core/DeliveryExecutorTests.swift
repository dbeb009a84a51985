import Kafka
import Logging
import Synchronization
import Testing
@testable import WebhookRelay

/// The executor carrying out the machine's actions over stand-ins of the record source, the sink
/// and the transport, with a manual clock: what is written, what is stored, what is left.
struct DeliveryExecutorTests {
    final class Harness: Sendable {
        let partition = KafkaTopicPartition(topic: CoreTest.topics.deliveries, partition: 0)
        let stored = LockedValue<[Int64]>([])
        let ledger: OffsetLedger
        let sink = RecordingSink()
        let transport: ScriptedTransport
        let hanging = HangingTransport()
        let source = RecordingSource()
        let clock = ManualClock()
        let executor: DeliveryExecutor
        let statistics = DeliveryStatistics()

        init(
            outcomes: [AttemptOutcome] = [], endpoints: [Endpoint] = [CoreTest.endpoint()], maxInFlight: Int = 8, hang: Bool = false,
            transport custom: (any DeliveryTransport)? = nil
        ) {
            let stored = self.stored
            ledger = OffsetLedger { _, offset in stored.withLock { $0.append(offset) } }
            transport = ScriptedTransport(outcomes)
            var configuration = RelayConfiguration(bootstrapServers: "", topics: CoreTest.topics)
            configuration.maxInFlight = maxInFlight
            configuration.retryJitter = 0
            executor = DeliveryExecutor(
                configuration: configuration, registry: EndpointRegistry(endpoints), ledger: ledger,
                dependencies: .init(source: source, sink: sink, transport: custom ?? (hang ? hanging : transport), clock: clock, random: { 0 }),
                metrics: RelayMetrics(), statistics: statistics, logger: CoreTest.quietLogger
            )
        }

        /// Runs the workers and the timers while `body` runs.
        func run(_ body: () async throws -> Void) async throws {
            try await withThrowingDiscardingTaskGroup { group in
                let executor = self.executor
                group.addTask { await executor.runTimers() }
                for _ in 0..<4 {
                    group.addTask { await executor.runAttemptWorker() }
                    group.addTask { while let flight = await executor.writeWorkers.next() { await executor.drive(flight, at: .writeWorker) } }
                }
                try await body()
                executor.attemptWorkers.close()
                executor.writeWorkers.close()
                executor.timers.close()
            }
        }

        /// Reads a record as the consumer loop does: it is buffered, then taken with a place among
        /// the records in progress (a busy worker may take it first, with its own).
        func read(_ record: KafkaConsumerRecord) async {
            source.buffer([record])
            await takeOne()
        }

        /// Takes the next buffered record as the consumer loop does.
        func takeOne() async {
            await executor.recordsInProgress.acquire()
            switch executor.takeBuffered(at: .dispatcher) {
            case .some: break
            case .none: executor.recordsInProgress.release()
            }
        }

        var offsets: [Int64] { stored.withLock { $0 } }
    }

    @Test func aDeliveredRecordIsSignedPostedAndItsOffsetStored() async throws {
        let harness = Harness()
        harness.ledger.assign([harness.partition])
        try await harness.run {
            await harness.read(CoreTest.record(offset: 0))
            #expect(await eventually { harness.offsets == [1] })
        }
        let request = try #require(harness.transport.requests.first)
        #expect(request.url == "http://127.0.0.1:9/orders")
        #expect(request.headers["webhook-id"] == "msg_1" && request.headers["Webhook-Attempt"] == "1")
        #expect(request.headers["webhook-signature"]?.hasPrefix("v1,") == true)
        #expect(harness.sink.records.isEmpty)
        #expect(harness.statistics.snapshot["orders"]?.delivered == 1)
        #expect(harness.ledger.unsettledTickets == 0)
    }

    @Test func anAttemptWorkerThatSettledARecordTakesTheNextBufferedOnesItselfInOffsetOrder() async throws {
        let harness = Harness()
        harness.ledger.assign([harness.partition])
        // Only offset 0 goes through the consumer loop; 1…9 wait in the source's buffer.
        harness.source.buffer([CoreTest.record(offset: 0)] + (1...9).map { CoreTest.record(offset: $0, id: "msg_\($0 + 1)") })
        try await harness.run {
            await harness.takeOne()
            #expect(await eventually { harness.offsets.last == 10 })
        }
        #expect(harness.transport.requests.map { $0.headers["webhook-id"] ?? "" } == (1...10).map { "msg_\($0)" },
                "the worker took them one after the other, in the buffer's order")
        #expect(harness.executor.recordsInProgress.available == 4 * 8, "the place went from record to record and back at the end")
        #expect(harness.ledger.unsettledTickets == 0 && harness.statistics.snapshot["orders"]?.delivered == 10)
    }

    @Test func aFailedAttemptIsForwardedWithItsHopHeadersBeforeTheOffsetMoves() async throws {
        let harness = Harness(outcomes: [.answered(.init(status: 503, bodyPrefix: "busy"))])
        harness.ledger.assign([harness.partition])
        try await harness.run {
            await harness.read(CoreTest.record(offset: 0, id: nil))
            #expect(await eventually { harness.offsets == [1] })
        }
        let hop = try #require(harness.sink.records.first)
        #expect(hop.topic == "t.retry.1s" && hop.partition == 0 && hop.value == Array("{}".utf8))
        let headers = Dictionary(hop.headers.map { ($0.key, $0.stringValue ?? "") }) { first, _ in first }
        #expect(headers["relay-attempts"] == "1" && headers["relay-last-status"] == "503" && headers["relay-last-error"] == "HTTP 503: busy")
        #expect(headers["relay-due-at"] == String(harness.clock.wallMilliseconds + 1_000))
        #expect(headers["webhook-id"] == DeliveryRecord.derivedID(.init(topic: "t.deliveries", partition: 0, offset: 0)),
                "a derived id travels with the hop")
        #expect(harness.statistics.snapshot["orders"]?.retried == 1 && harness.statistics.snapshot["orders"]?.failedAttempts == 1)
    }

    @Test func aDelayTopicRecordWaitsWithItsPartitionPausedUntilTheClockReachesItsDueTime() async throws {
        let harness = Harness()
        let retry = KafkaTopicPartition(topic: "t.retry.5s", partition: 0)
        harness.ledger.assign([retry])
        let dueAt = harness.clock.wallMilliseconds + 4_000
        try await harness.run {
            await harness.read(CoreTest.record(topic: retry.topic, relay: [("relay-attempts", "1"), ("relay-due-at", String(dueAt))]))
            #expect(harness.source.log == ["pause \(retry)"])
            #expect(await eventually { harness.executor.timers.count == 1 })
            harness.clock.advance(by: 3_999)
            try await Task.sleep(for: .milliseconds(20))
            #expect(harness.transport.requests.isEmpty, "not due yet")
            harness.clock.advance(by: 1)
            #expect(await eventually { harness.offsets == [1] })
        }
        #expect(harness.source.log == ["pause \(retry)", "resume \(retry)"])
        #expect(harness.transport.requests.first?.headers["Webhook-Attempt"] == "2")
    }

    @Test func lettingAPartitionGoLeavesItsWaitingAndParkedRecordsUnfinishedAndCutsItsAttemptShort() async throws {
        let harness = Harness(endpoints: [CoreTest.endpoint("slow", maxInFlight: 1)], hang: true)
        let retry = KafkaTopicPartition(topic: "t.retry.5s", partition: 0)
        harness.ledger.assign([harness.partition, retry])
        try await harness.run {
            // Offset 0 is attempted and never answered; 1 and 2 park behind it at the endpoint's cap;
            // the delay-topic record waits for its due time.
            for offset: Int64 in 0...2 { await harness.read(CoreTest.record("slow", offset: offset)) }
            await harness.read(CoreTest.record(
                "slow", topic: retry.topic, relay: [("relay-attempts", "1"), ("relay-due-at", String(harness.clock.wallMilliseconds + 4_000))]
            ))
            #expect(await eventually { harness.hanging.requests == 1 && harness.executor.timers.count == 1 })
            #expect(harness.executor.registry.snapshots["slow"]?.waiting == 2)
            harness.ledger.beginRevoking([harness.partition, retry])
            await harness.executor.letGo([harness.partition, retry])
            #expect(harness.executor.timers.count == 0, "released at once, not at its due time")
            #expect(await eventually { harness.ledger.inFlight([harness.partition, retry]) == 1 }, "only the attempt on the wire is left")
            #expect(harness.executor.onTheWire.cutShort([harness.partition]) == 1)
            #expect(await harness.ledger.waitUntilIdle([harness.partition, retry], until: .now + .seconds(5)))
        }
        #expect(harness.hanging.requests == 1 && harness.offsets.isEmpty)
        #expect(harness.statistics.snapshot["slow"]?.cutShort == 1 && harness.statistics.snapshot["slow"]?.waiting == 0)
        #expect(harness.ledger.unsettledTickets == 0)
        #expect(harness.executor.recordsInProgress.available == 4 * 8, "every record gave its place back")
    }

    /// The HTTP client watches an attempt's own cancellation, not its task's: a cancelled
    /// attempt worker (the relay's task group is cancelled) must cut its attempt short itself.
    @Test func cancellingTheAttemptWorkersCutsTheirAttemptsShort() async throws {
        let harness = Harness(endpoints: [CoreTest.endpoint("slow")], hang: true)
        harness.ledger.assign([harness.partition])
        let executor = harness.executor
        await withDiscardingTaskGroup { group in
            group.addTask { await executor.runTimers() }
            for _ in 0..<2 {
                group.addTask { await executor.runAttemptWorker() }
                group.addTask { while let flight = await executor.writeWorkers.next() { await executor.drive(flight, at: .writeWorker) } }
            }
            await harness.read(CoreTest.record("slow", offset: 0))
            #expect(await eventually { harness.hanging.requests == 1 && executor.onTheWire.count == 1 })
            group.cancelAll()
            #expect(await eventually { executor.onTheWire.count == 0 }, "the attempt on the wire was cut short")
            executor.onTheWire.cutShortAll()  // lets a failing run end
            executor.attemptWorkers.close()
            executor.writeWorkers.close()
            executor.timers.close()
        }
        #expect(harness.statistics.snapshot["slow"]?.cutShort == 1)
        #expect(harness.offsets.isEmpty, "left to the partition's next owner")
    }

    @Test func aRecordWaitingForTheRateLimitWhenItsEndpointChangesIsSentWithTheNewSettings() async throws {
        var policy = EndpointPolicy()
        policy.rateLimit = RateLimit.Rate(count: 1, period: .seconds(1))
        let harness = Harness(endpoints: [CoreTest.endpoint("limited", policy: policy)])
        harness.ledger.assign([harness.partition])
        try await harness.run {
            await harness.read(CoreTest.record("limited", offset: 0))
            await harness.read(CoreTest.record("limited", offset: 1))
            #expect(await eventually { harness.transport.requests.count == 1 && harness.executor.timers.count == 1 }, "the second waits")
            // The registry changes the endpoint's URL while the second record waits.
            var moved = CoreTest.endpoint("limited", policy: policy)
            moved.url = "http://127.0.0.1:9/moved"
            harness.executor.requeue(harness.executor.registry.put(moved, disabledReason: nil))
            harness.clock.advance(by: 1_000)
            #expect(await eventually { harness.offsets == [1, 2] })
        }
        #expect(harness.transport.requests.map(\.url) == ["http://127.0.0.1:9/limited", "http://127.0.0.1:9/moved"])
        #expect(harness.ledger.unsettledTickets == 0)
    }

    @Test func anUnknownEndpointsRecordIsDeadLetteredByAWriteWorker() async throws {
        let harness = Harness()
        harness.ledger.assign([harness.partition])
        try await harness.run {
            await harness.read(CoreTest.record("nobody"))
            #expect(await eventually { harness.offsets == [1] })
        }
        let dead = try #require(harness.sink.records.first)
        #expect(dead.topic == "t.dlq" && dead.headers.first(named: "relay-dlq-reason")?.stringValue == "unknown_endpoint")
        #expect(harness.statistics.snapshot["nobody"]?.deadLettered == 1)
    }

    @Test func aDeadLetterTheDLQRefusesIsWrittenWithoutItsBody() async throws {
        let harness = Harness(outcomes: [.answered(.init(status: 410))])
        harness.sink.refuse(topic: "t.dlq")
        harness.ledger.assign([harness.partition])
        try await harness.run {
            await harness.read(CoreTest.record(offset: 0))
            #expect(await eventually { harness.offsets == [1] })
        }
        let dead = try #require(harness.sink.records.first)
        #expect(dead.value.isEmpty && dead.headers.first(named: "relay-body-omitted")?.stringValue == "2")
        #expect(harness.executor.registry.snapshots["orders"]?.disabledReason?.hasPrefix("410 Gone at") == true)
    }
}
