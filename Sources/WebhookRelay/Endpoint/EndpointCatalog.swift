import Foundation
import Kafka
import Logging
import Synchronization
import WebhookSignature

/// The endpoint registry topic (`<prefix>.endpoints`), read whole and kept up to date by every
/// replica that takes its endpoints from it.
///
/// It reads every partition from the beginning, with no consumer group. ``catchUp(timeout:)``
/// reads up to the topic's end as it is then and loads the endpoints into the
/// ``EndpointRegistry`` at once; after that each change is applied as it arrives (a document puts
/// the endpoint, a tombstone deletes it), without dropping in-flight work: attempts under way
/// finish with the settings they started with, and records parked by the old state look their
/// endpoint up again (``handBack``).
///
/// A document that cannot be used is logged and left out (the endpoint keeps its last good
/// version, if any); an endpoint whose latest record at start is sealed with a key this replica
/// does not have stops the start instead: every record of that endpoint would be dead-lettered
/// otherwise. Older records of it (an uncompacted topic keeps them) do not count.
final class EndpointCatalog: Sendable {
    private struct State {
        /// The next offset to read of each partition.
        var positions: [Int32: Int64] = [:]
        /// Changes read before the catalog caught up, applied together then.
        var pending: [String: Versioned] = [:]
        var caughtUp = false
        /// Why the start must stop, by endpoint: its latest record is sealed with a key this
        /// replica does not have. A later record of the endpoint clears it.
        var fatal: [String: String] = [:]
        var endpoints = 0
        var rejected = 0
        /// The current document of each endpoint (for answers, and to read again at a deadline).
        var documents: [String: [UInt8]] = [:]
        /// Where the record each endpoint's current state came from (deletions included): an
        /// endpoint's records are in one partition, in order, so a change read or decoded late never
        /// overwrites a newer one.
        var applied: [String: Position] = [:]
        /// When each endpoint's document must be read again (a retiring secret's deadline).
        var deadlines: [String: Int64] = [:]
    }

    private enum Change {
        case put(EndpointDocument.Entry, document: [UInt8])
        case delete

        var name: String {
            switch self {
            case .put(let entry, _): entry.disabledReason == nil ? "put" : "disabled"
            case .delete: "deleted"
            }
        }
    }

    /// Where a record is.
    private struct Position: Equatable {
        var partition: Int32
        var offset: Int64
        /// The record's timestamp (when the change was written).
        var writtenAt: Int64?

        /// Whether a record here comes after one at `earlier` of the same endpoint. A record in
        /// another partition (the topic's partitions were added to, moving the key) is newer: it
        /// was read later.
        init(_ record: KafkaConsumerRecord) {
            partition = record.partition
            offset = record.offset
            writtenAt = record.timestampMilliseconds
        }

        func follows(_ earlier: Position?) -> Bool {
            guard let earlier, earlier.partition == partition else { return true }
            return offset > earlier.offset
        }
    }

    /// A change and where its record is.
    private struct Versioned {
        var change: Change
        var position: Position
    }

    /// What a record says.
    private enum Read {
        case change(Change)
        /// Logged and left out.
        case rejected(String)
        /// Sealed with a key this replica lacks: stops the start, rejected later.
        case missingKey(String)
    }

    let topic: String
    private let reader: KafkaConsumer
    private let registry: EndpointRegistry
    private let keyring: SecretKeyring?
    private let environment: [String: String]
    private let handBack: @Sendable (consuming ParkedRecords) -> Void
    private let logger: Logger
    private let state = Mutex(State())
    private let readProgress = WakeSignal()
    /// Woken when a deadline may have moved earlier.
    private let deadlineChanged = WakeSignal()

    /// Starts reading `partitions` of `topic` from the beginning; call ``run()`` to consume them.
    init(
        topic: String, partitions: Int, consumerConfiguration: KafkaConsumerConfiguration, registry: EndpointRegistry,
        keyring: SecretKeyring?, environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger, handBack: @escaping @Sendable (consuming ParkedRecords) -> Void
    ) throws(KafkaError) {
        self.topic = topic
        self.registry = registry
        self.keyring = keyring
        self.environment = environment
        self.handBack = handBack
        self.logger = logger
        reader = try KafkaConsumer.wholeTopicReader(
            topic, partitions: partitions, consumerConfiguration: consumerConfiguration, role: "endpoints-reader", fetchBytes: 4 * 1_048_576,
            logger: logger
        )
    }

