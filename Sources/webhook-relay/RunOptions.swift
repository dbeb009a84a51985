import ArgumentParser
import Foundation
import WebhookRelay
import WebhookRelayAdmin
import WebhookSignature

/// The settings of `run` (and of `config check`, which validates them without running).
struct RunOptions: ParsableArguments {
    @OptionGroup var relay: RelayOptions

    @Option(help: ArgumentHelp("The endpoints file (env: WEBHOOK_RELAY_ENDPOINTS). One source of endpoints per deployment: this or --endpoint-registry.", valueName: "path"))
    var endpoints: String?

    @Flag(help: "Take the endpoints from the registry topic <prefix>.endpoints, followed live (env: WEBHOOK_RELAY_ENDPOINT_REGISTRY=true). `webhook-relay endpoints` manages it.")
    var endpointRegistry = false

    @Option(name: .customLong("registry-key"), help: ArgumentHelp(
        "Where the key that seals endpoints' secrets in the registry is: env:NAME or file:PATH, each holding lines <id>:<base64 of 32 bytes> (repeatable; the first key seals, every key opens; env: WEBHOOK_RELAY_REGISTRY_KEY).",
        valueName: "env:NAME|file:PATH"))
    var registryKeys: [String] = []

    @Option(help: ArgumentHelp("Consumer group of the replicas (env: WEBHOOK_RELAY_GROUP; default webhook-relay).", valueName: "name"))
    var group: String?

    @Option(help: ArgumentHelp("Deliveries in flight at once, all endpoints together (env: WEBHOOK_RELAY_MAX_IN_FLIGHT; default 256).", valueName: "n"))
    var maxInFlight: String?

    @Option(help: ArgumentHelp("Largest body delivered, in bytes; larger records are dead-lettered (env: WEBHOOK_RELAY_BODY_LIMIT; default 1048576).", valueName: "bytes"))
    var bodyLimit: String?

    @Option(help: ArgumentHelp("Static group membership: this replica's unique, stable id, e.g. the pod name; a restart within the session timeout then keeps its partitions without a rebalance (Kafka 2.3+; env: WEBHOOK_RELAY_GROUP_INSTANCE_ID).", valueName: "id"))
    var groupInstanceId: String?

    @Option(help: ArgumentHelp("The endpoint that receives the relay's operational events (endpoint changes, circuits, exhausted messages) as signed webhooks, from <prefix>.operational (env: WEBHOOK_RELAY_OPERATIONAL_ENDPOINT).", valueName: "id"))
    var operationalEndpoint: String?

    @Option(help: ArgumentHelp("Time attempts on the wire get to finish on shutdown before they are cut short (env: WEBHOOK_RELAY_DRAIN_TIMEOUT; default 15s).", valueName: "duration"))
    var drainTimeout: String?

    @Option(help: ArgumentHelp("The same when a rebalance takes partitions away; the group waits for it (env: WEBHOOK_RELAY_REBALANCE_DRAIN_TIMEOUT; default 2s).", valueName: "duration"))
    var rebalanceDrainTimeout: String?

    @Option(help: ArgumentHelp("Vary each retry delay by up to this fraction either way (env: WEBHOOK_RELAY_RETRY_JITTER; default 0.1 = ±10 %).", valueName: "fraction"))
    var retryJitter: String?

    @Option(name: .customLong("allow-network"), help: ArgumentHelp(
        "Let deliveries reach this network although it is not globally routable, e.g. 10.20.0.0/16 (repeatable; env: WEBHOOK_RELAY_ALLOW_NETWORK, comma-separated).",
        valueName: "cidr"))
    var allowNetworks: [String] = []

    @Flag(help: "Let deliveries reach any address, private ones included (internal deployments; env: WEBHOOK_RELAY_ALLOW_PRIVATE_NETWORK=true).")
    var allowPrivateNetwork = false

    @Option(help: ArgumentHelp("PEM file of certificate authorities trusted for https endpoints besides the system's (env: WEBHOOK_RELAY_CA_FILE).", valueName: "path"))
    var caFile: String?

    @Option(help: ArgumentHelp("Port of the admin server: /healthz, /readyz, /endpoints, /metrics (env: WEBHOOK_RELAY_ADMIN_PORT; default 9090; 0 turns it off).", valueName: "port"))
    var adminPort: String?

    @Option(help: ArgumentHelp("Address the admin server binds (env: WEBHOOK_RELAY_ADMIN_BIND; default 127.0.0.1).", valueName: "address"))
    var adminBind: String?

    @Option(name: .customLong("api-token"), help: ArgumentHelp(
        "Where the management API's bearer tokens are: env:NAME or file:PATH, one token per line (repeatable; env: WEBHOOK_RELAY_API_TOKEN). Without one the API's write routes are off.",
        valueName: "env:NAME|file:PATH"))
    var apiTokens: [String] = []

