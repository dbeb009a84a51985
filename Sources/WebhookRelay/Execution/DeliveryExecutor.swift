import Kafka
import Logging
import Synchronization

/// Runs deliveries: feeds each record's ``DeliveryStateMachine`` its events and performs the
/// ``DeliveryAction``s it returns, over the record source, the record sink (the producer), the
/// transport (HTTP) and a clock. Thin on purpose: every decision is the machine's, the endpoint
/// admission's or a policy's; this type only does what they decide, where it may be done.
///
/// Where actions run: the consumer loop and the timers *dispatch* (they never wait for I/O: an
/// attempt goes to the attempt workers, a write to the write workers). Attempts run on NIO's
/// event loops, which read their sockets only when they have no task left, so Kafka work must not
/// run there: every write goes to a write worker. At full speed the attempt workers take records
/// from the consumer's buffer themselves (``runAttemptWorker()``) and the consumer loop feeds
/// only idle ones. Records resumed from parking go to the attempt workers. Waits go to
/// ``DeliveryTimers``; parked records to their endpoint's runtime. A record is settled exactly
/// once, by its ``RecordTicket``.
final class DeliveryExecutor: Sendable {
    /// What the executor acts on.
    struct Dependencies: Sendable {
        var source: any RecordSource
        var sink: any RecordSink
        var transport: any DeliveryTransport
        /// Where operational events go (circuits, `410`, exhausted messages); `nil`: nowhere.
        var operational: OperationalLog? = nil
        var clock: any RelayClock = SystemRelayClock()
        /// A draw from -1...1 for retry jitter.
        var random: @Sendable () -> Double = { Double.random(in: -1...1) }
    }

    /// Where a record's actions are being performed.
    enum Place: Sendable {
        /// The consumer loop, the timers: nothing that waits for I/O.
        case dispatcher
        /// An attempt worker (an event loop): attempts, and what needs no I/O around them.
        case attemptWorker
        /// A write worker (Swift's pool): hops and dead letters.
        case writeWorker
    }

    let machineConfiguration: DeliveryStateMachine.Configuration
    let bodyLimit: Int
    let registry: EndpointRegistry
    let ledger: OffsetLedger
    let dependencies: Dependencies
    let writer: RecordWriter
    let metrics: RelayMetrics
    let statistics: DeliveryStatistics
    let logger: Logger
    /// Records between the consumer's buffer and their settling.
    let recordsInProgress: AsyncSemaphore
    /// Serializes taking records from the source's buffer (``takeBuffered(at:)``); notices
    /// records skipped on delay topics.
    private let intake = Mutex(DelayTopicGaps())
    /// The attempts on the wire, so that those of partitions let go can be cut short.
    let onTheWire = InFlightAttempts()
    let attemptWorkers: WorkerPool<RecordFlight>
    let writeWorkers: WorkerPool<RecordFlight>
    let timers: DeliveryTimers
    /// The relay's own latency (``RelayLatency``).
    let latency: RelayLatency

    init(
        configuration: RelayConfiguration, registry: EndpointRegistry, ledger: OffsetLedger, dependencies: Dependencies,
        metrics: RelayMetrics, statistics: DeliveryStatistics, logger: Logger
    ) {
        let limits = configuration.limits
        machineConfiguration = .init(planner: RetryPlanner(topics: configuration.topics, jitter: configuration.retryJitter))
        bodyLimit = configuration.bodyLimit
        self.registry = registry
        self.ledger = ledger
        self.dependencies = dependencies
        writer = RecordWriter(sink: dependencies.sink, logger: logger)
        self.metrics = metrics
        self.statistics = statistics
        self.logger = logger
        recordsInProgress = AsyncSemaphore(permits: limits.recordsInProgress)
        attemptWorkers = WorkerPool(workers: limits.attemptWorkers)
        writeWorkers = WorkerPool(workers: limits.writeWorkers)
        timers = DeliveryTimers(clock: dependencies.clock)
        latency = RelayLatency(window: configuration.latencyWindow)
    }

    var clock: any RelayClock { dependencies.clock }

