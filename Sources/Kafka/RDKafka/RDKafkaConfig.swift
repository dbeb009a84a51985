import CRdKafka
import Logging

/// Builds an `rd_kafka_conf_t` from properties and creates the client handle from it.
enum RDKafkaConfig {
    /// Creates a configuration object with every property set, or throws naming the bad one.
    /// The caller owns the result until it is passed to `rd_kafka_new`.
    static func make(_ properties: [(String, String)]) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError.configuration("rd_kafka_conf_new failed")
        }
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            let result = rd_kafka_conf_set(conf, key, value, &errorText, errorText.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let text = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                // librdkafka quotes the value ("Invalid value \"…\" for configuration property"): a
                // credential must not reach an error message, so the value is cut out of it.
                let shown = value.isEmpty ? text : text.replacing(value, with: "****")
                throw KafkaError.configuration("property '\(key)': \(shown)")
            }
        }
        return conf
    }

    /// Creates the client. `conf` is consumed whether or not this succeeds.
    static func newClient(type: rd_kafka_type_t, conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
        var errorText = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            let text = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw KafkaError.configuration(text)
        }
        return handle
    }
}

extension Logger.Level {
    /// Maps a syslog level, as librdkafka logs with, to a swift-log level.
    init(syslogLevel: Int32) {
        switch syslogLevel {
        case ...2: self = .critical
        case 3: self = .error
        case 4: self = .warning
        case 5: self = .notice
        case 6: self = .info
        default: self = .debug
        }
    }
}
