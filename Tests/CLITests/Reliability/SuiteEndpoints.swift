import Foundation
import Kafka
import WebhookSignature

/// The endpoints of a scenario: ids, schemes and secrets (inline, `env:` and `file:` references
/// in turn, so R6 covers every way a secret is configured), written as the relay's endpoints file.
struct SuiteEndpoints {
    struct Spec {
        var id: String
        var scheme: SignatureScheme
        /// As written in the file (`whsec_…`, `env:NAME` or `file:PATH`).
        var secretReference: String
        /// Extra YAML lines for the endpoint (`timeout: 500ms`, …).
        var extra: [String]
    }

    private(set) var specs: [Spec] = []
    /// Variables the `env:` references need.
    private(set) var environment: [String: String] = [:]

    /// `count` endpoints `<prefix>00`, `<prefix>01`, … with schemes and secret sources in turn.
    init(scenario: Scenario, count: Int, prefix: String = "ep", extra: (Int) -> [String] = { _ in [] }) throws {
        for index in 0..<count {
            try add(scenario: scenario, id: String(format: "%@%02d", prefix, index), index: index, extra: extra(index))
        }
    }

    init() {}

    /// Adds one endpoint; `index` picks the scheme and the secret source.
    mutating func add(scenario: Scenario, id: String, index: Int, extra: [String] = []) throws {
        let scheme: SignatureScheme = [.standard, .nself, .ed25519][index % 3]
        let secret: String = switch scheme {
        case .standard: SecretGenerator.standardSecret().exposeSecret()
        case .nself: SecretGenerator.nselfSecret().exposeSecret()
        case .ed25519: SecretGenerator.ed25519KeyPair().signingKey.exposeSecret()
        }
        scenario.addSecrets([secret])
        let reference: String
        switch (index / 3) % 3 {
        case 1:
            let name = "RELIABILITY_SECRET_\(id.uppercased())"
            environment[name] = secret
            reference = "env:\(name)"
        case 2:
            let file = scenario.file("secret-\(id)")
            try (secret + "\n").write(to: file, atomically: true, encoding: .utf8)
            reference = "file:\(file.path)"
        default:
            reference = secret
        }
        specs.append(Spec(id: id, scheme: scheme, secretReference: reference, extra: extra))
    }

    var ids: [String] { specs.map(\.id) }

    /// Writes the endpoints file with URLs `<baseURL>/<id>`.
    func write(to file: URL, baseURL: String, defaults: [String] = []) throws {
        var yaml = ""
        if !defaults.isEmpty { yaml += "defaults:\n" + defaults.map { "  \($0)\n" }.joined() }
        yaml += "endpoints:\n"
        for spec in specs {
            yaml += "  - id: \(spec.id)\n    url: \(baseURL)/\(spec.id)\n    scheme: \(spec.scheme)\n"
            yaml += "    secrets: [\"\(spec.secretReference)\"]\n"
            yaml += spec.extra.map { "    \($0)\n" }.joined()
        }
        try yaml.write(to: file, atomically: true, encoding: .utf8)
    }

    /// A record of the contract: key = endpoint, `webhook-event`, `webhook-id`.
    static func record(topic: String, endpoint: String, id: String, body: [UInt8], event: String = "test.event") -> KafkaProducerRecord {
        KafkaProducerRecord(
            topic: topic, key: Array(endpoint.utf8), value: body,
            headers: [KafkaHeader(key: "webhook-event", value: event), KafkaHeader(key: "webhook-id", value: id)]
        )
    }
}

/// Starting a scenario: broker, listen, endpoints file, and relay replicas.
struct SuiteSetup {
    let scenario: Scenario
    let broker: BrokerProcess
    let listen: ListenProcess
    let endpoints: SuiteEndpoints
    let endpointsFile: URL
    let retrySchedule: String
    let partitions: Int

    /// Starts the broker (`partitions` per topic), writes the endpoints files and starts `listen`
    /// with the behaviours.
    init(
        scenario: Scenario, endpoints: SuiteEndpoints, partitions: Int, retrySchedule: String, behaviours: [String] = [],
        defaults: [String] = []
    ) throws {
        self.scenario = scenario
        self.endpoints = endpoints
        self.partitions = partitions
        self.retrySchedule = retrySchedule
        let brokerLog = scenario.file("broker.log")
        broker = try BrokerProcess(partitions: partitions, ["--retry-schedule", retrySchedule], log: brokerLog)
        scenario.watchOutput("broker") { (try? String(contentsOf: brokerLog, encoding: .utf8)) ?? "" }
        let listenFile = scenario.file("listen-endpoints.yaml")
        try endpoints.write(to: listenFile, baseURL: "http://127.0.0.1:9", defaults: defaults)
        listen = try ListenProcess(scenario: scenario, endpointsFile: listenFile, behaviours: behaviours, environment: endpoints.environment)
        endpointsFile = scenario.file("endpoints.yaml")
        try endpoints.write(to: endpointsFile, baseURL: listen.url, defaults: defaults)
    }

    /// Starts a `run` replica in `group` with a fast-failing session and the scenario's schedule.
    func startReplica(_ name: String, group: String, extra: [String] = []) throws -> SuiteProcess {
        try scenario.start(
            name,
            [
                "run", "--brokers", broker.bootstrap, "--endpoints", endpointsFile.path, "--group", group,
                "--retry-schedule", retrySchedule, "--retry-jitter", "0", "--allow-private-network", "--admin-port", "0",
                "--kafka", "session.timeout.ms=6000", "--log-level", "info",
            ] + extra,
            environment: endpoints.environment
        )
    }

    var deliveriesTopic: String { "webhooks.deliveries" }
    var deadLetterTopic: String { "webhooks.dlq" }
}
