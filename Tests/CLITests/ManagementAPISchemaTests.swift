import Foundation
import Testing

/// docs/openapi.yaml checked against what a running relay really answers, by schemathesis (a
/// property-based API tester from PyPI, installed into `.build/test-venv` when missing): status
/// codes, content types, response schemas, no server error, schema-violating requests refused,
/// auth enforced, undeclared methods answered 405. Bounded: a fixed seed and example count.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct ManagementAPISchemaTests {
    static let schemathesisVersion = "4.32.5"

    /// The schemathesis command, installed when missing.
    static func schemathesis() throws -> URL {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let venv = root.appendingPathComponent(".build/test-venv")
        let tool = venv.appendingPathComponent("bin/schemathesis")
        let version = try? ProcessRunner.run(["--version"], executable: tool, timeout: 30)
        if version?.stdout.contains(schemathesisVersion) == true { return tool }
        let create = try ProcessRunner.run(["-m", "venv", "--clear", venv.path], executable: URL(fileURLWithPath: "/usr/bin/python3"), timeout: 120)
        #expect(create.status == 0, "python3 -m venv: \(create.stderr)")
        let install = try ProcessRunner.run(
            ["install", "-q", "schemathesis==\(schemathesisVersion)"], executable: venv.appendingPathComponent("bin/pip"), timeout: 300
        )
        #expect(install.status == 0, "pip install schemathesis: \(install.stderr)")
        return tool
    }

    @Test func theOpenAPIDocumentMatchesWhatTheServerAnswers() async throws {
        let tool = try Self.schemathesis()
        let broker = try BrokerProcess(partitions: 4)
        defer { broker.stop() }
        let key = try ProcessRunner.run(["endpoints", "generate-key"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let token = "schema-test-token-0123456789"
        let port = AdminFlood.freePort()
        let relay = try RelayProcess(
            ["--brokers", broker.bootstrap, "--endpoint-registry", "--registry-key", "env:TEST_REGISTRY_KEY", "--api-token", "env:TEST_API_TOKEN",
             "--admin-port", String(port), "--log-level", "warning"],
            environment: ["TEST_REGISTRY_KEY": key, "TEST_API_TOKEN": token]
        )
        defer { relay.stop() }
        let ready = await ProcessRunner.eventually(timeout: .seconds(60)) {
            AdminFlood.get("/v1/endpoints", port: port)?.hasPrefix("HTTP/1.1 401") == true
        }
        #expect(ready, "\(relay.output)")
        let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/openapi.yaml")
        // Positive-data acceptance is left out: the relay checks more than a schema can say (a
        // host's form, a secret's kind for its scheme); everything else is checked.
        let run = try ProcessRunner.run(
            ["run", document.path, "--url", "http://127.0.0.1:\(port)", "-H", "Authorization: Bearer \(token)", "--seed", "1",
             "--max-examples", "25", "--exclude-checks", "positive_data_acceptance", "--no-color"],
            executable: tool, timeout: 300, inScratchDirectory: true
        )
        print("schemathesis:\n" + run.stdout.split(separator: "\n").suffix(12).joined(separator: "\n"))
        #expect(run.status == 0, "\(run.stdout.suffix(4_000))\n\(run.stderr.suffix(2_000))")
        #expect(!run.stdout.contains(token), "the token is filtered from reports")
    }
}
