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

    func write(_ record: KafkaProducerRecord, for ticket: borrowing RecordTicket, from topicPartition: KafkaTopicPartition) async -> WriteOutcome {
        var backoff = Self.backoff.first
        while ticket.isOwned {
            do {
                try await sink.write(record)
                logger.trace("Forwarded", metadata: [
                    "kafka.topic": "\(record.topic)", "kafka.from": "\(topicPartition)@\(ticket.offset)",
                ])
                return .written
            } catch where error.isRecordRefused {
                return .refused(error.name)
            } catch {
                logger.warning("Producing to \(record.topic) failed; retrying", metadata: [
                    "kafka.error": "\(error)", "kafka.partition": "\(topicPartition)", "kafka.offset": "\(ticket.offset)",
                ])
                guard !Task.isCancelled else { return .notOwned }
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, Self.backoff.longest)
            }
        }
        return .notOwned
    }
}
