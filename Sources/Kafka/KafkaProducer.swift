import CRdKafka
import Logging
import Synchronization

/// An acknowledged Kafka producer: ``send(_:)`` returns once the broker has stored the record
/// (or failed to), so the caller knows exactly what is durable.
///
/// Any number of sends may be in flight at once; each waits on a continuation resumed by
/// librdkafka's delivery report, which a dedicated poll thread serves. Close it with
/// ``close(timeout:)`` or use ``withProducer(configuration:logger:_:)``.
public final class KafkaProducer: Sendable {
    let client: RDKafkaClient
    let configuration: KafkaProducerConfiguration
    private let logger: Logger
    let lifecycle = ProducerLifecycle()
    private var pollStopped: OneShotSignal { lifecycle.pollStopped }

    /// Creates a producer and starts its poll thread.
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws(KafkaError) {
        self.configuration = configuration
        self.logger = logger
        let context = RDKafkaClientContext(logger: logger)
        let conf = try RDKafkaConfig.make(configuration.librdkafkaProperties)
        let opaque = context.install(on: conf)
        rd_kafka_conf_set_dr_msg_cb(conf, rdKafkaDeliveryReportCallback)
        let handle: OpaquePointer
        do {
            handle = try RDKafkaConfig.newClient(type: RD_KAFKA_PRODUCER, conf: conf)
        } catch {
            RDKafkaClientContext.release(opaque)
            throw error
        }
        self.client = RDKafkaClient(handle: handle, opaque: opaque)
        let client = self.client
        let lifecycle = self.lifecycle
        RDKafkaThread.start(name: "kafka-producer-poll") {
            // Delivery reports and errors are served here; the loop outlives `closing` until
            // the queue is empty so that every pending send is resumed.
            while !(lifecycle.closing.load(ordering: .acquiring) && rd_kafka_outq_len(client.handle) == 0) {
                rd_kafka_poll(client.handle, 100)
            }
            lifecycle.pollStopped.signal()
        }
    }

    deinit {
        // A producer dropped without close(): stop polling and free librdkafka's resources.
        if !pollStopped.isSignalled {
            lifecycle.closing.store(true, ordering: .releasing)
            rd_kafka_purge(client.handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        }
        let client = self.client
        let pollStopped = self.pollStopped
        RDKafkaThread.start(name: "kafka-producer-destroy") {
            while !pollStopped.isSignalled { rd_kafka_poll(client.handle, 10) }
            client.destroy()
        }
    }

    /// Runs `body` with a producer and closes it afterwards, flushing for at most `closeTimeout`.
    @discardableResult
    public static func withProducer<T>(
        configuration: KafkaProducerConfiguration,
        logger: Logger,
        closeTimeout: Duration = .seconds(10),
        _ body: (KafkaProducer) async throws -> T
    ) async throws -> T {
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        do {
            let result = try await body(producer)
            await producer.close(timeout: closeTimeout)
            return result
        } catch {
            await producer.close(timeout: closeTimeout)
            throw error
        }
    }

    /// Sends a record and returns where the broker stored it.
    ///
    /// Waits for room while librdkafka's local queue is full (at most
    /// ``KafkaProducerConfiguration/queueFullTimeout``), then for the delivery report.
    /// - Throws: ``KafkaError`` with librdkafka's code, e.g. `_MSG_TIMED_OUT` when the brokers
    ///   stayed unreachable for `message.timeout.ms`, or `_DESTROY` after ``close(timeout:)``.
    public func send(_ record: KafkaProducerRecord) async throws(KafkaError) -> KafkaDeliveryReport {
        let clock = ContinuousClock()
        let giveUp = clock.now.advanced(by: configuration.queueFullTimeout)
        while true {
            if lifecycle.closing.load(ordering: .acquiring) { throw KafkaError.closed("producer") }
            let outcome: DeliveryBox.Outcome = await withCheckedContinuation { continuation in
                let err = enqueue(record, box: DeliveryBox(continuation))
                if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    continuation.resume(returning: .rejected(err))
                }
            }
            switch outcome {
            case .delivered(let report):
                return report
            case .failed(let error):
                throw error
            case .rejected(let err) where err == RD_KAFKA_RESP_ERR__QUEUE_FULL && clock.now < giveUp:
                try? await Task.sleep(for: .milliseconds(2))
            case .rejected(let err):
                throw KafkaError(err)
            }
        }
    }

