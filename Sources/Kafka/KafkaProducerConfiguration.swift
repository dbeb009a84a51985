/// Settings of a ``KafkaProducer``. Every field has a production default.
public struct KafkaProducerConfiguration: Sendable {
    /// Comma-separated `host:port` list of bootstrap brokers.
    public var bootstrapServers: String
    /// `client.id`, shown in broker logs and metrics.
    public var clientID: String = "webhook-relay"
    /// Idempotent producer (`enable.idempotence`): no duplicates or reordering from retries;
    /// implies `acks=all`.
    public var idempotent: Bool = true
    /// `acks` when not idempotent: `all`, `1` or `0`.
    public var acks: String = "all"
    /// How long librdkafka keeps trying to deliver a record before `send` fails
    /// (`message.timeout.ms`).
    public var messageTimeout: Duration = .seconds(60)
    /// How long a record may wait to be batched with others (`linger.ms`).
    public var linger: Duration = .milliseconds(5)
    /// How long `send` waits for room when librdkafka's local queue is full before failing.
    public var queueFullTimeout: Duration = .seconds(30)
    /// Makes the producer transactional (`transactional.id`): records are written in
    /// transactions (``KafkaProducer/beginTransaction()``) that commit or abort as a whole, with
    /// a consumer's offsets. A producer started later with the same id fences this one and
    /// aborts what it left open. Implies idempotence.
    public var transactionalID: String?
    /// How long a transaction may stay open before the broker aborts it
    /// (`transaction.timeout.ms`); `messageTimeout` is capped at it.
    public var transactionTimeout: Duration = .seconds(60)
    /// Any librdkafka property (`security.protocol`, `sasl.*`, `ssl.*`, …); applied last, so it
    /// overrides the fields above.
    public var properties: [String: String] = [:]

    /// Creates a configuration with defaults for everything but the brokers.
    public init(bootstrapServers: String) {
        self.bootstrapServers = bootstrapServers
    }

    /// The librdkafka properties this configuration stands for.
    var librdkafkaProperties: [(String, String)] {
        var result: [(String, String)] = [
            ("bootstrap.servers", bootstrapServers),
            ("client.id", clientID),
            ("enable.idempotence", idempotent ? "true" : "false"),
            ("message.timeout.ms", String(transactionalID == nil ? messageTimeout.milliseconds : min(messageTimeout, transactionTimeout).milliseconds)),
            ("linger.ms", String(linger.milliseconds)),
        ]
        if !idempotent { result.append(("acks", acks)) }
        if let transactionalID {
            result.append(("transactional.id", transactionalID))
            result.append(("transaction.timeout.ms", String(transactionTimeout.milliseconds)))
        }
        result.append(contentsOf: properties.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        return result
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, clamped to `Int.max`.
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return seconds < 0 ? Int.min : Int.max }
        return Int(clamping: ms + attoseconds / 1_000_000_000_000_000)
    }
}