    /// A record's flight, its machine started.
    private func begin(_ record: KafkaConsumerRecord, ticket: consuming RecordTicket) -> RecordFlight {
        let tier = machineConfiguration.topics.delay(ofRetryTopic: record.topic)
        let decoded = DeliveryRecord.decode(record, bodyLimit: bodyLimit, trustingRelayHeaders: tier != nil)
        var machine = DeliveryStateMachine(record: record, decoded: decoded, tier: tier, configuration: machineConfiguration)
        let next = machine.start(now: clock.wallMilliseconds)
        return RecordFlight(record: record, machine: machine, next: next, ticket: ticket)
    }

    /// Takes the next record buffered by the source, starts its ticket and advances it to its
    /// first I/O; `nil` when no record is buffered. The caller holds one of
    /// ``recordsInProgress`` for it.
    ///
    /// Taking, starting and advancing happen under one lock, whoever calls (the consumer loop, or
    /// an attempt worker feeding itself): records of a partition are started in offset order, as
    /// the ledger requires, and enter their endpoint in that order, as an ordered endpoint
    /// requires. Records an earlier owner finished are finished here and skipped.
    func takeBuffered(at place: Place) -> Step? {
        intake.withLock { gaps -> Step? in
            while let record = dependencies.source.nextBuffered() {
                let started = ledger.start(record)
                switch consume started {
                case .refused:
                    continue
                case .alreadyDone(let ticket):
                    // An earlier owner finished it (progress topic): nothing to do again.
                    ticket.finish()
                    metrics.alreadyDone(topic: record.topic)
                case .work(let ticket):
                    if machineConfiguration.topics.delay(ofRetryTopic: record.topic) != nil,
                        let last = gaps.skipped(before: record.offset, in: record.topicPartition, generation: ticket.generation)
                    {
                        logger.error("Offset gap on a delay topic: records were skipped", metadata: [
                            "kafka.partition": "\(record.topicPartition)", "kafka.offset": "\(record.offset)", "kafka.last_offset": "\(last)",
                        ])
                    }
                    return advance(begin(record, ticket: ticket), at: place)
                }
            }
            return nil
        }
    }

    /// An attempt worker's life: it makes the attempts handed to it and, while nothing else is
    /// queued, feeds itself from the source's buffer — the place among the records in progress
    /// of a record it settled goes to its next record — so that at full speed records reach an
    /// attempt without a hop between threads (each a wake-up: 5 % of the relay's CPU, by `perf`).
    /// At most ``recordsTakenPerTurn`` in a row, then the worker asks the pool again.
    func runAttemptWorker() async {
        // The worker's cancellation cuts its attempt short (the HTTP client, given an attempt's
        // cancellation, does not watch the task's): one handler for the worker's life.
        await withTaskCancellationHandler {
            await runAttemptWorkerLoop()
        } onCancel: {
            onTheWire.cutShortAll()
        }
    }

    private func runAttemptWorkerLoop() async {
        while let flight = await attemptWorkers.next() {
            var holdsPlace = await drive(flight, at: .attemptWorker)
            var taken = 0
            while taken < Self.recordsTakenPerTurn, !attemptWorkers.hasQueued, holdsPlace || recordsInProgress.tryAcquire() {
                holdsPlace = true
                guard let step = takeBuffered(at: .attemptWorker) else { break }
                taken += 1
                holdsPlace = await drive(step, at: .attemptWorker)
            }
            if holdsPlace { recordsInProgress.release() }
        }
    }

    /// Records an attempt worker takes from the buffer in a row before it asks its pool again.
    static let recordsTakenPerTurn = 64

    /// What became of a record when its actions that need no I/O were performed.
    enum Step: ~Copyable {
        /// It waits somewhere (parked, for a time) or went to another worker.
        case handedOff
        /// It settled. At an attempt worker, its place among the records in progress is the
        /// worker's now (for its next record); elsewhere it was given back.
        case settled
        /// Its next action is I/O to be made here: an attempt at an attempt worker, a write at a
        /// write worker.
        case io(RecordFlight)
    }

