import Kafka

/// The gauges the relay samples every second while it consumes.
extension RelayService {
    /// Samples the gauges: attempts in flight, the producer's queue, each endpoint's health and
    /// circuit, each owned partition's lag.
    func sampleGauges(consumer: KafkaConsumer, producer: KafkaProducer, ledger: OffsetLedger, executor: DeliveryExecutor) {
        metrics.attemptsInFlight(executor.onTheWire.count)
        metrics.producerQueueDepth(producer.pendingCount)
        metrics.internalLatency(executor.latency.lastWindow())
        for (id, snapshot) in registry.snapshots {
            metrics.endpoint(id, healthScore: snapshot.healthScore, circuit: snapshot.circuit)
        }
        for (topicPartition, doneUpTo) in ledger.progress {
            guard let high = consumer.cachedHighWatermark(topicPartition), let doneUpTo else { continue }
            metrics.consumerLag(topic: topicPartition.topic, partition: topicPartition.partition, lag: max(0, high - doneUpTo))
        }
    }
}