    /// Reads changes until ``close()``; documents are read again when a retiring secret's
    /// deadline passes, so that it stops signing.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.followDeadlines() }
            await readRecords()
            group.cancelAll()
        }
    }

    private func readRecords() async {
        for await record in reader.records {
            let id = record.key.flatMap { String(validating: $0, as: UTF8.self) }.flatMap { $0.isEmpty ? nil : $0 }
            let read: Read = id.map { decode(record, id: $0) } ?? .rejected("the record has no UTF-8 key (the endpoint id)")
            let applyNow = state.withLock { state -> Bool in
                state.positions[record.partition] = record.offset + 1
                guard let id, !state.caughtUp else { return state.caughtUp }
                // Before the start completes only an endpoint's latest record counts.
                state.fatal[id] = nil
                switch read {
                case .change(let change): state.pending[id] = Versioned(change: change, position: Position(record))
                case .missingKey(let problem): state.fatal[id] = problem
                case .rejected: break
                }
                return false
            }
            switch read {
            case .change(let change) where applyNow:
                if let id, apply(change, to: id, at: Position(record)) {
                    logger.info("Endpoint changed in the registry", metadata: [
                        "endpoint.id": "\(EndpointsFile.shown(id))", "relay.change": "\(change.name)",
                    ])
                }
            case .missingKey(let problem) where applyNow:
                reject(record, id: id ?? "?", problem)
            case .rejected(let reason):
                reject(record, id: id ?? "?", reason)
            case .change, .missingKey:
                break
            }
            readProgress.wakeAll()
        }
    }

    /// Reads the topic up to its end as it is now and loads what it holds into the registry.
    /// - Throws: ``ConfigurationError`` when a document is sealed with a key this replica lacks,
    ///   or the end is not reached within `timeout`.
    func catchUp(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let started = clock.now
        let partitions = state.withLock { _ in reader.assignment }
        let marks = try await reader.watermarks(Array(partitions), timeout: timeout)
        let reached = await readProgress.wait(until: started.advanced(by: timeout)) {
            !state.withLock { state in
                marks.allSatisfy { partition, mark in mark.high <= max(mark.low, state.positions[partition.partition] ?? 0) }
            }
        }
        let (pending, fatal) = state.withLock { state -> ([String: Versioned], String?) in
            let fatal = state.fatal.sorted { $0.key < $1.key }.first?.value
            if fatal == nil && reached { state.caughtUp = true }
            defer { state.pending = [:] }
            return (state.pending, fatal)
        }
        if let fatal { throw ConfigurationError(fatal) }
        guard reached else {
            throw ConfigurationError("the endpoint registry \(topic) was not read to its end within \(DurationText.format(timeout))")
        }
        for (id, versioned) in pending { apply(versioned.change, to: id, at: versioned.position) }
        let (endpoints, rejected) = state.withLock { ($0.endpoints, $0.rejected) }
        logger.notice("Endpoint registry read", metadata: [
            "relay.endpoints": "\(endpoints)", "relay.rejected": "\(rejected)",
            "relay.duration": "\(clock.now - started)", "kafka.topic": "\(topic)",
        ])
    }

    /// Whether the registry was read to the end it had at start.
    var isCaughtUp: Bool { state.withLock { $0.caughtUp } }

    /// Stops reading.
    func close() async {
        try? await reader.close(timeout: .seconds(5))
    }

    /// Applies a change read at `position` unless a newer one was applied; `again` applies the
    /// current document once more (a deadline passed). Returns whether it was applied.
    @discardableResult
    private func apply(_ change: Change, to id: String, at position: Position, again: Bool = false) -> Bool {
        var applied = false
        // The registry changes under the catalog's lock, so that changes apply in offset order.
        let parked = state.withLock { state -> ParkedRecords in
            let last = state.applied[id]
            guard again ? position == last : position.follows(last) else { return ParkedRecords() }
            applied = true
            state.applied[id] = position
            let parked: ParkedRecords
            switch change {
            case .put(let entry, let document):
                parked = registry.put(entry.endpoint, disabledReason: entry.disabledReason, changedAt: position.writtenAt)
                state.documents[id] = document
                state.deadlines[id] = entry.changesAt
            case .delete:
                parked = registry.delete(id)
                state.documents[id] = nil
                state.deadlines[id] = nil
            }
            state.endpoints = registry.count
            return parked
        }
        guard applied else { return false }
        deadlineChanged.wakeAll()
        handBack(parked)
        return true
    }

    /// Reads documents again as their retiring secrets' deadlines pass.
    private func followDeadlines() async {
        while !Task.isCancelled {
            let seen = deadlineChanged.generation
            let now = WallClock.nowMilliseconds
            let (due, next) = state.withLock { state -> ([(id: String, document: [UInt8], position: Position)], Int64?) in
                let due = state.deadlines.filter { $0.value <= now }.keys.compactMap { id -> (String, [UInt8], Position)? in
                    guard let document = state.documents[id], let position = state.applied[id] else { return nil }
                    return (id, document, position)
                }
                for (id, _, _) in due { state.deadlines[id] = nil }
                return (due, state.deadlines.values.min())
            }
            for (id, document, position) in due {
                do {
                    let entry = try EndpointDocument.decode(document, key: id, keyring: keyring, environment: environment, now: now)
                    if apply(.put(entry, document: document), to: id, at: position, again: true) {
                        logger.info("A retiring secret's grace period ended: it signs no more", metadata: ["endpoint.id": "\(EndpointsFile.shown(id))"])
                    }
                } catch {
                    // Read before, so what fails now is outside (a secret file): try again shortly.
                    logger.error("An endpoint's document could not be read again at a retiring secret's deadline; retrying in a minute", metadata: [
                        "endpoint.id": "\(EndpointsFile.shown(id))", "relay.reason": "\(error.message)",
                    ])
                    state.withLock { state in
                        if state.applied[id] == position, state.deadlines[id] == nil { state.deadlines[id] = now + 60_000 }
                    }
                }
            }
            let wait = next.map { Duration.milliseconds(max(1, $0 - WallClock.nowMilliseconds)) } ?? .seconds(3_600)
            await deadlineChanged.wait(after: seen, until: .now.advanced(by: wait))
        }
    }

    /// The current document of each endpoint (sealed secrets stay sealed).
    var documents: [String: [UInt8]] { state.withLock { $0.documents } }

    /// Waits until `condition` holds for the documents read, at most `timeout`; returns whether it did.
    func waitUntil(timeout: Duration, _ condition: @escaping ([String: [UInt8]]) -> Bool) async -> Bool {
        await readProgress.wait(until: .now.advanced(by: timeout)) { !state.withLock { condition($0.documents) } }
    }

    /// What a record of the endpoint `id` says.
    private func decode(_ record: KafkaConsumerRecord, id: String) -> Read {
        if record.isTombstone { return .change(.delete) }
        let now = WallClock.nowMilliseconds
        if let missing = EndpointDocument.missingKey(record.value, keyring: keyring, now: now) {
            return .missingKey(
                "endpoint '\(EndpointsFile.shown(id))' in the registry has a secret sealed with \(missing), "
                    + "so this replica could not sign its deliveries: give it that key (--registry-key)"
            )
        }
        do {
            return .change(.put(try EndpointDocument.decode(record.value, key: id, keyring: keyring, environment: environment, now: now), document: record.value))
        } catch {
            return .rejected(error.message)
        }
    }

    private func reject(_ record: KafkaConsumerRecord, id: String, _ reason: String) {
        state.withLock { $0.rejected += 1 }
        logger.error("Endpoint document in the registry rejected; the endpoint keeps its last good version, if any", metadata: [
            "endpoint.id": "\(EndpointsFile.shown(id))", "relay.reason": "\(reason)",
            "kafka.partition": "\(record.partition)", "kafka.offset": "\(record.offset)",
        ])
    }
}
