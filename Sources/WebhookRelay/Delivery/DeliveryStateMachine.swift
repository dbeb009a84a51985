import Foundation
import Kafka

/// One record's delivery, from the moment it is read until its offset may be stored or it is left
/// to the partition's next owner: where it stands, and what happens next.
///
/// Every decision about a record is made here or in the pure policies it calls — ``DueTime``
/// (when a delay-topic record is due), ``EndpointAdmission`` (attempt, park, wait, go elsewhere),
/// ``AttemptVerdict`` (what an attempt's outcome means), ``RetryPlanner`` (which delay topic) and
/// ``HopState`` (what a hop or dead letter carries). ``DeliveryExecutor`` feeds it events and
/// performs the ``DeliveryAction`` each returns; it does no I/O and reads no clock (time comes
/// with the events), so each decision is tested without a broker or a network.
///
/// ```
/// start ─▶ waitUntilDue ─▶ findEndpoint ─▶ enter ─┬▶ attempt ─▶ report ─┬▶ finish (delivered)
///   │                          │                  ├▶ parked ─▶ resumed  ├▶ write hop ──▶ finish (retried)
///   └▶ write dead letter       └▶ finish (skipped) ├▶ wait (rate limit,  ├▶ write dead letter ─▶ finish
///                                                  │   ordered: circuit) └▶ ordered: wait ─▶ enter (retry in place)
///                                                  └▶ write hop (postponed) / dead letter (gone, circuit_open)
/// revoked (partition let go) in any waiting state ─▶ abandon
/// ```
///
/// An ordered endpoint's record never goes to a delay topic: a failed attempt the schedule would
/// retry waits the schedule's delay in memory, keeping its endpoint's turn (``InPlace``), and an
/// open circuit holds it in memory up to ``EndpointPolicy/circuitMaxAge``.
struct DeliveryStateMachine: Sendable {
    /// What the decisions need besides the record: one instance shared by every record.
    final class Configuration: Sendable {
        /// The delay topics and retry schedule.
        let planner: RetryPlanner
        /// The retry delays' jitter (a delay-topic record is never due later than its topic's
        /// delay with the most jitter).
        var retryJitter: Double { planner.jitter }
        var topics: RelayTopics { planner.topics }

        init(planner: RetryPlanner) {
            self.planner = planner
        }
    }

    /// Where the delivery stands.
    enum State: Sendable, Equatable {
        /// Read and decoded; nothing decided yet.
        case received
        /// Read from a delay topic before its due time.
        case waitingUntilDue
        /// Its endpoint is being looked up.
        case findingEndpoint
        /// Its endpoint is deciding about it.
        case entering
        /// Parked by its endpoint, at its in-flight cap, until a slot is reserved for it.
        case parked
        /// Waiting to enter its endpoint again: for its rate limit or (ordered) its open circuit.
        case waitingToEnter
        /// Ordered endpoint: its failed attempt waits the retry schedule's delay to be made again
        /// in place, keeping the endpoint's turn.
        case waitingToRetry
        /// Postponed in memory: there is no delay topic to postpone it to (schedule `none`).
        case postponedInMemory
        /// Admitted; its attempt is being made.
        case attempting(EndpointAdmission.Admission, number: Int)
        /// Admitted, and waiting for a file descriptor to make its attempt, keeping its slot.
        case waitingToAttempt(EndpointAdmission.Admission, number: Int)
        /// Its endpoint hears how the attempt ended; then this. (Indirect, like the next: they keep
        /// the machine, carried by every record in flight, small.)
        indirect case reporting(AfterReport)
        /// A hop or dead letter is being written.
        indirect case writing(DeliveryAction.Write)
        /// Its offset may be stored.
        case finished
        /// Left to the partition's next owner.
        case abandoned
    }

    /// What follows an attempt's report to its endpoint.
    enum AfterReport: Sendable, Equatable {
        /// The attempt's verdict, with what the hop or dead letter needs.
        case verdict(AttemptVerdict, AttemptOutcome, startedAt: Int64)
        /// Nothing more: the record is left to the next owner.
        case abandon(DeliveryAction.Tally)
    }

    let configuration: Configuration
    /// The record as decoded (read in place, field by field: copying it whole costs a reference
    /// count per field) or, for a record that could not be, why.
    let delivery: DeliveryRecord?
    let defect: DeliveryRecordDefect?
    /// The record's own coordinates (the origin of a record that has none in its headers).
    let coordinates: DeliveryRecord.Origin
    /// The endpoint id: the record's key (when it is UTF-8, for a record that could not be decoded).
    let keyText: String
    let bodySize: Int
    /// The delay of the delay topic it was read from; `nil` on the deliveries topic.
    let tier: Duration?
    /// Its endpoint, once found.
    private(set) var endpoint: SharedEndpoint?
    /// What happened to it in memory at an ordered endpoint: attempts retried in place, holds.
    /// Set only by its own transitions, like ``state``.
    var inPlace: InPlace?

