import CRdKafka
import Logging
import Synchronization

/// A Kafka-protocol broker cluster inside this process: librdkafka's mock cluster.
///
/// For development and tests only: it keeps data in memory, each partition keeps at most 5 MiB or
/// 100,000 records (older data is dropped silently), and the first group join takes 3 s.
/// Consumer groups, offset commits, idempotent and transactional produce work; faults can be
/// injected with ``setBrokerDown(_:)``, ``setRoundTripTime(_:broker:)`` and
/// ``pushRequestErrors(_:_:)``.
public final class EmbeddedBroker: Sendable {
    /// Kafka request types, for ``pushRequestErrors(_:_:)``.
    public enum RequestType: Int16, Sendable, CaseIterable {
        case produce = 0
        case fetch = 1
        case listOffsets = 2
        case metadata = 3
        case offsetCommit = 8
        case offsetFetch = 9
        case findCoordinator = 10
        case joinGroup = 11
        case heartbeat = 12
        case leaveGroup = 13
        case syncGroup = 14
        case initProducerID = 22
        case addPartitionsToTransaction = 24
        case endTransaction = 26

        /// The name used on the command line, e.g. `produce` or `offset-commit`.
        public var name: String {
            if self == .initProducerID { return "init-producer-id" }
            return String(describing: self).reduce(into: "") { result, character in
                if character.isUppercase { result += "-" + character.lowercased() } else { result.append(character) }
            }
        }
    }

    private let owner: RDKafkaClient
    private let cluster: MockClusterHandle
    /// The broker ids, 1 through the number of brokers.
    public let brokerIDs: [Int32]
    /// `host:port,...` of the brokers, all on 127.0.0.1, for `bootstrap.servers`.
    public let bootstrapServers: String

    /// Starts a cluster of `brokers` brokers on 127.0.0.1 with random ports.
    public init(brokers: Int = 1, logger: Logger = Logger(label: "kafka.embedded-broker")) throws(KafkaError) {
        guard brokers >= 1 else { throw KafkaError.configuration("the embedded broker needs at least 1 broker, got \(brokers)") }
        let context = RDKafkaClientContext(logger: logger)
        // The owner handle never connects anywhere; keep its "no bootstrap.servers" notice quiet.
        let conf = try RDKafkaConfig.make([("log.connection.close", "false"), ("log_level", "4")])
        let opaque = context.install(on: conf)
        let handle: OpaquePointer
        do {
            handle = try RDKafkaConfig.newClient(type: RD_KAFKA_PRODUCER, conf: conf)
        } catch {
            RDKafkaClientContext.release(opaque)
            throw error
        }
        owner = RDKafkaClient(handle: handle, opaque: opaque)
        guard let mock = rd_kafka_mock_cluster_new(handle, Int32(brokers)) else {
            owner.destroy()
            throw KafkaError.configuration("rd_kafka_mock_cluster_new failed")
        }
        cluster = MockClusterHandle(mock)
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mock))
        brokerIDs = Array(1...Int32(brokers))
    }

    deinit {
        shutdown()
    }

    /// Runs `body` with a running broker and shuts it down afterwards.
    @discardableResult
    public static func withBroker<T>(
        brokers: Int = 1,
        topics: [String: Int] = [:],
        logger: Logger = Logger(label: "kafka.embedded-broker"),
        _ body: (EmbeddedBroker) async throws -> T
    ) async throws -> T {
        let broker = try EmbeddedBroker(brokers: brokers, logger: logger)
        defer { broker.shutdown() }
        for (topic, partitions) in topics.sorted(by: { $0.key < $1.key }) {
            try broker.createTopic(topic, partitions: partitions)
        }
        return try await body(broker)
    }

    /// Creates a topic. Topics that are not created get 4 partitions when first used.
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws(KafkaError) {
        guard partitions >= 1 else { throw KafkaError.configuration("topic '\(name)' needs at least 1 partition") }
        try cluster.with { mock throws(KafkaError) in
            let err = rd_kafka_mock_topic_create(mock, name, Int32(clamping: partitions), Int32(clamping: replicationFactor))
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err, message: "create topic '\(name)': \(String(cString: rd_kafka_err2str(err)))") }
        }
    }

    /// Takes a broker down: its connections are closed and new ones refused until ``setBrokerUp(_:)``.
    public func setBrokerDown(_ brokerID: Int32) throws(KafkaError) {
        try cluster.with { mock throws(KafkaError) in try check(rd_kafka_mock_broker_set_down(mock, brokerID)) }
    }

    /// Brings a broker back up.
    public func setBrokerUp(_ brokerID: Int32) throws(KafkaError) {
        try cluster.with { mock throws(KafkaError) in try check(rd_kafka_mock_broker_set_up(mock, brokerID)) }
    }

    /// Delays every response of a broker by `delay` (zero removes the delay).
    public func setRoundTripTime(_ delay: Duration, broker brokerID: Int32) throws(KafkaError) {
        try cluster.with { mock throws(KafkaError) in
            try check(rd_kafka_mock_broker_set_rtt(mock, brokerID, Int32(clamping: delay.milliseconds)))
        }
    }

    /// Makes the next requests of a type fail with the given Kafka error codes, one per request.
    public func pushRequestErrors(_ request: RequestType, _ errorCodes: [Int32]) {
        cluster.with { mock in
            let errors = errorCodes.map { rd_kafka_resp_err_t(rawValue: $0) }
            errors.withUnsafeBufferPointer { buffer in
                rd_kafka_mock_push_request_errors_array(mock, request.rawValue, buffer.count, buffer.baseAddress)
            }
        }
    }

    /// Forgets errors pushed with ``pushRequestErrors(_:_:)`` that were not used yet.
    public func clearRequestErrors(_ request: RequestType) {
        cluster.with { mock in rd_kafka_mock_clear_request_errors(mock, request.rawValue) }
    }

    /// Makes metadata for the topic report the error code (0 clears it).
    public func setTopicError(_ topic: String, errorCode: Int32) {
        cluster.with { mock in rd_kafka_mock_topic_set_error(mock, topic, rd_kafka_resp_err_t(rawValue: errorCode)) }
    }

    /// Stops the cluster. Further calls on it do nothing; clients connected to it see the brokers go away.
    public func shutdown() {
        if cluster.destroy() {
            // The cluster must be destroyed before the handle that owns it.
            owner.destroy()
        }
    }

    private func check(_ err: rd_kafka_resp_err_t) throws(KafkaError) {
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(err) }
    }
}

/// The mock cluster pointer, destroyed once; its functions are safe to call from any thread.
private final class MockClusterHandle: @unchecked Sendable {
    private let pointer: OpaquePointer
    private let alive = Mutex(true)

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }

    /// Runs `body` with the cluster while it is alive (holding the lock keeps it so).
    func with<E: Error>(_ body: (OpaquePointer) throws(E) -> Void) throws(E) {
        try alive.withLock { (alive: inout Bool) throws(E) -> Void in
            guard alive else { return }
            try body(pointer)
        }
    }

    /// Destroys the cluster; returns whether this call did it.
    func destroy() -> Bool {
        alive.withLock { alive in
            guard alive else { return false }
            alive = false
            rd_kafka_mock_cluster_destroy(pointer)
            return true
        }
    }
}