    /// Performs the record's actions until it settles or goes somewhere to wait; returns whether
    /// it settled at an attempt worker (which then holds its place among the records in progress).
    @discardableResult
    func drive(_ flight: consuming RecordFlight, at place: Place) async -> Bool {
        await drive(advance(flight, at: place), at: place)
    }

    private func drive(_ step: consuming Step, at place: Place) async -> Bool {
        var step = step
        while true {
            switch consume step {
            case .handedOff:
                return false
            case .settled:
                return place == .attemptWorker
            case .io(var flight):
                switch flight.next {
                case .attempt(let admission, let number): flight.next = await attempt(&flight, admission, number: number)
                case .write(let write): flight.next = await perform(write, for: &flight)
                default: break  // (``advance(_:at:)`` hands back only those two)
                }
                step = advance(flight, at: place)
            }
        }
    }

    /// Performs the record's actions that need no I/O, until it settles, goes somewhere to wait,
    /// or needs an attempt or a write, which it gets here only at a worker of that kind (else it
    /// is handed to one).
    private func advance(_ flight: consuming RecordFlight, at place: Place) -> Step {
        var flight = flight
        while true {
            switch flight.next {
            case .waitUntilDue(let due):
                guard var refused = waitUntilDue(flight, due) else { return .handedOff }
                refused.next = refused.machine.revoked()
                flight = refused
            case .findEndpoint(let id):
                let found = registry.lookup(id, partition: flight.record.partition)
                flight.runtime = found.runtime
                flight.next = flight.machine.endpointFound(found.answer, now: clock.wallMilliseconds)
            case .enter(let reserved, let waited):
                // A record coming back from its endpoint's parking finds out whether its partition is going.
                guard !reserved || flight.ticket.isCurrent, let runtime = flight.runtime else {
                    flight.next = flight.machine.revoked()
                    continue
                }
                let source = dependencies.source, wall = clock.wallMilliseconds
                let entry = runtime.enter(
                    flight, now: clock.monotonicMilliseconds, wall: wall, reserved: reserved, waited: waited, pause: { source.pause([$0]) }
                )
                switch consume entry {
                case .parked:
                    return .handedOff
                case .partitionGoing(let back):
                    flight = back
                    flight.next = flight.machine.revoked()
                case .retired(let back):
                    flight = back
                    flight.runtime = nil
                    flight.next = flight.machine.endpointChanged()
                case .decided(let decided, let decision, let resumed):
                    flight = decided
                    dispatch(resumed)
                    if case .deferred = decision { metrics.rateLimitWait(flight.machine.endpointID) }
                    flight.next = flight.machine.admitted(decision, now: wall)
                }
            case .attempt:
                guard case .attemptWorker = place else {
                    attemptWorkers.submit(flight)
                    return .handedOff
                }
                return .io(flight)
            case .report(let admission, let report):
                if let runtime = flight.runtime {
                    let reported = runtime.report(admission, report, now: clock.monotonicMilliseconds)
                    announce(disabled: reported.disabled, circuit: reported.circuit, endpointID: flight.machine.endpointID)
                    dispatch(reported.resumed)
                }
                flight.next = flight.machine.reported(now: clock.wallMilliseconds)
            case .wait(let duration):
                // Handed back when its partition is going.
                guard var refused = timers.schedule(flight, at: clock.monotonicMilliseconds + duration.wholeMilliseconds) else {
                    return .handedOff
                }
                refused.next = refused.machine.revoked()
                flight = refused
            case .write:
                guard case .writeWorker = place else {
                    writeWorkers.submit(flight)
                    return .handedOff
                }
                return .io(flight)
            case .finish(let tally):
                settle(flight, finished: true, tally, keepingPlace: place == .attemptWorker)
                return .settled
            case .abandon(let tally):
                settle(flight, finished: false, tally, keepingPlace: place == .attemptWorker)
                return .settled
            }
        }
    }

