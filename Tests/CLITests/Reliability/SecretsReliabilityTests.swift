import Foundation
import Kafka
import Testing

/// R6: no configured secret appears in any output. Every other scenario checks its own processes;
/// this one adds the most verbose logging (trace, text and JSON), every error path that handles a
/// secret, and the dead-letter tools.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct SecretsReliabilityTests {
    @Test func noSecretInAnyOutput() async throws {
        let scenario = try Scenario("r6")
        var passed = false
        defer { scenario.finish(keep: !passed) }
        // 9 endpoints: 3 schemes × inline, env: and file: secrets; the last three always fail.
        let endpoints = try SuiteEndpoints(scenario: scenario, count: 9)
        let setup = try SuiteSetup(
            scenario: scenario, endpoints: endpoints, partitions: 2, retrySchedule: "200ms",
            behaviours: ["ep06:fail", "ep07:fail,status=503,retry-after=1", "ep08:reset=1"]
        )
        let bootstrap = setup.broker.bootstrap
        let records = endpoints.ids.flatMap { endpoint in
            (0..<5).map { SuiteEndpoints.record(topic: setup.deliveriesTopic, endpoint: endpoint, id: "r6_\(endpoint)_\($0)", body: Array("{}".utf8)) }
        }
        try await SuiteKafka.produce(records, bootstrap: bootstrap)
        let text = try setup.startReplica("replica-text", group: "r6", extra: ["--log-level", "trace"])
        let json = try setup.startReplica("replica-json", group: "r6", extra: ["--log-level", "trace", "--log-format", "json"])
        _ = try await setup.listen.wait(upTo: .seconds(60)) { $0.delivered.count >= 30 }
        _ = try await SuiteKafka.waitForRecords(topic: setup.deadLetterTopic, partitions: 2, bootstrap: bootstrap, count: 15, upTo: .seconds(60))
        #expect(text.stop() == 0)
        #expect(json.stop() == 0)

        var outputs: [(String, String)] = []
        func run(_ name: String, _ arguments: [String], stdin: Data? = nil) throws {
            let result = try ProcessRunner.run(arguments, stdin: stdin, environment: setup.endpoints.environment, timeout: 60)
            outputs.append((name, result.stdout + result.stderr))
        }
        try run("dlq list", ["dlq", "list", "--brokers", bootstrap, "--json"])
        try run("dlq show", ["dlq", "show", "--brokers", bootstrap, "--json", "r6_ep06_0"])
        try run("dlq stats", ["dlq", "stats", "--brokers", bootstrap])
        try run("republish", ["republish", "--brokers", bootstrap, "--log-level", "trace"])
        try run("config check", ["config", "check", "--brokers", bootstrap, "--endpoints", setup.endpointsFile.path, "--log-level", "trace"])

        // Error paths: a broken secret next to good ones, in the file, on the command line, in a variable.
        let good = setup.endpoints.specs.first { $0.scheme == .standard && $0.secretReference.hasPrefix("whsec_") }?.secretReference ?? ""
        let broken = good.replacingOccurrences(of: "whsec_", with: "whsec_!") + "=="
        scenario.addSecrets([broken])
        let brokenFile = scenario.file("broken.yaml")
        try "endpoints:\n  - id: x\n    url: https://example.com/x\n    secrets: [\"\(broken)\"]\n".write(to: brokenFile, atomically: true, encoding: .utf8)
        try run("config check (broken secret)", ["config", "check", "--brokers", bootstrap, "--endpoints", brokenFile.path])
        try run("sign (broken secret)", ["sign", "--scheme", "standard", "--secret", broken], stdin: Data("{}".utf8))
        try run("verify (wrong secret)", [
            "verify", "--scheme", "standard", "--secret", good, "--header", "webhook-id: x", "--header", "webhook-timestamp: 1",
            "--header", "webhook-signature: v1,AAAA",
        ], stdin: Data("{}".utf8))
        try run("listen (broken secret)", ["listen", "--port", "0", "--secret", broken])
        for (name, output) in outputs {
            for secret in scenario.secrets where output.contains(secret) {
                Issue.record("\(name) printed a secret (\(secret.prefix(6))…)")
            }
        }
        let leaks = scenario.leakedSecrets()
        ReliabilityReport.record("R6 secrets", [
            "secrets": "\(scenario.secrets.count)", "outputs": "\(outputs.count + scenario.processes.count + 1)",
            "leaks": "\(leaks.count)",
        ])
        #expect(leaks.isEmpty, "secrets in process output: \(leaks)")
        passed = leaks.isEmpty
        setup.broker.stop()
    }
}
