import CRdKafka
import Logging

/// The one object librdkafka's opaque pointer refers to (`rd_kafka_conf_set_opaque`), shared by
/// every C callback of a client. It is retained while the `rd_kafka_t` lives and released only
/// after `rd_kafka_destroy` has returned.
final class RDKafkaClientContext: Sendable {
    typealias RebalanceCallback = @Sendable (
        _ handle: OpaquePointer,
        _ event: rd_kafka_resp_err_t,
        _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    ) -> Void

    let logger: Logger
    let rebalance: RebalanceCallback?

    init(logger: Logger, rebalance: RebalanceCallback? = nil) {
        self.logger = logger
        self.rebalance = rebalance
    }

    /// Installs the log and error callbacks and this context as the opaque on `conf`.
    /// Returns the retained pointer, to be released with ``release(_:)`` after `rd_kafka_destroy`.
    func install(on conf: OpaquePointer) -> UnsafeMutableRawPointer {
        let opaque = Unmanaged.passRetained(self).toOpaque()
        rd_kafka_conf_set_opaque(conf, opaque)
        rd_kafka_conf_set_log_cb(conf, rdKafkaLogCallback)
        rd_kafka_conf_set_error_cb(conf, rdKafkaErrorCallback)
        if rebalance != nil {
            rd_kafka_conf_set_rebalance_cb(conf, rdKafkaRebalanceCallback)
        }
        return opaque
    }

    static func release(_ opaque: UnsafeMutableRawPointer) {
        Unmanaged<RDKafkaClientContext>.fromOpaque(opaque).release()
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> RDKafkaClientContext? {
        guard let opaque else { return nil }
        return Unmanaged<RDKafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}

private func rdKafkaLogCallback(
    handle: OpaquePointer?, level: Int32, facility: UnsafePointer<CChar>?, text: UnsafePointer<CChar>?
) {
    guard let handle, let context = RDKafkaClientContext.from(rd_kafka_opaque(handle)) else { return }
    let facilityString = facility.map { String(cString: $0) } ?? ""
    let message = text.map { String(cString: $0) } ?? ""
    context.logger.log(
        level: Logger.Level(syslogLevel: level),
        "\(message)",
        metadata: ["rdkafka.facility": "\(facilityString)"],
        source: "librdkafka"
    )
}

private func rdKafkaErrorCallback(
    handle: OpaquePointer?, code: Int32, reason: UnsafePointer<CChar>?, opaque: UnsafeMutableRawPointer?
) {
    guard let context = RDKafkaClientContext.from(opaque) else { return }
    let error = rd_kafka_resp_err_t(rawValue: code)
    let name = String(cString: rd_kafka_err2name(error))
    let text = reason.map { String(cString: $0) } ?? ""
    // Broker transport errors are retried by librdkafka and are common while brokers restart.
    let level: Logger.Level = error == RD_KAFKA_RESP_ERR__FATAL ? .critical : .warning
    context.logger.log(level: level, "librdkafka error: \(text)", metadata: ["kafka.error": "\(name)"])
}

private func rdKafkaRebalanceCallback(
    handle: OpaquePointer?,
    event: rd_kafka_resp_err_t,
    partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
    opaque: UnsafeMutableRawPointer?
) {
    guard let handle, let partitions, let context = RDKafkaClientContext.from(opaque),
        let rebalance = context.rebalance
    else { return }
    rebalance(handle, event, partitions)
}