    /// An ordered endpoint's record's history in memory, which a dead letter reports.
    struct InPlace: Sendable, Equatable {
        /// When it was first attempted or held here (wall-clock epoch milliseconds).
        var since: Int64
        /// Attempts made here (not yet in the record's headers).
        var attempts = 0
        var lastStatus: Int?
        var lastError: String?
    }
    /// Set only by its own transitions (this file and its `+Attempt` extension).
    var state: State = .received

    init(record: KafkaConsumerRecord, decoded: Result<DeliveryRecord, DeliveryRecordDefect>, tier: Duration?, configuration: Configuration) {
        self.configuration = configuration
        self.tier = tier
        coordinates = DeliveryRecord.Origin(topic: record.topic, partition: record.partition, offset: record.offset)
        bodySize = record.value.count
        switch decoded {
        case .success(let delivery):
            self.delivery = delivery
            defect = nil
            keyText = delivery.endpointID
        case .failure(let defect):
            delivery = nil
            self.defect = defect
            keyText = record.key.flatMap { String(validating: $0, as: UTF8.self) } ?? ""
        }
    }

    /// The endpoint id for counting and logs.
    var endpointID: String { endpoint?.id ?? keyText }

    /// The record was read (`now`: wall-clock epoch milliseconds). An invalid record dies at once;
    /// a delay-topic record waits until it is due; any other goes to its endpoint.
    mutating func start(now: Int64) -> DeliveryAction {
        guard case .received = state else { return unexpected("start") }
        if let defect {
            return deadLetter(defect.reason, lastError: defect.detail, lastStatus: nil, attempts: 0, now: now, cause: .invalidRecord(defect))
        }
        if let tier, let requested = delivery?.dueAtMilliseconds, requested > now {
            state = .waitingUntilDue
            return .waitUntilDue(DueTime(requested: requested, tier: tier, jitter: configuration.retryJitter, now: now))
        }
        return findEndpoint()
    }

    /// A delay-topic record's due time came while its partition is still owned.
    mutating func dueTimeReached() -> DeliveryAction {
        guard case .waitingUntilDue = state else { return unexpected("due time") }
        return findEndpoint()
    }

    private mutating func findEndpoint() -> DeliveryAction {
        state = .findingEndpoint
        return .findEndpoint(keyText)
    }

    /// The endpoint lookup's answer.
    mutating func endpointFound(_ answer: EndpointAnswer, now: Int64) -> DeliveryAction {
        guard case .findingEndpoint = state, let event = delivery?.event else { return unexpected("endpoint found") }
        switch answer {
        case .unknown:
            return deadLetter(
                .unknownEndpoint, lastError: "no endpoint '\(keyText)' is configured", lastStatus: nil, attempts: attempts, now: now,
                cause: .unknownEndpoint
            )
        case .deleted:
            return deadLetter(
                .endpointDeleted, lastError: "endpoint '\(keyText)' was deleted from the registry", lastStatus: lastStatus,
                attempts: attempts, now: now
            )
        case .disabled(let found, let reason):
            guard found.endpoint.accepts(event: event) else { return skipped() }
            return deadLetter(.endpointDisabled, lastError: reason, lastStatus: lastStatus, attempts: attempts, now: now)
        case .found(let found):
            endpoint = found
            guard found.endpoint.accepts(event: event) else { return skipped() }
            state = .entering
            return .enter(reserved: false, waited: false)
        }
    }

    private mutating func skipped() -> DeliveryAction {
        state = .finished
        return .finish(.skipped)
    }

    /// Its endpoint changed (registry, SIGHUP) while the record was parked by the old one, or
    /// before it entered the old one: it looks the endpoint up again.
    mutating func endpointChanged() -> DeliveryAction {
        switch state {
        case .parked, .entering: break
        default: return unexpected("endpoint changed")
        }
        endpoint = nil
        return findEndpoint()
    }

    /// The endpoint parked the record at its in-flight cap (it keeps the record meanwhile).
    mutating func parked() {
        guard case .entering = state else {
            _ = unexpected("parked")
            return
        }
        state = .parked
    }

    /// A slot was reserved for the parked record, or its partition is being let go: it enters again.
    mutating func resumed() -> DeliveryAction {
        guard case .parked = state else { return unexpected("resumed") }
        state = .entering
        return .enter(reserved: true, waited: false)
    }

