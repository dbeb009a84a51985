import CRdKafka

/// Transactions (consume-transform-produce): a producer configured with a
/// ``KafkaProducerConfiguration/transactionalID`` writes records and a consumer's offsets in one
/// transaction, so that either all of them count or none does.
///
/// ```swift
/// try await producer.initTransactions(timeout: .seconds(30))   // once
/// try producer.beginTransaction()
/// try await producer.produce(record)                             // any number
/// try await producer.sendOffsetsToTransaction(next, group: membership, timeout: .seconds(30))
/// try await producer.commitTransaction(timeout: .seconds(30))   // or abortTransaction
/// ```
///
/// Errors say what may follow: ``KafkaError/requiresAbort`` (abort, then the producer goes on),
/// ``KafkaError/isFatal`` (only a new producer can go on), ``KafkaError/isRetriable``.
extension KafkaProducer {
    /// Registers the `transactional.id` with its coordinator: a transaction an earlier producer
    /// with that id left open is aborted, and that producer is fenced off. Call once, first.
    public func initTransactions(timeout: Duration) async throws(KafkaError) {
        let milliseconds = Int32(clamping: timeout.milliseconds)
        try await blockingTransactionCall("kafka-txn-init") { rd_kafka_init_transactions($0, milliseconds) }
    }

    /// Starts a transaction; every record produced until it commits or aborts belongs to it.
    public func beginTransaction() throws(KafkaError) {
        if let error = rd_kafka_begin_transaction(client.handle) { throw KafkaError(consuming: error) }
    }

    /// Hands a record to librdkafka without waiting for its delivery report (waiting for room
    /// while the local queue is full, at most ``KafkaProducerConfiguration/queueFullTimeout``).
    /// For transactions: ``commitTransaction(timeout:)`` waits for every such record and fails
    /// (``KafkaError/requiresAbort``) if one was not delivered.
    public func produce(_ record: KafkaProducerRecord) async throws(KafkaError) {
        let clock = ContinuousClock()
        let giveUp = clock.now.advanced(by: configuration.queueFullTimeout)
        while true {
            if lifecycle.closing.load(ordering: .acquiring) { throw KafkaError.closed("producer") }
            let err = enqueue(record, box: nil)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { return }
            guard err == RD_KAFKA_RESP_ERR__QUEUE_FULL, clock.now < giveUp else { throw KafkaError(err) }
            do {
                try await Task.sleep(for: .milliseconds(2))
            } catch {
                throw KafkaError(RD_KAFKA_RESP_ERR__QUEUE_FULL, message: "the local queue is full and the task was cancelled")
            }
        }
    }

    /// Adds a consumer's "done up to" offsets (the next offset to read, per partition) to the
    /// transaction: they are committed for the consumer's group if and only if it commits. The
    /// group's generation goes with them (``KafkaConsumer/groupMetadata()``, taken when the
    /// records were known to be the consumer's): if the consumer lost those partitions since,
    /// the broker refuses them and the transaction must be aborted.
    public func sendOffsetsToTransaction(
        _ offsets: [KafkaTopicPartition: Int64], group: KafkaGroupMetadata, timeout: Duration
    ) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let list = offsets.map { ($0.key, $0.value) }
        let milliseconds = Int32(clamping: timeout.milliseconds)
        try await blockingTransactionCall("kafka-txn-offsets") { handle in
            RDKafkaTopicPartitionList.with(list) { partitions in
                rd_kafka_send_offsets_to_transaction(handle, partitions, group.pointer, milliseconds)
            }
        }
    }

    /// Commits the transaction: waits for every record produced in it, then makes them and the
    /// offsets sent with it visible at once.
    public func commitTransaction(timeout: Duration) async throws(KafkaError) {
        let milliseconds = Int32(clamping: timeout.milliseconds)
        try await blockingTransactionCall("kafka-txn-commit") { rd_kafka_commit_transaction($0, milliseconds) }
    }

    /// Aborts the transaction: its records are never seen by `read_committed` consumers and its
    /// offsets are not committed.
    public func abortTransaction(timeout: Duration) async throws(KafkaError) {
        let milliseconds = Int32(clamping: timeout.milliseconds)
        try await blockingTransactionCall("kafka-txn-abort") { rd_kafka_abort_transaction($0, milliseconds) }
    }

    /// Runs a blocking transactional call on its own thread; a returned error is thrown.
    private func blockingTransactionCall(_ name: String, _ call: @escaping @Sendable (OpaquePointer) -> OpaquePointer?) async throws(KafkaError) {
        let client = self.client
        let failure: KafkaError? = await RDKafkaThread.run(name: name) {
            call(client.handle).map { KafkaError(consuming: $0) }
        }
        if let failure { throw failure }
    }
}

/// A consumer's group membership as it was when taken (member id, generation), for
/// ``KafkaProducer/sendOffsetsToTransaction(_:group:timeout:)``.
public final class KafkaGroupMetadata: @unchecked Sendable {
    // Unchecked: an opaque C handle, read by librdkafka only, destroyed once in deinit.
    let pointer: OpaquePointer

    init(pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        rd_kafka_consumer_group_metadata_destroy(pointer)
    }
}