    /// Hands the record to librdkafka; on success the delivery report resumes `box`.
    func enqueue(_ record: KafkaProducerRecord, box: DeliveryBox?) -> rd_kafka_resp_err_t {
        let opaque = box.map { Unmanaged.passRetained($0).toOpaque() }
        let headers = RDKafkaMessage.makeHeaders(record.headers)
        let partition = record.partition ?? wr_rd_kafka_partition_unassigned
        // librdkafka takes a null pointer as a null value (a tombstone) and any other as a value,
        // even of length 0; an empty array may have either, so both cases are made explicit.
        let bytes: [UInt8]? = record.isTombstone ? nil : (record.value.isEmpty ? [0] : record.value)
        let err = withOptionalBytes(bytes) { value in
            withOptionalBytes(record.key) { key in
                wr_rd_kafka_produce(
                    client.handle, record.topic, partition,
                    key?.baseAddress, key?.count ?? 0,
                    value?.baseAddress, record.value.count,
                    headers, opaque
                )
            }
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            if let headers { rd_kafka_headers_destroy(headers) }
            if let opaque { Unmanaged<DeliveryBox>.fromOpaque(opaque).release() }
        }
        return err
    }

    /// Waits until every record sent so far has its delivery report, at most `timeout`.
    /// - Throws: a timeout ``KafkaError`` when records are still outstanding.
    public func flush(timeout: Duration) async throws(KafkaError) {
        let client = self.client
        let err = await RDKafkaThread.run(name: "kafka-producer-flush") {
            rd_kafka_flush(client.handle, Int32(clamping: timeout.milliseconds))
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
    }

    /// Number of records waiting for a delivery report (librdkafka's out-queue length).
    public var pendingCount: Int { Int(rd_kafka_outq_len(client.handle)) }

    /// Stops accepting sends, waits up to `timeout` for outstanding records, fails those that
    /// remain (their `send` throws a purge error), and releases librdkafka's resources.
    public func close(timeout: Duration) async {
        guard !lifecycle.closing.exchange(true, ordering: .acquiringAndReleasing) else {
            _ = await pollStopped.wait(timeout: timeout)
            return
        }
        do {
            try await flush(timeout: timeout)
        } catch {
            logger.warning(
                "Producer closing with undelivered records; failing them",
                metadata: ["kafka.pending": "\(pendingCount)"]
            )
            rd_kafka_purge(client.handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        }
        _ = await pollStopped.wait()
    }
}

/// Whether a producer is closing, and when its poll thread has stopped; shared with that thread.
final class ProducerLifecycle: Sendable {
    let closing = Atomic<Bool>(false)
    let pollStopped = OneShotSignal()
}

/// Calls `body` with the bytes of `bytes`, or with `nil`.
private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}

/// One send waiting for its delivery report. Its pointer is the message's opaque.
final class DeliveryBox: Sendable {
    enum Outcome: Sendable {
        case delivered(KafkaDeliveryReport)
        case failed(KafkaError)
        case rejected(rd_kafka_resp_err_t)
    }

    /// Resumed exactly once: by the delivery report, or by `send` when the produce call failed
    /// (then librdkafka never saw the box).
    let continuation: CheckedContinuation<Outcome, Never>

    init(_ continuation: CheckedContinuation<Outcome, Never>) {
        self.continuation = continuation
    }
}

private func rdKafkaDeliveryReportCallback(
    handle: OpaquePointer?, message: UnsafePointer<rd_kafka_message_t>?, opaque: UnsafeMutableRawPointer?
) {
    guard let message, let boxPointer = message.pointee._private else { return }
    let box = Unmanaged<DeliveryBox>.fromOpaque(boxPointer).takeRetainedValue()
    let m = message.pointee
    let outcome: DeliveryBox.Outcome =
        m.err == RD_KAFKA_RESP_ERR_NO_ERROR
        ? .delivered(KafkaDeliveryReport(partition: m.partition, offset: m.offset))
        : .failed(KafkaError(m.err))
    box.continuation.resume(returning: outcome)
}

extension KafkaProducer {
    /// The number of partitions of each topic as the brokers report it; a topic that does not
    /// exist is missing from the result.
    public func partitionCounts(of topics: [String], timeout: Duration = .seconds(10)) async throws(KafkaError) -> [String: Int] {
        try await RDKafkaMetadata.partitionCounts(client: client, topics: topics, timeout: timeout)
    }
}

extension KafkaProducer {
    /// Creates topics through the brokers' admin API (CreateTopics). A topic that exists already is
    /// reported as such and left unchanged. The embedded broker does not support this request.
    public func createTopics(_ topics: [KafkaNewTopic], timeout: Duration = .seconds(30)) async throws(KafkaError) -> [String: KafkaTopicCreation] {
        try await RDKafkaAdmin.createTopics(client: client, topics: topics, timeout: timeout)
    }
}

extension KafkaProducer {
    /// Configuration entries of topics (DescribeConfigs), only those in `names`: the effective
    /// values, broker defaults included. A topic the brokers report an error for is missing from
    /// the result. The embedded broker does not support this request (it throws).
    public func topicConfigs(_ topics: [String], names: Set<String>, timeout: Duration = .seconds(10)) async throws(KafkaError) -> [String: [String: String]] {
        try await RDKafkaAdmin.topicConfigs(client: client, topics: topics, names: names, timeout: timeout)
    }
}
