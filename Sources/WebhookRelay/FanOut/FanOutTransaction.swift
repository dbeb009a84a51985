import Kafka

/// One fan-out transaction: records with the partition of the event they come from, and the
/// events whose last record is among them (their offsets commit with it).
struct FanOutTransaction: Sendable {
    /// An event whose records are all written once this transaction commits.
    struct Finished: Sendable {
        var source: KafkaTopicPartition
        /// The event's offset + 1.
        var next: Int64
        var decision: FanOutDecision
    }

    var records: [(source: KafkaTopicPartition, record: KafkaProducerRecord)] = []
    var bytes = 0
    var finished: [Finished] = []

    /// Cuts decided events into transactions of at most `maxRecords` records and `maxBytes`
    /// bytes (a larger record alone), in order; an event's offset goes with the transaction that
    /// holds its last record, so an event split over several commits only with the last.
    static func plan(_ events: [(event: KafkaConsumerRecord, decision: FanOutDecision)], maxRecords: Int, maxBytes: Int) -> [FanOutTransaction] {
        var transactions: [FanOutTransaction] = []
        var pending = FanOutTransaction()
        for (event, decision) in events {
            for record in decision.records {
                let size = FanOutDecision.size(of: record)
                if !pending.records.isEmpty && (pending.records.count >= maxRecords || pending.bytes + size > maxBytes) {
                    transactions.append(pending)
                    pending = FanOutTransaction()
                }
                pending.records.append((event.topicPartition, record))
                pending.bytes += size
            }
            pending.finished.append(Finished(source: event.topicPartition, next: event.offset + 1, decision: decision))
        }
        if !pending.records.isEmpty || !pending.finished.isEmpty { transactions.append(pending) }
        return transactions
    }

    /// The "done up to" offsets of its finished events, per partition, of those in `assigned`.
    func offsets(in assigned: Set<KafkaTopicPartition>) -> [KafkaTopicPartition: Int64] {
        var offsets: [KafkaTopicPartition: Int64] = [:]
        for event in finished where assigned.contains(event.source) {
            offsets[event.source] = max(offsets[event.source] ?? 0, event.next)
        }
        return offsets
    }
}
