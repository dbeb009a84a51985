import Kafka

/// What becomes of one event of the events topic: pure, decided from the record, the
/// subscriptions and the clock; ``EventFanOutStage`` writes it in a transaction.
enum FanOutDecision: Sendable {
    /// One delivery record per subscribed endpoint, keyed by endpoint on the deliveries topic.
    case deliver([KafkaProducerRecord])
    /// No endpoint is subscribed: counted, nothing written.
    case noSubscriber
    /// The event cannot be delivered (it breaks the contract, or its deliveries would be larger
    /// than a record may be): it goes to the dead-letter topic with its reason.
    case deadLetter(KafkaProducerRecord, DeadLetterReason)

    /// The records to write.
    var records: [KafkaProducerRecord] {
        switch self {
        case .deliver(let deliveries): deliveries
        case .noSubscriber: []
        case .deadLetter(let record, _): [record]
        }
    }

    /// Decides about `record`.
    /// - Parameters:
    ///   - recordLimit: the largest record the relay writes (``RecordSizeLimits/recordLimit``).
    ///   - subscribers: the endpoint ids subscribed to an event.
    static func decide(
        _ record: KafkaConsumerRecord, bodyLimit: Int, recordLimit: Int, topics: RelayTopics, now: Int64,
        subscribers: (EventRecord) -> [String]
    ) -> FanOutDecision {
        switch EventRecord.decode(record, bodyLimit: bodyLimit) {
        case .failure(let defect):
            return deadLetter(record, defect, topics: topics, now: now, recordLimit: recordLimit)
        case .success(let event):
            let endpoints = subscribers(event)
            guard let longest = endpoints.max(by: { $0.utf8.count < $1.utf8.count }) else { return .noSubscriber }
            let deliveries = deliveries(of: record, event: event, to: endpoints, topic: topics.deliveries)
            // Every delivery has the same body and headers: the one with the longest key is the largest.
            if let largest = deliveries.first(where: { $0.key?.count == longest.utf8.count }), size(of: largest) > recordLimit {
                let defect = DeliveryRecordDefect(
                    reason: .payloadTooLarge,
                    detail: "a delivery of this event would be \(size(of: largest)) bytes with its headers, the record limit is \(recordLimit)"
                )
                return deadLetter(record, defect, topics: topics, now: now, recordLimit: recordLimit)
            }
            return .deliver(deliveries)
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

    /// The event's dead letter, with its origin on the events topic; without its body when the
    /// whole would be larger than a record may be.
    private static func deadLetter(
        _ record: KafkaConsumerRecord, _ defect: DeliveryRecordDefect, topics: RelayTopics, now: Int64, recordLimit: Int
    ) -> FanOutDecision {
        var state = HopState()
        state.origin = DeliveryRecord.Origin(topic: record.topic, partition: record.partition, offset: record.offset)
        state.deadLetterReason = defect.reason.rawValue
        state.lastError = defect.detail
        state.diedAt = now
        let whole = state.hop(of: record, to: topics.deadLetters, webhookID: nil)
        if size(of: whole) <= recordLimit { return .deadLetter(whole, defect.reason) }
        state.bodyOmitted = record.value.count
        return .deadLetter(state.withoutBody(of: record, to: topics.deadLetters, webhookID: nil), defect.reason)
    }

    /// A record's size as a broker counts it against `message.max.bytes`, roughly: key, value,
    /// headers and a per-record overhead.
    static func size(of record: KafkaProducerRecord) -> Int {
        (record.key?.count ?? 0) + record.value.count + record.headers.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.count ?? 0) + 8 } + 64
    }
}
