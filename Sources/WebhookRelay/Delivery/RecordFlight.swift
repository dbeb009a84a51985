import Kafka

/// A record on its way through the relay: the record, its delivery's state machine, the next
/// action, the runtime of the endpoint that admitted it, and its ticket.
///
/// Non-copyable like its ticket: it is in exactly one place at a time — the consumer loop, a
/// worker's queue, its endpoint's parking, the timers — and moves between them. Settling it
/// consumes it.
struct RecordFlight: ~Copyable, Sendable {
    let record: KafkaConsumerRecord
    var machine: DeliveryStateMachine
    /// What the executor does next.
    var next: DeliveryAction
    /// The runtime of its endpoint, once found: the one that admits, parks and hears results.
    var runtime: EndpointRuntime?
    let ticket: RecordTicket

    init(record: KafkaConsumerRecord, machine: DeliveryStateMachine, next: DeliveryAction, ticket: consuming RecordTicket) {
        self.record = record
        self.machine = machine
        self.next = next
        self.ticket = ticket
    }

    var topicPartition: KafkaTopicPartition { record.topicPartition }

    /// Finishes the record's ticket (``RecordTicket/finish()``).
    consuming func finish() { ticket.finish() }

    /// Abandons the record's ticket (``RecordTicket/abandon()``).
    consuming func abandon() { ticket.abandon() }
}
