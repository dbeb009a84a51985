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
/// version, if any); one sealed with a key this replica does not have stops the start instead:
/// every later record of that endpoint would be dead-lettered otherwise.
final class EndpointCatalog: Sendable {
    private struct State {
        /// The next offset to read of each partition.
        var positions: [Int32: Int64] = [:]
        /// Changes read before the catalog caught up, applied together then.
        var pending: [String: Change] = [:]
        var caughtUp = false
        /// Why the start must stop (a document this replica cannot open).
        var fatal: String?
        var endpoints = 0
        var rejected = 0
        /// The current document of each endpoint (for answers, and to read again at a deadline).
        var documents: [String: [UInt8]] = [:]
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
            let change = decode(record)
            let applyNow = state.withLock { state -> Bool in
                state.positions[record.partition] = record.offset + 1
                guard let change, let id = record.key.flatMap({ String(validating: $0, as: UTF8.self) }) else { return false }
                guard state.caughtUp else {
                    state.pending[id] = change
                    return false
                }
                return true
            }
            if applyNow, let change, let id = record.key.flatMap({ String(validating: $0, as: UTF8.self) }) {
                apply(change, to: id)
                logger.info("Endpoint changed in the registry", metadata: [
                    "endpoint.id": "\(EndpointsFile.shown(id))", "relay.change": "\(change.name)",
                ])
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
                state.fatal != nil || marks.allSatisfy { partition, mark in mark.high <= max(mark.low, state.positions[partition.partition] ?? 0) }
            }
        }
        let (pending, fatal) = state.withLock { state -> ([String: Change], String?) in
            if state.fatal == nil && reached { state.caughtUp = true }
            defer { state.pending = [:] }
            return (state.pending, state.fatal)
        }
        if let fatal { throw ConfigurationError(fatal) }
        guard reached else {
            throw ConfigurationError("the endpoint registry \(topic) was not read to its end within \(DurationText.format(timeout))")
        }
        for (id, change) in pending { apply(change, to: id) }
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

    private func apply(_ change: Change, to id: String) {
        let parked: ParkedRecords
        switch change {
        case .put(let entry, let document):
            parked = registry.put(entry.endpoint, disabledReason: entry.disabledReason)
            state.withLock { state in
                state.documents[id] = document
                state.deadlines[id] = entry.changesAt
            }
        case .delete:
            parked = registry.delete(id)
            state.withLock { state in
                state.documents[id] = nil
                state.deadlines[id] = nil
            }
        }
        state.withLock { $0.endpoints = registry.count }
        deadlineChanged.wakeAll()
        handBack(parked)
    }

    /// Reads documents again as their retiring secrets' deadlines pass.
    private func followDeadlines() async {
        while !Task.isCancelled {
            let seen = deadlineChanged.generation
            let now = WallClock.nowMilliseconds
            let (due, next) = state.withLock { state -> ([(String, [UInt8])], Int64?) in
                let due = state.deadlines.filter { $0.value <= now }.keys.compactMap { id in state.documents[id].map { (id, $0) } }
                for (id, _) in due { state.deadlines[id] = nil }
                return (due, state.deadlines.values.min())
            }
            for (id, document) in due {
                guard let entry = try? EndpointDocument.decode(document, key: id, keyring: keyring, environment: environment, now: now) else { continue }
                apply(.put(entry, document: document), to: id)
                logger.info("A retiring secret's grace period ended: it signs no more", metadata: ["endpoint.id": "\(EndpointsFile.shown(id))"])
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

    /// The change a record makes, or `nil` for one that cannot be used (logged).
    private func decode(_ record: KafkaConsumerRecord) -> Change? {
        guard let keyBytes = record.key, let id = String(validating: keyBytes, as: UTF8.self), !id.isEmpty else {
            reject(record, id: "?", "the record has no UTF-8 key (the endpoint id)")
            return nil
        }
        if record.isTombstone { return .delete }
        if let missing = EndpointDocument.missingKey(record.value, keyring: keyring) {
            let problem = "endpoint '\(EndpointsFile.shown(id))' in the registry has a secret sealed with \(missing), "
                + "so this replica could not sign its deliveries: give it that key (--registry-key)"
            // Before the start completes, it stops the start; later, the endpoint keeps its last version.
            let stop = state.withLock { state -> Bool in
                guard !state.caughtUp else { return false }
                state.fatal = state.fatal ?? problem
                return true
            }
            if !stop { reject(record, id: id, problem) }
            return nil
        }
        do {
            let entry = try EndpointDocument.decode(record.value, key: id, keyring: keyring, environment: environment, now: WallClock.nowMilliseconds)
            return .put(entry, document: record.value)
        } catch {
            reject(record, id: id, error.message)
            return nil
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
