import ArgumentParser
import Foundation
import WebhookRelay

/// Flags shared by the commands that talk to the relay's topics. Every flag can also come from an
/// environment variable (`WEBHOOK_RELAY_<FLAG>`); a flag on the command line wins.
struct RelayOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Kafka bootstrap servers, HOST:PORT,... (env: WEBHOOK_RELAY_BROKERS).", valueName: "host:port,..."))
    var brokers: String?

    @Option(help: ArgumentHelp("Prefix of the relay's topics (env: WEBHOOK_RELAY_TOPIC_PREFIX; default webhooks).", valueName: "prefix"))
    var topicPrefix: String?

    @Option(help: ArgumentHelp(
        "Delays between attempts, e.g. 1s,5s,30s,5m (env: WEBHOOK_RELAY_RETRY_SCHEDULE; default 1s,5s,30s,5m,30m,2h,8h,24h).",
        valueName: "delays"))
    var retrySchedule: String?

    @Option(name: .customLong("kafka"), help: ArgumentHelp(
        "A librdkafka property for every Kafka client, e.g. security.protocol=SASL_SSL (repeatable; env: WEBHOOK_RELAY_KAFKA, comma-separated).",
        valueName: "key=value"))
    var kafka: [String] = []

    static let environment = ProcessInfo.processInfo.environment

    /// The brokers, or a validation error naming the flag and the variable.
    func resolvedBrokers(required: Bool = true) throws -> String? {
        let value = brokers ?? Self.environment["WEBHOOK_RELAY_BROKERS"]
        if required && (value ?? "").isEmpty {
            throw ValidationError("--brokers is required (or set WEBHOOK_RELAY_BROKERS)")
        }
        return value
    }

    func topics() throws -> RelayTopics {
        let prefix = topicPrefix ?? Self.environment["WEBHOOK_RELAY_TOPIC_PREFIX"] ?? "webhooks"
        var schedule = RetrySchedule.standard
        if let text = retrySchedule ?? Self.environment["WEBHOOK_RELAY_RETRY_SCHEDULE"] {
            do {
                schedule = try RetrySchedule(parsing: text)
            } catch {
                throw ValidationError("--retry-schedule: \(error.message)")
            }
        }
        do {
            return try RelayTopics(prefix: prefix, schedule: schedule)
        } catch {
            throw ValidationError("--topic-prefix: \(error.message)")
        }
    }

    func kafkaProperties() throws -> [String: String] {
        var entries = kafka
        if entries.isEmpty, let text = Self.environment["WEBHOOK_RELAY_KAFKA"] {
            entries = text.split(separator: ",").map(String.init)
        }
        var properties: [String: String] = [:]
        for entry in entries {
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                throw ValidationError("--kafka expects KEY=VALUE, got '\(entry.prefix(40))'")
            }
            properties[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        return properties
    }
}

/// Reads an optional value from the command line or the environment.
func environmentValue(_ flag: String?, _ variable: String) -> String? {
    flag ?? RelayOptions.environment[variable]
}
