import Kafka
import Logging

/// Publishes ``OperationalEvent``s on `<prefix>.operational` without holding up whoever reports
/// them: ``report(_:)`` queues (at most ``capacity``; beyond, an event is dropped, logged and
/// counted), ``run(producer:)`` writes them in order, retrying while Kafka refuses.
final class OperationalLog: Sendable {
    /// Events queued at most.
    static let capacity = 10_000

    private let topic: String
    private let logger: Logger
    private let metrics: RelayMetrics
    private let stream: AsyncStream<OperationalEvent>
    private let continuation: AsyncStream<OperationalEvent>.Continuation

    init(topic: String, metrics: RelayMetrics, logger: Logger) {
        self.topic = topic
        self.metrics = metrics
        self.logger = logger
        (stream, continuation) = AsyncStream.makeStream(of: OperationalEvent.self, bufferingPolicy: .bufferingOldest(Self.capacity))
    }

    /// Queues an event.
    func report(_ event: OperationalEvent) {
        if case .dropped = continuation.yield(event) {
            metrics.operationalEvent(event.kind, dropped: true)
            logger.warning("Operational event dropped: the queue is full", metadata: [
                "relay.event": "\(event.kind.rawValue)", "endpoint.id": "\(EndpointsFile.shown(event.endpointID))",
            ])
        }
    }

    /// Writes queued events until the task is cancelled (call once).
    func run(producer: KafkaProducer) async {
        for await event in stream {
            var backoff = Duration.milliseconds(100)
            while !Task.isCancelled {
                do {
                    _ = try await producer.send(event.record(topic: topic))
                    metrics.operationalEvent(event.kind, dropped: false)
                    break
                } catch {
                    logger.warning("Writing an operational event failed; retrying", metadata: [
                        "relay.event": "\(event.kind.rawValue)", "kafka.error": "\(error)",
                    ])
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(5))
                }
            }
            if Task.isCancelled { return }
        }
    }
}
