import Kafka

/// What becomes of one event of the events topic: pure, decided from the record, the
/// subscriptions and the clock; ``EventFanOutStage`` writes it in a transaction.
enum FanOutDecision: Sendable {
    /// One delivery record per subscribed endpoint, keyed by endpoint on the deliveries topic.
    case deliver([KafkaProducerRecord])
    /// No endpoint is subscribed: counted, nothing written.
    case noSubscriber
    /// The event breaks the contract: it goes to the dead-letter topic with its reason.
    case deadLetter(KafkaProducerRecord, DeadLetterReason)

    /// Decides about `record`.
    /// - Parameter subscribers: the endpoint ids subscribed to an event.
    static func decide(
        _ record: KafkaConsumerRecord, bodyLimit: Int, topics: RelayTopics, now: Int64, subscribers: (EventRecord) -> [String]
    ) -> FanOutDecision {
        switch EventRecord.decode(record, bodyLimit: bodyLimit) {
        case .failure(let defect):
            var state = HopState()
            state.origin = DeliveryRecord.Origin(topic: record.topic, partition: record.partition, offset: record.offset)
            state.deadLetterReason = defect.reason.rawValue
            state.lastError = defect.detail
            state.diedAt = now
            return .deadLetter(state.hop(of: record, to: topics.deadLetters, webhookID: nil), defect.reason)
        case .success(let event):
            let endpoints = subscribers(event)
            if endpoints.isEmpty { return .noSubscriber }
            return .deliver(deliveries(of: record, event: event, to: endpoints, topic: topics.deliveries))
        }
    }

    /// The deliveries of an event: its body and headers (without relay headers and
    /// `webhook-endpoints`, with `webhook-id` set to the event's id) under each endpoint's key;
    /// the partitioner places each by its key, as it places a producer's deliveries.
    static func deliveries(of record: KafkaConsumerRecord, event: EventRecord, to endpoints: [String], topic: String) -> [KafkaProducerRecord] {
        var headers = record.headers.filter {
            !RelayHeader.isRelayOwned($0.key) && $0.key != EventRecord.endpointsHeader && $0.key != RelayHeader.id
        }
        headers.append(KafkaHeader(key: RelayHeader.id, value: event.webhookID))
        return endpoints.map { KafkaProducerRecord(topic: topic, key: Array($0.utf8), value: record.value, headers: headers) }
    }
}