    /// Writes a hop or dead letter; returns the machine's next action.
    private func perform(_ write: DeliveryAction.Write, for flight: inout RecordFlight) async -> DeliveryAction {
        note(write, of: flight)
        let record = write.withoutBody
            ? write.state.withoutBody(of: flight.record, to: write.topic, webhookID: write.webhookID)
            : write.state.hop(of: flight.record, to: write.topic, webhookID: write.webhookID)
        let (outcome, stored) = await writer.write(record, for: flight.ticket, from: flight.topicPartition)
        if write.deadLetterReason == .exhausted, let stored, let operational = dependencies.operational {
            var data: [String: OperationalEvent.Detail] = [
                "message_id": .text(flight.machine.delivery?.webhookID ?? write.webhookID ?? ""), "attempts": .number(Int64(write.state.attempts)),
                "dlq_topic": .text(write.topic), "dlq_id": .text("\(stored.partition)-\(stored.offset)"),
            ]
            if let status = write.state.lastStatus { data["last_status"] = .number(Int64(status)) }
            operational.report(OperationalEvent(.attemptExhausted, endpointID: flight.machine.endpointID, at: clock.wallMilliseconds, data: data))
        }
        return flight.machine.written(outcome, now: clock.wallMilliseconds)
    }

    /// Logs and tells the operator that an endpoint was disabled here (it answered `410`, or failed
    /// for `auto_disable_after`), or that its circuit opened or closed again; nothing to do for most reports.
    private func announce(disabled: EndpointAdmission.Disabling?, circuit: EndpointRuntime.CircuitChange?, endpointID: String) {
        switch disabled {
        case .gone?:
            logger.warning("Endpoint answered 410 Gone: disabled on this replica until it is changed or reloaded",
                           metadata: ["endpoint.id": "\(endpointID)"])
        case .failing(let since)?:
            logger.warning("Endpoint failed every attempt for auto_disable_after: disabled on this replica until it is changed or reloaded",
                           metadata: ["endpoint.id": "\(endpointID)", "endpoint.failing_since": "\(since)"])
        case nil:
            break
        }
        guard let operational = dependencies.operational, disabled != nil || circuit != nil else { return }
        let now = clock.wallMilliseconds
        switch disabled {
        case .gone?:
            operational.report(OperationalEvent(.endpointDisabled, endpointID: endpointID, at: now, data: ["reason": .text("gone"), "status": .number(410)]))
        case .failing(let since)?:
            operational.report(OperationalEvent(
                .endpointDisabled, endpointID: endpointID, at: now, data: ["reason": .text("failing"), "failing_since": .number(since)]
            ))
        case nil:
            break
        }
        switch circuit {
        case .opened: operational.report(OperationalEvent(.circuitOpened, endpointID: endpointID, at: now))
        case .recovered: operational.report(OperationalEvent(.recovered, endpointID: endpointID, at: now))
        case nil: break
        }
    }

    /// Hands parked records an endpoint resumed back to the attempt workers, ahead of new work:
    /// each enters again with the slot reserved for it (and is attempted by the same worker).
    func dispatch(_ resumed: consuming ParkedRecords) {
        if !resumed.resume.isEmpty { dependencies.source.resume(resumed.resume) }
        while var flight = resumed.next() {
            flight.next = flight.machine.resumed()
            attemptWorkers.resume(flight)
        }
    }

    /// Hands records parked by an endpoint's replaced state back to the attempt workers: each
    /// looks its endpoint up again (it may be changed, disabled or deleted now).
    func requeue(_ parked: consuming ParkedRecords) {
        if !parked.resume.isEmpty { dependencies.source.resume(parked.resume) }
        while var flight = parked.next() {
            flight.next = flight.machine.endpointChanged()
            attemptWorkers.resume(flight)
        }
    }

    /// Settles a record: its ticket is finished or abandoned, what became of it is counted, and
    /// its place among the records in progress is given back (or kept for the caller's next record).
    private func settle(_ flight: consuming RecordFlight, finished: Bool, _ tally: DeliveryAction.Tally, keepingPlace: Bool) {
        count(tally, flight: flight)
        if finished { flight.finish() } else { flight.abandon() }
        if !keepingPlace { recordsInProgress.release() }
    }
}
