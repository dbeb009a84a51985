import Kafka
import Logging

/// Runs deliveries: feeds each record's ``DeliveryStateMachine`` its events and performs the
/// ``DeliveryAction``s it returns, over the record source, the record sink (the producer), the
/// transport (HTTP) and a clock. Thin on purpose: every decision is the machine's, the endpoint
/// admission's or a policy's; this type only does what they decide, where it may be done.
///
/// Where actions run: the consumer loop, the timers and code that resumes parked records
/// *dispatch* (they never wait for I/O: an attempt goes to the attempt workers, a write to the
/// write workers). Attempts run on NIO's event loops, which read their sockets only when they
/// have no task left, so Kafka work must not run there — except the write that follows a failed
/// attempt, which an attempt worker makes itself. Waits go to ``DeliveryTimers``; parked records
/// to their endpoint's runtime. A record is settled exactly once, by its ``RecordTicket``.
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
        /// The consumer loop, the timers, a resumer: nothing that waits for I/O.
        case dispatcher
        /// An attempt worker (an event loop): attempts, and the write after a failed one.
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
    /// HTTP attempts in flight across all endpoints.
    let attemptSlots: AsyncSemaphore
    /// Records between the consumer loop and their settling.
    let recordsInProgress: AsyncSemaphore
    /// The attempts on the wire, so that those of partitions let go can be cut short.
    let onTheWire = InFlightAttempts()
    let attemptWorkers: WorkerPool<RecordFlight>
    let writeWorkers: WorkerPool<RecordFlight>
    let timers: DeliveryTimers

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
        attemptSlots = AsyncSemaphore(permits: limits.attemptsInFlight)
        recordsInProgress = AsyncSemaphore(permits: limits.recordsInProgress)
        attemptWorkers = WorkerPool(workers: limits.attemptWorkers)
        writeWorkers = WorkerPool(workers: limits.writeWorkers)
        timers = DeliveryTimers(clock: dependencies.clock)
    }

    var clock: any RelayClock { dependencies.clock }

    /// Starts a record the consumer loop read (it holds one of ``recordsInProgress``, given back
    /// when the record settles).
    func start(_ record: KafkaConsumerRecord, ticket: consuming RecordTicket) async {
        let tier = machineConfiguration.topics.delay(ofRetryTopic: record.topic)
        let decoded = DeliveryRecord.decode(record, bodyLimit: bodyLimit, trustingRelayHeaders: tier != nil)
        var machine = DeliveryStateMachine(record: record, decoded: decoded, tier: tier, configuration: machineConfiguration)
        let next = machine.start(now: clock.wallMilliseconds)
        await drive(RecordFlight(record: record, machine: machine, next: next, ticket: ticket), at: .dispatcher)
    }

    /// Performs the record's actions until it settles or goes somewhere to wait.
    func drive(_ flight: consuming RecordFlight, at place: Place) async {
        var flight = flight
        while true {
            switch flight.next {
            case .waitUntilDue(let due):
                guard var refused = waitUntilDue(flight, due) else { return }
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
                    return
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
            case .attempt(let admission, let number):
                guard case .attemptWorker = place else {
                    attemptWorkers.submit(flight)
                    return
                }
                flight.next = await attempt(&flight, admission, number: number)
            case .report(let admission, let report):
                if let runtime = flight.runtime {
                    let reported = runtime.report(admission, report, now: clock.monotonicMilliseconds)
                    announce(disabled: reported.disabled, circuit: reported.circuit, endpointID: flight.machine.endpointID)
                    dispatch(reported.resumed)
                }
                flight.next = flight.machine.reported(now: clock.wallMilliseconds)
            case .wait(let duration):
                // Handed back when its partition is going.
                guard var refused = timers.schedule(flight, at: clock.monotonicMilliseconds + duration.wholeMilliseconds) else { return }
                refused.next = refused.machine.revoked()
                flight = refused
            case .write(let write):
                guard place != .dispatcher else {
                    writeWorkers.submit(flight)
                    return
                }
                flight.next = await perform(write, for: &flight)
            case .finish(let tally):
                settle(flight, finished: true, tally)
                return
            case .abandon(let tally):
                settle(flight, finished: false, tally)
                return
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

    /// Hands parked records an endpoint resumed back to the workers, ahead of new work: each
    /// enters again with the slot reserved for it.
    func dispatch(_ resumed: consuming ParkedRecords) {
        if !resumed.resume.isEmpty { dependencies.source.resume(resumed.resume) }
        while var flight = resumed.next() {
            flight.next = flight.machine.resumed()
            writeWorkers.resume(flight)
        }
    }

    /// Hands records parked by an endpoint's replaced state back to the workers: each looks its
    /// endpoint up again (it may be changed, disabled or deleted now).
    func requeue(_ parked: consuming ParkedRecords) {
        if !parked.resume.isEmpty { dependencies.source.resume(parked.resume) }
        while var flight = parked.next() {
            flight.next = flight.machine.endpointChanged()
            writeWorkers.resume(flight)
        }
    }

    /// Settles a record: its ticket is finished or abandoned, what became of it is counted, and
    /// its place among the records in progress is given back.
    private func settle(_ flight: consuming RecordFlight, finished: Bool, _ tally: DeliveryAction.Tally) {
        count(tally, flight: flight)
        if finished { flight.finish() } else { flight.abandon() }
        recordsInProgress.release()
    }
}