    /// Every setting resolved (flag, environment, config file, default) and checked.
    func resolve(brokersRequired: Bool = true) throws -> RunSettings {
        let resolved = try relay.resolve(brokersRequired: brokersRequired)
        let layers = resolved.layers
        try LoggingOptions.validate(layers)
        let endpointsPath = layers.string(endpoints, .endpoints)?.value.nilIfEmpty
        let registry = try layers.bool(endpointRegistry, .endpointRegistry)
        if endpointsPath != nil && registry {
            throw ValidationError("use one source of endpoints per deployment: --endpoints (a file) or --endpoint-registry (the registry topic); `webhook-relay endpoints import FILE` moves a file's endpoints into the registry")
        }
        if endpointsPath == nil && !registry {
            throw ValidationError("--endpoints is required (or set WEBHOOK_RELAY_ENDPOINTS, or endpoints in the config file), unless --endpoint-registry takes them from the registry topic")
        }
        let keyring = try SecretSources.registryKeys(layers, flag: registryKeys)
        var configuration = RelayConfiguration(bootstrapServers: resolved.brokers, topics: resolved.topics)
        configuration.groupID = layers.string(group, .group)?.value ?? "webhook-relay"
        if let (id, source) = layers.string(groupInstanceId, .groupInstanceID) {
            guard !id.isEmpty, id.count <= 249, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                throw ValidationError("group_instance_id (\(source)): expected 1-249 characters of a-z, A-Z, 0-9, '.', '_' and '-', got '\(id.prefix(80))'")
            }
            configuration.groupInstanceID = id
        }
        if let (id, source) = layers.string(operationalEndpoint, .operationalEndpoint) {
            guard !id.isEmpty, id.utf8.count <= 256, id.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
                throw ValidationError("operational_endpoint (\(source)): expected an endpoint id, got '\(id.prefix(80))'")
            }
            configuration.operationalEndpoint = id
        }
        configuration.kafkaProperties = resolved.kafkaProperties
        if let (text, source) = layers.string(maxInFlight, .maxInFlight) {
            guard let value = Int(text), (1...1_000_000).contains(value) else {
                throw ValidationError("max_in_flight (\(source)): expected a whole number from 1 to 1000000, got '\(text)'")
            }
            configuration.maxInFlight = value
        }
        if let (text, source) = layers.string(bodyLimit, .bodyLimit) {
            guard let value = Int(text), (1...RecordSizeLimits.maximumBodyLimit).contains(value) else {
                throw ValidationError("body_limit (\(source)): expected a number of bytes from 1 to \(RecordSizeLimits.maximumBodyLimit), got '\(text.prefix(40))'")
            }
            configuration.bodyLimit = value
        }
        if let (text, source) = layers.string(drainTimeout, .drainTimeout) {
            guard let value = DurationText.parse(text), value > .zero else {
                throw ValidationError("drain_timeout (\(source)): expected a duration like 15s, got '\(text)'")
            }
            configuration.drainTimeout = value
        }
        if let (text, source) = layers.string(rebalanceDrainTimeout, .rebalanceDrainTimeout) {
            guard let value = DurationText.parse(text), value >= .zero else {
                throw ValidationError("rebalance_drain_timeout (\(source)): expected a duration like 2s, got '\(text)'")
            }
            configuration.rebalanceDrainTimeout = value
        }
        if let (text, source) = layers.string(retryJitter, .retryJitter) {
            guard let value = Double(text), (0...0.5).contains(value) else {
                throw ValidationError("retry_jitter (\(source)): expected a fraction from 0 to 0.5, like 0.1, got '\(text)'")
            }
            configuration.retryJitter = value
        }
        let networks = try layers.list(allowNetworks, .allowNetwork).map { text in
            guard let network = CIDR(text) else {
                throw ValidationError("allow_network: '\(text)' is not a network like 10.20.0.0/16 or fd00::/8")
            }
            return network
        }
        configuration.http.addressPolicy = AddressPolicy(
            allowedNetworks: networks, allowPrivateNetwork: try layers.bool(allowPrivateNetwork, .allowPrivateNetwork)
        )
        if let (path, source) = layers.string(caFile, .caFile) {
            if let problem = WebhookHTTPClient.trustFileProblem(path) { throw ValidationError("ca_file (\(source)): \(problem)") }
            configuration.http.trustedCertificatesFile = path
        }

        if let given = configuration.kafkaProperties["message.max.bytes"],
            let problem = configuration.sizeLimits.problem(withProducerMessageMaxBytes: given)
        {
            throw ValidationError(problem)
        }

        var admin: AdminServer.Configuration?
        let portSetting = layers.string(adminPort, .adminPort)
        let port = try portSetting.map { text, source in
            guard let value = Int(text), (0...65_535).contains(value) else {
                throw ValidationError("admin_port (\(source)): expected a port from 0 to 65535, got '\(text)'")
            }
            return value
        } ?? 9090
        if port != 0 {
            admin = AdminServer.Configuration(host: layers.string(adminBind, .adminBind)?.value ?? "127.0.0.1", port: port)
            admin?.api.tokens = try SecretSources.apiTokens(layers, flag: apiTokens)
        }
        return RunSettings(relay: configuration, endpointsPath: endpointsPath, keyring: keyring, admin: admin, layers: layers)
    }
}

/// What `run` will use.
struct RunSettings {
    var relay: RelayConfiguration
    /// The endpoints file; `nil` in registry mode.
    var endpointsPath: String?
    /// Opens the registry's sealed secrets (registry mode).
    var keyring: SecretKeyring?
    var admin: AdminServer.Configuration?
    /// Where the settings came from (the config file, read once).
    var layers: ConfigLayers
}

extension String {
    /// `nil` for an empty string.
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
