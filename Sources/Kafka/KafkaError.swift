import CRdKafka

/// An error reported by librdkafka or by this wrapper, carrying librdkafka's code and text.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// librdkafka's `rd_kafka_resp_err_t` value (negative values are local errors, positive ones
    /// come from the broker), or ``KafkaError/configurationCode`` for a rejected property.
    public let code: Int32
    /// librdkafka's symbolic name of the code, e.g. `_MSG_TIMED_OUT` or `NOT_LEADER_FOR_PARTITION`.
    public let name: String
    /// A human-readable explanation.
    public let message: String

    /// From a transactional call: trying the call again may succeed.
    public private(set) var isRetriable = false
    /// From a transactional call: the transaction must be aborted
    /// (``KafkaProducer/abortTransaction(timeout:)``); the producer remains usable.
    public private(set) var requiresAbort = false
    /// From a transactional call: the producer cannot go on (e.g. fenced by a newer producer
    /// with its `transactional.id`); only a new producer can.
    public private(set) var isFatal = false

    /// The code used for configuration errors (no librdkafka code exists for them).
    public static let configurationCode: Int32 = Int32.min

    /// Creates an error from a code, name and message.
    public init(code: Int32, name: String, message: String) {
        self.code = code
        self.name = name
        self.message = message
    }

    init(_ err: rd_kafka_resp_err_t, message: String? = nil) {
        self.code = err.rawValue
        self.name = String(cString: rd_kafka_err2name(err))
        self.message = message ?? String(cString: rd_kafka_err2str(err))
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer) {
        let err = rd_kafka_error_code(error)
        self.code = err.rawValue
        self.name = String(cString: rd_kafka_error_name(error))
        self.message = String(cString: rd_kafka_error_string(error))
        self.isRetriable = rd_kafka_error_is_retriable(error) != 0
        self.requiresAbort = rd_kafka_error_txn_requires_abort(error) != 0
        self.isFatal = rd_kafka_error_is_fatal(error) != 0
        rd_kafka_error_destroy(error)
    }

    /// A property was rejected by librdkafka.
    static func configuration(_ message: String) -> KafkaError {
        KafkaError(code: configurationCode, name: "CONFIGURATION", message: message)
    }

    /// The partition is not assigned to this consumer (any more): storing its offset is refused.
    public var isNotAssigned: Bool { code == RD_KAFKA_RESP_ERR__STATE.rawValue }

    /// The record itself is refused, by librdkafka before sending or by the broker: too large
    /// (`MSG_SIZE_TOO_LARGE`, `RECORD_LIST_TOO_LARGE`) or invalid for the topic (`INVALID_RECORD`).
    /// Sending it again cannot succeed.
    public var isRecordRefused: Bool {
        code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE.rawValue || code == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE.rawValue
            || code == RD_KAFKA_RESP_ERR_INVALID_RECORD.rawValue
    }

    /// A message could not be delivered within `message.timeout.ms`.
    public var isMessageTimeout: Bool { code == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT.rawValue }

    /// A blocking call did not finish within its deadline.
    public var isTimeout: Bool { code == RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue }

    /// The operation was abandoned because the client is closing.
    public var isPurged: Bool {
        code == RD_KAFKA_RESP_ERR__PURGE_QUEUE.rawValue || code == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT.rawValue
    }

    /// The broker error code with this name (`NOT_LEADER_OR_FOLLOWER`, `REQUEST_TIMED_OUT`, …; case
    /// and a `RD_KAFKA_RESP_ERR_` prefix ignored) or number, as the mock cluster's fault injection takes it.
    public static func brokerErrorCode(named text: String) -> Int32? {
        if let number = Int32(text) { return number }
        var name = text.uppercased()
        if name.hasPrefix("RD_KAFKA_RESP_ERR_") { name.removeFirst("RD_KAFKA_RESP_ERR_".count) }
        for code in Int32(1)...Int32(RD_KAFKA_RESP_ERR_END_ALL.rawValue) {
            guard let cName = rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: code)) else { continue }
            if String(cString: cName) == name { return code }
        }
        return nil
    }

    public var description: String { "KafkaError(\(name)): \(message)" }

    static let timedOut = KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT)
    static func closed(_ what: String) -> KafkaError {
        KafkaError(RD_KAFKA_RESP_ERR__DESTROY, message: "\(what) is closed")
    }
}