    /// The endpoint's decision.
    mutating func admitted(_ decision: EndpointAdmission.Decision, now: Int64) -> DeliveryAction {
        guard case .entering = state, let policy = endpoint?.policy else { return unexpected("admitted") }
        switch decision {
        case .attempt(let admission):
            state = .attempting(admission, number: attempts + 1)
            return .attempt(admission, number: attempts + 1)
        case .park:
            // The endpoint's runtime parks the record itself, under its lock (``parked()``).
            return unexpected("park")
        case .rateLimited(let wait):
            state = .waitingToEnter
            return .wait(wait)
        case .disabled(let reason, let cause):
            let dead: DeadLetterReason = if case .failing = cause { .endpointDisabled } else { .gone }
            return deadLetter(dead, lastError: reason, lastStatus: lastStatus, attempts: attempts, now: now)
        case .circuitOpen(let wait):
            // Held back by an open circuit for longer than the endpoint allows (an ordered
            // endpoint's record is told so only then): it dies.
            if !mayHold(now: now) || policy.ordered {
                return deadLetter(.circuitOpen, lastError: lastError ?? "circuit open", lastStatus: lastStatus, attempts: attempts, now: now)
            }
            return postpone(wait: wait, now: now)
        case .hold(let wait):
            // Ordered: it waits in memory, keeping its endpoint's turn.
            if inPlace == nil { inPlace = InPlace(since: now) }
            state = .waitingToEnter
            return .wait(wait)
        case .deferred(let wait):
            return postpone(wait: wait, now: now)
        }
    }

    /// HTTP attempts made before this one: before the record was read, and in place.
    var attempts: Int { (delivery?.attempts ?? 0) + (inPlace?.attempts ?? 0) }
    /// The first attempt's time (or the first hold's), the last failure's status and error text.
    var firstAttemptAt: Int64? { delivery?.firstAttemptAtMilliseconds ?? inPlace?.since }
    var lastStatus: Int? { inPlace?.lastStatus ?? delivery?.lastStatus }
    var lastError: String? { inPlace?.lastError ?? delivery?.lastError }

    /// Whether an open circuit may still hold the record back (``EndpointPolicy/circuitMaxAge``
    /// since its first attempt or hold has not passed).
    func mayHold(now: Int64) -> Bool {
        guard let policy = endpoint?.policy else { return true }
        return now - (firstAttemptAt ?? now) <= policy.circuitMaxAge.wholeMilliseconds
    }

    /// An ordered endpoint admitted the record with settings changed since it was looked up (its
    /// runtime outlives changes): the attempt uses them.
    mutating func endpointUpdated(_ endpoint: SharedEndpoint) {
        guard case .entering = state else {
            _ = unexpected("endpoint updated")
            return
        }
        if self.endpoint !== endpoint { self.endpoint = endpoint }
    }

    /// Sends the record to the shortest delay topic that covers `wait`, without using an attempt;
    /// with no delay topics (schedule `none`) it waits in memory and looks for its endpoint again.
    private mutating func postpone(wait: Duration, now: Int64) -> DeliveryAction {
        guard let next = configuration.planner.fitting(wait) else {
            state = .postponedInMemory
            return .wait(wait)
        }
        var hop = HopState(
            delivery: delivery, attempts: attempts, firstAttemptAt: firstAttemptAt ?? now, lastStatus: lastStatus, lastError: lastError
        )
        hop.dueAt = now + next.wait.wholeMilliseconds
        return write(.hop(tier: next.tier, afterFailure: false), to: configuration.topics.retry(next.tier), hop, webhookID: delivery?.webhookID)
    }

    /// A timed wait ended: the rate limit's, an in-memory postponement's, or a descriptor's.
    mutating func timerFired(now: Int64) -> DeliveryAction {
        switch state {
        case .waitingToEnter:
            state = .entering
            return .enter(reserved: false, waited: true)
        case .waitingToRetry:
            state = .entering
            return .enter(reserved: true, waited: false)
        case .postponedInMemory:
            return findEndpoint()
        case .waitingToAttempt(let admission, let number):
            state = .attempting(admission, number: number)
            return .attempt(admission, number: number)
        default:
            return unexpected("timer")
        }
    }

    /// The record's partition is being let go before its work started or while it waits: it is
    /// left to the next owner. An admitted attempt that was not made is no result for the endpoint.
    mutating func revoked() -> DeliveryAction {
        switch state {
        case .attempting(let admission, _):
            state = .reporting(.abandon(.none))
            return .report(admission, .notMade)
        case .waitingToAttempt(let admission, _):
            // It had waited for a descriptor: the relay's attempt, cut short.
            state = .reporting(.abandon(.cutShort))
            return .report(admission, .notMade)
        case .received, .waitingUntilDue, .findingEndpoint, .entering, .parked, .waitingToEnter, .waitingToRetry, .postponedInMemory:
            state = .abandoned
            return .abandon(.none)
        case .reporting, .writing, .finished, .abandoned:
            return unexpected("revoked")
        }
    }

    /// An event the state does not expect is a defect of the executor: the record is left to the
    /// next owner (which repeats it at worst) rather than the relay stopping.
    mutating func unexpected(_ event: String) -> DeliveryAction {
        assertionFailure("delivery event '\(event)' in state \(state)")
        state = .abandoned
        return .abandon(.none)
    }
}
