import Kafka
import Logging

/// Writes hops and dead letters, retrying with backoff until the broker acknowledges the record,
/// refuses the record itself, or the partition it came from is no longer this replica's. Nothing
/// is written for a partition this replica no longer owns: its next owner decides about the record.
struct RecordWriter: Sendable {
    let sink: any RecordSink
    let logger: Logger

    /// The first and the longest wait between attempts to write.
    static let backoff: (first: Duration, longest: Duration) = (.milliseconds(100), .seconds(5))

    /// Writes `record`; with ``WriteOutcome/written``, where the broker stored it.
    func write(
        _ record: KafkaProducerRecord, for ticket: borrowing RecordTicket, from topicPartition: KafkaTopicPartition
    ) async -> (outcome: WriteOutcome, stored: KafkaDeliveryReport?) {
        var backoff = Self.backoff.first
        while ticket.isOwned {
            do {
                let stored = try await sink.write(record)
                logger.trace("Forwarded", metadata: [
                    "kafka.topic": "\(record.topic)", "kafka.from": "\(topicPartition)@\(ticket.offset)",
                ])
                return (.written, stored)
            } catch where error.isRecordRefused {
                return (.refused(error.name), nil)
            } catch {
                logger.warning("Producing to \(record.topic) failed; retrying", metadata: [
                    "kafka.error": "\(error)", "kafka.partition": "\(topicPartition)", "kafka.offset": "\(ticket.offset)",
                ])
                guard !Task.isCancelled else { return (.notOwned, nil) }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, Self.backoff.longest)
            }
        }
        return (.notOwned, nil)
    }
}
