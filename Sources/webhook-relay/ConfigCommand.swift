import ArgumentParser
import Foundation
import Kafka
import WebhookRelay

/// `webhook-relay config check`: validate the configuration without running.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with the relay's configuration.",
        subcommands: [Check.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the settings and the endpoints file, and print the effective settings with secrets masked.",
            discussion: """
                Takes the same flags as `run`. Precedence: command-line flag, then environment \
                variable (WEBHOOK_RELAY_<SETTING>), then the --config file, then the default. \
                Exits 0 when everything is valid, with a message naming the problem otherwise.
                """
        )

        @OptionGroup var options: RunOptions
        @OptionGroup var logging: LoggingOptions

        func run() async throws {
            let settings = try options.resolve()
            var endpoints: [Endpoint] = []
            if let path = settings.endpointsPath {
                do {
                    endpoints = try EndpointsFile.load(path: path)
                } catch {
                    throw ValidationError(error.message)
                }
            }
            let relay = settings.relay
            var lines: [(String, String)] = [
                ("brokers", relay.bootstrapServers),
                ("group", relay.groupID),
                ("group_instance_id", relay.groupInstanceID ?? "(dynamic membership)"),
                ("operational_endpoint", relay.operationalEndpoint ?? "(none: operational events stay on the topic)"),
                ("topic_prefix", relay.topics.prefix),
                ("topics", relay.topics.all.joined(separator: ", ")),
                ("retry_schedule", relay.topics.schedule.description),
                ("retry_jitter", String(relay.retryJitter)),
                ("max_in_flight", String(relay.maxInFlight)),
                ("body_limit", String(relay.bodyLimit)),
                ("drain_timeout", DurationText.format(relay.drainTimeout)),
                ("rebalance_drain_timeout", DurationText.format(relay.rebalanceDrainTimeout)),
                ("allow_network", relay.http.addressPolicy.allowedNetworks.map(\.description).joined(separator: ", ")),
                ("allow_private_network", String(relay.http.addressPolicy.allowPrivateNetwork)),
                ("ca_file", relay.http.trustedCertificatesFile ?? "(system trust roots only)"),
                ("admin", settings.admin.map { "\($0.host):\($0.port)" } ?? "off"),
                ("endpoints", settings.endpointsPath ?? "registry \(relay.topics.endpoints)"),
                ("registry_key", settings.keyring.map { "keys \($0.keys.map(\.id).joined(separator: ", ")) (masked)" } ?? "(none)"),
            ]
            for (key, value) in relay.kafkaProperties.sorted(by: { $0.key < $1.key }) {
                lines.append(("kafka." + key, KafkaPropertyNames.isSensitive(key) ? "****" : value))
            }
            for (key, value) in lines { Console.line("\(key): \(value)") }
            if settings.endpointsPath != nil { Console.line("endpoints (\(endpoints.count)):") }
            for endpoint in endpoints {
                var details = ["scheme \(endpoint.scheme.rawValue)", "secrets masked", "timeout \(DurationText.format(endpoint.timeout))",
                               endpoint.policy.ordered ? "ordered" : "max_in_flight \(endpoint.maxInFlight)"]
                if let rate = endpoint.policy.rateLimit { details.append("rate_limit \(rate)") }
                if endpoint.policy.permanent4xx { details.append("permanent_4xx") }
                if !endpoint.events.isEmpty { details.append("events \(endpoint.events.map(\.description).joined(separator: ","))") }
                Console.line("  \(endpoint.id): \(Self.redactedURL(endpoint.url))  (\(details.joined(separator: ", ")))")
            }
            Console.line("configuration is valid")
        }


        /// A URL without user information (`https://user:pass@host` → `https://****@host`).
        static func redactedURL(_ url: String) -> String {
            guard var components = URLComponents(string: url), components.user != nil || components.password != nil else { return url }
            components.user = "****"
            components.password = nil
            return components.string ?? "****"
        }
    }
}
