import ArgumentParser
import Foundation
import WebhookRelay

/// Flags shared by the commands that talk to the relay's topics. Every setting can also come from
/// an environment variable (`WEBHOOK_RELAY_<FLAG>`) or the `--config` file; see ``ConfigLayers``
/// for the precedence.
struct RelayOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A YAML config file with any of the settings (env: WEBHOOK_RELAY_CONFIG). Flags win over environment variables, which win over the file.", valueName: "path"))
    var config: String?

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

    func layers() throws -> ConfigLayers {
        try ConfigLayers.load(path: config)
    }

    /// The brokers, or a validation error naming the flag and the variable.
    func resolvedBrokers(required: Bool = true) throws -> String? {
        let value = try layers().string(brokers, "brokers")?.value
        if required && (value ?? "").isEmpty {
            throw ValidationError("--brokers is required (or set WEBHOOK_RELAY_BROKERS, or brokers in the config file)")
        }
        return value
    }

    func topics() throws -> RelayTopics {
        let layers = try layers()
        let prefix = layers.string(topicPrefix, "topic_prefix")?.value ?? "webhooks"
        var schedule = RetrySchedule.standard
        if let (text, source) = layers.string(retrySchedule, "retry_schedule") {
            do {
                schedule = try RetrySchedule(parsing: text)
            } catch {
                throw ValidationError("retry_schedule (\(source)): \(error.message)")
            }
        }
        do {
            return try RelayTopics(prefix: prefix, schedule: schedule)
        } catch {
            throw ValidationError("topic_prefix: \(error.message)")
        }
    }

    func kafkaProperties() throws -> [String: String] {
        try layers().kafkaProperties(kafka)
    }
}

/// Reads an optional value from the command line or the environment.
func environmentValue(_ flag: String?, _ variable: String) -> String? {
    flag ?? RelayOptions.environment[variable]
}
