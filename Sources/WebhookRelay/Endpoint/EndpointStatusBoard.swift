import Foundation
import Kafka
import Logging
import Synchronization

/// Endpoint status shared between replicas: circuits, rate limits and health live on the replica
/// that owns an endpoint's partition, which publishes a snapshot of each endpoint it knows on
/// `<prefix>.endpoint-status` (compacted, key = endpoint id) when it changes, at most every second;
/// every replica reads the topic, so that any replica's management API can answer for any endpoint.
///
/// A snapshot is JSON: `circuit`, `health_score`, `in_flight`, `waiting`, `last_status`,
/// `last_error` (at most 256 characters), `last_success_at`, `last_failure_at`, `failing_since`
/// (epoch ms), `disabled_reason`, `reported_by` (the replica) and `reported_at`. A replica that
/// takes an endpoint over continues its run of failures from `failing_since` (`auto_disable_after`).
final class EndpointStatusBoard: Sendable {
    private struct State {
        /// The latest snapshot read of each endpoint.
        var read: [String: [UInt8]] = [:]
        /// What this replica published last for each endpoint (without its time).
        var published: [String: [UInt8]] = [:]
    }

    let topic: String
    private let reader: KafkaConsumer
    private let reporter: String
    private let logger: Logger
    private let state = Mutex(State())

    init(topic: String, partitions: Int, consumerConfiguration: KafkaConsumerConfiguration, reporter: String, logger: Logger) throws(KafkaError) {
        self.topic = topic
        self.reporter = reporter
        self.logger = logger
        reader = try KafkaConsumer.wholeTopicReader(
            topic, partitions: partitions, consumerConfiguration: consumerConfiguration, role: "status-reader", logger: logger
        )
    }

    /// Reads snapshots until ``close()``.
    func run() async {
        for await record in reader.records {
            guard let id = record.key.flatMap({ String(validating: $0, as: UTF8.self) }) else { continue }
            state.withLock { $0.read[id] = record.isTombstone ? nil : record.value }
        }
    }

    func close() async {
        try? await reader.close(timeout: .seconds(5))
    }

    /// The latest snapshot of an endpoint, from whichever replica owned it.
    func snapshot(_ id: String) -> [UInt8]? {
        state.withLock { $0.read[id] }
    }

    /// Publishes the snapshots that changed since this replica last published them, all at once;
    /// returns when Kafka has answered for each (at most the producer's message timeout). One
    /// Kafka refused is published again by the next call.
    func publish(_ snapshots: [String: EndpointRuntime.Snapshot], producer: KafkaProducer, now: Int64) async {
        var changed: [(String, [UInt8])] = []
        for (id, snapshot) in snapshots {
            let fields = Self.fields(snapshot)
            guard let comparable = try? EndpointDocument.encode(fields) else { continue }
            let isNew = state.withLock { state -> Bool in
                guard state.published[id] != comparable else { return false }
                state.published[id] = comparable
                return true
            }
            guard isNew else { continue }
            var stamped = fields
            stamped["reported_by"] = reporter
            stamped["reported_at"] = now
            if let value = try? EndpointDocument.encode(stamped) { changed.append((id, value)) }
        }
        await withDiscardingTaskGroup { group in
            for (id, value) in changed {
                group.addTask {
                    do throws(KafkaError) {
                        _ = try await producer.send(KafkaProducerRecord(topic: self.topic, key: Array(id.utf8), value: value))
                    } catch {
                        self.state.withLock { _ = $0.published.removeValue(forKey: id) }
                        self.logger.debug("Endpoint status not published", metadata: ["endpoint.id": "\(id)", "kafka.error": "\(error.name)"])
                    }
                }
            }
        }
    }

    /// A snapshot's fields (without who reported it and when).
    static func fields(_ snapshot: EndpointRuntime.Snapshot) -> [String: Any] {
        [
            "circuit": snapshot.circuit.name, "health_score": snapshot.healthScore, "in_flight": snapshot.inFlight,
            "waiting": snapshot.waiting, "last_status": snapshot.lastStatus ?? NSNull(), "last_error": snapshot.lastError ?? NSNull(),
            "last_success_at": snapshot.lastSuccessAt ?? NSNull(), "last_failure_at": snapshot.lastFailureAt ?? NSNull(),
            "disabled_reason": snapshot.disabledReason ?? NSNull(), "failing_since": snapshot.failingSince ?? NSNull(),
        ]
    }

    /// When the endpoint began failing every attempt, as the replica that owned it last published.
    func failingSince(_ id: String) -> Int64? {
        guard let snapshot = snapshot(id), let fields = EndpointDocument.fields(snapshot) else { return nil }
        return (fields["failing_since"] as? NSNumber)?.int64Value
    }
}
