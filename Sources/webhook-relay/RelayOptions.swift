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

    /// Loads the layers (reading the config file, once) and resolves the shared settings.
    func resolve(brokersRequired: Bool = true) throws -> ResolvedRelayOptions {
        let layers = try ConfigLayers.load(path: config)
        let brokers = layers.string(self.brokers, .brokers)?.value
        if brokersRequired && (brokers ?? "").isEmpty {
            throw ValidationError("--brokers is required (or set WEBHOOK_RELAY_BROKERS, or brokers in the config file)")
        }
        return ResolvedRelayOptions(
            layers: layers, brokers: brokers ?? "", topics: try topics(layers), kafkaProperties: try layers.kafkaProperties(kafka)
        )
    }

    private func topics(_ layers: ConfigLayers) throws -> RelayTopics {
        let prefix = layers.string(topicPrefix, .topicPrefix)?.value ?? "webhooks"
        var schedule = RetrySchedule.standard
        if let (text, source) = layers.string(retrySchedule, .retrySchedule) {
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
}

/// The settings every command that talks to the relay's topics needs, resolved once.
struct ResolvedRelayOptions {
    /// Where the other settings come from (the config file, read).
    var layers: ConfigLayers
    /// `host:port,...`; empty when not given and not required.
    var brokers: String
    var topics: RelayTopics
    var kafkaProperties: [String: String]
}

/// Reads an optional value from the command line or the environment.
func environmentValue(_ flag: String?, _ variable: String) -> String? {
    flag ?? RelayOptions.environment[variable]
}
