import ArgumentParser
import Foundation
import WebhookRelay
import WebhookSignature

/// `webhook-relay endpoints …`: the endpoint registry (`<prefix>.endpoints`), written and read
/// directly on Kafka like `dlq`. Replicas started with `--endpoint-registry` apply each change live.
struct EndpointsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoints",
        abstract: "Manage the endpoint registry: list, show, add, update, rm, disable, enable, rotate-secret, import; registry keys.",
        discussion: """
            Secrets are never written in plaintext: a value given with --secret is sealed with the \
            registry key (--registry-key env:NAME|file:PATH, AES-256-GCM); env:NAME and file:PATH \
            references are kept and resolved on each replica. A generated secret is printed once.
            """,
        subcommands: [
            List.self, Show.self, Add.self, Update.self, Remove.self, Disable.self, Enable.self, RotateSecret.self, Import.self, Reseal.self, GenerateKey.self,
        ]
    )

    /// What every subcommand that talks to Kafka takes.
    struct Connection: ParsableArguments {
        @OptionGroup var relay: RelayOptions
        @Option(name: .customLong("registry-key"), help: ArgumentHelp(
            "Where the registry key is: env:NAME or file:PATH (repeatable; the first seals; env: WEBHOOK_RELAY_REGISTRY_KEY).",
            valueName: "env:NAME|file:PATH"))
        var registryKeys: [String] = []
        @OptionGroup var logging: LoggingOptions

        func open() throws -> (EndpointRegistryTopic, SecretKeyring?) {
            let resolved = try relay.resolve()
            let topic = EndpointRegistryTopic(
                bootstrapServers: resolved.brokers, topics: resolved.topics, properties: resolved.kafkaProperties,
                logger: logging.makeLogger(label: "webhook-relay.endpoints", layers: resolved.layers)
            )
            return (topic, try SecretSources.registryKeys(resolved.layers, flag: registryKeys))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registry's endpoints, by id.")
        @OptionGroup var connection: Connection
        @Option(help: "Only ids starting with this.") var prefix: String?
        @Flag(help: "Print JSON (an array of documents, secrets masked).") var json = false

        func run() async throws {
            let (topic, _) = try connection.open()
            let documents = try await topic.documents().filter { prefix.map($0.key.hasPrefix) ?? true }.sorted { $0.key < $1.key }
            let fields = documents.map { EndpointDocument.masked(EndpointDocument.fields($0.value) ?? ["id": $0.key]) }
            if json {
                Console.line(String(decoding: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .prettyPrinted]), as: UTF8.self))
                return
            }
            let rows = fields.map { field in
                [
                    field["id"] as? String ?? "?", field["url"] as? String ?? "?", field["scheme"] as? String ?? "standard",
                    (field["events"] as? [String])?.joined(separator: ",") ?? "*", field["disabled"] as? Bool == true ? "disabled" : "enabled",
                ]
            }
            Console.line(Table.render([["ID", "URL", "SCHEME", "EVENTS", "STATE"]] + rows))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one endpoint's document (sealed secrets masked).")
        @OptionGroup var connection: Connection
        @Argument(help: "The endpoint id.") var id: String

        func run() async throws {
            let (topic, _) = try connection.open()
            let fields = try await EndpointsCommand.current(id, in: topic)
            Console.line(try EndpointsCommand.pretty(EndpointDocument.masked(fields)))
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an endpoint (a new secret is generated and printed once when none is given)."
        )
        @OptionGroup var connection: Connection
        @Option(help: "The endpoint id (producers use it as the record key).") var id: String
        @OptionGroup var endpoint: EndpointFieldOptions

        func run() async throws {
            let (topic, keyring) = try connection.open()
            guard try await topic.documents()[id] == nil else {
                throw CommandFailure.usage("endpoint '\(EndpointsFile.shown(id))' exists already (use `endpoints update`)")
            }
            var options = endpoint
            if options.secrets.isEmpty { options.secrets = ["generate"] }
            var fields: [String: Any] = ["id": id]
            let generated = try options.apply(to: &fields, id: id, keyring: keyring)
            try await EndpointsCommand.write(fields, id: id, to: topic, keyring: keyring, before: nil)
            for secret in generated { Console.line("secret (shown once): \(secret)") }
            Console.line("added \(id)")
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change an endpoint's fields (those given; --secret replaces its secrets).")
        @OptionGroup var connection: Connection
        @Argument(help: "The endpoint id.") var id: String
        @OptionGroup var endpoint: EndpointFieldOptions

        func run() async throws {
            let (topic, keyring) = try connection.open()
            var fields = try await EndpointsCommand.current(id, in: topic)
            let before = fields
            let generated = try endpoint.apply(to: &fields, id: id, keyring: keyring)
            try await EndpointsCommand.write(fields, id: id, to: topic, keyring: keyring, before: before)
            for secret in generated { Console.line("secret (shown once): \(secret)") }
            Console.line("updated \(id)")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Delete an endpoint (its records are dead-lettered endpoint_deleted while replicas know it)."
        )
        @OptionGroup var connection: Connection
        @Argument(help: "The endpoint id.") var id: String

        func run() async throws {
            let (topic, _) = try connection.open()
            // Whatever its document holds: one that cannot be read can be removed too.
            guard let previous = try await topic.documents()[id] else {
                throw CommandFailure.usage("no endpoint '\(EndpointsFile.shown(id))' in the registry \(topic.topics.endpoints)")
            }
            try await topic.delete(id: id, previous: previous)
            Console.line("deleted \(id)")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable an endpoint: its records are dead-lettered endpoint_disabled (republish them once it is enabled)."
        )
        @OptionGroup var connection: Connection
        @Argument(help: "The endpoint id.") var id: String
        @Option(help: "Why (shown in dead letters and logs).") var reason: String = "disabled by an operator"

        func run() async throws {
            try await EndpointsCommand.change(id, connection) { fields in
                fields["disabled"] = true
                fields["disabled_reason"] = reason
            }
            Console.line("disabled \(id)")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled endpoint.")
        @OptionGroup var connection: Connection
        @Argument(help: "The endpoint id.") var id: String

        func run() async throws {
            try await EndpointsCommand.change(id, connection) { fields in
                fields["disabled"] = nil
                fields["disabled_reason"] = nil
            }
            Console.line("enabled \(id)")
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret",
            abstract: "Give an endpoint a new secret; the old ones keep signing for the grace period, so receivers can accept either.",
            discussion: """
                Standard Webhooks and Ed25519 deliveries carry a signature of each secret meanwhile; \
                nSelf deliveries (one signature) keep the old secret until the deadline and then \
                switch to the new one.
                """
        )
        @OptionGroup var connection: Connection
        @Argument(help: "The endpoint id.") var id: String
        @Option(help: "The new secret: env:NAME, file:PATH, the secret itself, or `generate` (printed once).") var secret: String = "generate"
        @Option(help: "How long the old secrets keep signing, like 24h (0s drops them at once).") var grace: String = "24h"

        func run() async throws {
            guard let grace = DurationText.parse(grace) ?? (grace == "0s" || grace == "0" ? .zero : nil) else {
                throw ValidationError("--grace: expected a duration like 24h, got '\(EndpointsFile.shown(grace, limit: 40))'")
            }
            guard grace <= EndpointDocument.maximumGrace else { throw ValidationError("--grace: \(EndpointDocument.graceProblem)") }
            let (topic, keyring) = try connection.open()
            let fields = try await EndpointsCommand.current(id, in: topic)
            let scheme = SignatureScheme(rawValue: fields["scheme"] as? String ?? "standard") ?? .standard
            let (sealed, generated) = try EndpointFieldOptions.secrets([secret], scheme: scheme, id: id, keyring: keyring)
            let now = Int64(Date().timeIntervalSince1970 * 1_000)
            let rotated = EndpointDocument.rotated(fields, to: sealed, grace: grace, now: now)
            try await EndpointsCommand.write(rotated, id: id, to: topic, keyring: keyring, before: fields)
            for secret in generated { Console.line("secret (shown once): \(secret)") }
            Console.line("rotated \(id); the old secrets sign until \(TimeText.format(now + grace.components.seconds * 1_000))")
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load an endpoints file into the registry (the move from --endpoints to --endpoint-registry).",
            discussion: "Inline secrets are sealed with the registry key; env: and file: references are kept. Every endpoint is checked before any is written."
        )
        @OptionGroup var connection: Connection
        @Argument(help: "The endpoints file.") var file: String
        @Flag(help: "Replace endpoints that exist already (they are skipped otherwise).") var replace = false

        func run() async throws {
            let (topic, keyring) = try connection.open()
            let text: String
            let documents: [(id: String, document: [UInt8])]
            do {
                text = try YAMLText.read(file, limit: EndpointsFile.fileLimit, what: "the endpoints file")
                documents = try EndpointDocument.importing(text, source: file, seal: { secret, id in
                    try EndpointFieldOptions.seal(secret, id: id, keyring: keyring)
                }, keyring: keyring)
            } catch let error as ConfigurationError {
                throw CommandFailure.usage(error.message)
            }
            let existing = try await topic.documents()
            var written = 0, skipped = 0
            for (id, document) in documents {
                if existing[id] != nil && !replace {
                    skipped += 1
                    continue
                }
                try await topic.put(id: id, document: document, previous: existing[id])
                written += 1
            }
            Console.line("imported \(written), skipped \(skipped) existing")
        }
    }

    /// The endpoint's current document fields; an error naming it when it is not in the registry.
    static func current(_ id: String, in topic: EndpointRegistryTopic) async throws -> [String: Any] {
        guard let document = try await topic.documents()[id] else {
            throw CommandFailure.usage("no endpoint '\(EndpointsFile.shown(id))' in the registry \(topic.topics.endpoints)")
        }
        guard let fields = EndpointDocument.fields(document) else {
            throw CommandFailure.usage("endpoint '\(EndpointsFile.shown(id))': its document is not a JSON object")
        }
        return fields
    }

    /// Reads the endpoint's fields, lets `change` edit them, checks and writes them.
    static func change(_ id: String, _ connection: Connection, _ change: (inout [String: Any]) -> Void) async throws {
        let (topic, keyring) = try connection.open()
        var fields = try await current(id, in: topic)
        let before = fields
        change(&fields)
        try await write(fields, id: id, to: topic, keyring: keyring, before: before)
    }

    /// Checks the document as a replica would read it, then writes it (and tells operators,
    /// comparing with the fields `before`).
    static func write(_ fields: [String: Any], id: String, to topic: EndpointRegistryTopic, keyring: SecretKeyring?, before: [String: Any]?) async throws {
        let document = try checked(fields, id: id, keyring: keyring)
        try await topic.put(id: id, document: document, previous: try before.map(EndpointDocument.encode))
    }

    /// The document of `fields`, checked as a replica would read it.
    static func checked(_ fields: [String: Any], id: String, keyring: SecretKeyring?) throws -> [UInt8] {
        let document = try EndpointDocument.encode(fields)
        do {
            _ = try EndpointDocument.check(document, key: id, keyring: keyring)
        } catch {
            throw CommandFailure.usage(error.message)
        }
        return document
    }

    static func pretty(_ fields: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]), as: UTF8.self)
    }
}
