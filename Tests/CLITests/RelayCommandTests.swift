import Foundation
import Kafka
import Logging
import Testing
import WebhookReceiver
import WebhookSignature

/// The relay's commands as separate processes: `broker`, `run` and `send` talking over the Kafka
/// protocol, delivering to a receiver in this test process on 127.0.0.1.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RelayCommandTests {
    @Test func sendThenRunDeliversAndRunExitsZeroOnSIGTERM() async throws {
        let broker = try BrokerProcess(partitions: 2, ["--retry-schedule", "500ms"])
        defer { broker.stop() }
        let bootstrap = broker.bootstrap

        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let receiver = WebhookReceiver(endpoints: [
            .init(id: "orders", verifier: try WebhookVerifier(scheme: .standard, secrets: [secret]), behaviour: .init(failFirstAttempts: 1))
        ])
        try await receiver.withServer { url in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-cli-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let endpointsFile = directory.appendingPathComponent("endpoints.yaml")
            try """
                endpoints:
                  - id: orders
                    url: \(url)/orders
                    secrets: ["env:ORDERS_SECRET"]
                """.write(to: endpointsFile, atomically: true, encoding: .utf8)

            let send = try ProcessRunner.run(
                ["send", "--endpoint", "orders", "--event", "order.created", "--id", "msg_cli_1"],
                stdin: Data("{\"cli\":true}".utf8),
                environment: ["WEBHOOK_RELAY_BROKERS": bootstrap]
            )
            #expect(send.status == 0, "\(send.stderr)")

            let relay = try RelayProcess(
                ["--endpoints", endpointsFile.path, "--retry-schedule", "500ms", "--allow-private-network", "--log-level", "warning"],
                environment: ["WEBHOOK_RELAY_BROKERS": bootstrap, "ORDERS_SECRET": secret]
            )

            let deadline = ContinuousClock.now.advanced(by: .seconds(60))
            while ContinuousClock.now < deadline && !receiver.requests.contains(where: { $0.status == 204 }) {
                try await Task.sleep(for: .milliseconds(100))
            }
            let requests = receiver.requests
            #expect(requests.map(\.status) == [500, 204], "first attempt fails, the retry from the delay topic succeeds")
            #expect(requests.allSatisfy { $0.verified && $0.webhookID == "msg_cli_1" && $0.body == Array("{\"cli\":true}".utf8) })

            relay.stop()  // SIGTERM: graceful
            #expect(relay.process.terminationReason == .exit)
            #expect(relay.process.terminationStatus == 0)
            #expect(!relay.output.contains(secret), "the secret leaked into the log")
        }
        #expect(broker.stop() == 0)
    }

    @Test func sendJSONLinesProducesTheRecordContract() async throws {
        let broker = try BrokerProcess(partitions: 2)
        defer { broker.stop() }
        let bootstrap = broker.bootstrap

        let lines = """
            {"endpoint": "orders", "event": "order.created", "id": "msg_j1", "body": {"total": 12.5, "items": [1, 2]}}
            {"endpoint": "billing", "event": "invoice.paid", "body_base64": "AAH/", "content_type": "application/octet-stream"}

            """
        let sent = try ProcessRunner.run(["send", "--brokers", bootstrap, "--jsonl"], stdin: Data(lines.utf8))
        #expect(sent.status == 0, "\(sent.stderr)")
        #expect(sent.stdout.contains("sent 2 deliveries"))
        let bad = try ProcessRunner.run(["send", "--brokers", bootstrap, "--jsonl"], stdin: Data("{\"endpoint\": \"x\"}\n".utf8))
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("line 1"))

        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupID: "jsonl-reader")
        configuration.sessionTimeout = .seconds(4)
        var logger = Logger(label: "cli-tests")
        logger.logLevel = .warning
        let records = try await KafkaConsumer.withConsumer(configuration: configuration, topics: ["webhooks.deliveries"], logger: logger) { consumer in
            var records: [KafkaConsumerRecord] = []
            for await record in consumer.records {
                records.append(record)
                if records.count == 2 { break }
            }
            return records
        }
        let byKey = Dictionary(uniqueKeysWithValues: records.map { (String(decoding: $0.key ?? [], as: UTF8.self), $0) })
        let orders = try #require(byKey["orders"])
        #expect(orders.headers.first(named: "webhook-event")?.stringValue == "order.created")
        #expect(orders.headers.first(named: "webhook-id")?.stringValue == "msg_j1")
        #expect(String(decoding: orders.value, as: UTF8.self) == #"{"items":[1,2],"total":12.5}"#)
        let billing = try #require(byKey["billing"])
        #expect(billing.value == [0, 1, 255])
        #expect(billing.headers.first(named: "content-type")?.stringValue == "application/octet-stream")
        #expect(billing.headers.first(named: "webhook-id") == nil)
    }

    @Test func sighupWithAnInvalidFileKeepsTheOldEndpoints() async throws {
        let broker = try BrokerProcess(partitions: 1)
        defer { broker.stop() }
        let bootstrap = broker.bootstrap

        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let receiver = WebhookReceiver(endpoints: [.init(id: "orders", verifier: try WebhookVerifier(scheme: .standard, secrets: [secret]))])
        try await receiver.withServer { url in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-hup-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let endpointsFile = directory.appendingPathComponent("endpoints.yaml")
            try "endpoints:\n  - id: orders\n    url: \(url)/orders\n    secrets: [\"\(secret)\"]\n"
                .write(to: endpointsFile, atomically: true, encoding: .utf8)
            let relay = try RelayProcess(
                ["--brokers", bootstrap, "--endpoints", endpointsFile.path, "--allow-private-network", "--log-level", "info"]
            )

            func send(_ id: String) throws {
                let result = try ProcessRunner.run(
                    ["send", "--brokers", bootstrap, "--endpoint", "orders", "--event", "e", "--id", id], stdin: Data("{}".utf8)
                )
                #expect(result.status == 0)
            }
            func waitFor(_ condition: () throws -> Bool) async throws -> Bool {
                let deadline = ContinuousClock.now.advanced(by: .seconds(30))
                while ContinuousClock.now < deadline {
                    if try condition() { return true }
                    try await Task.sleep(for: .milliseconds(100))
                }
                return false
            }
            try send("msg_before")
            #expect(try await waitFor { receiver.requests.contains { $0.webhookID == "msg_before" } })

            // An invalid file: rejected with a log line, the old endpoints stay.
            try "endpoints:\n  - id: orders\n    url: not a url\n".write(to: endpointsFile, atomically: true, encoding: .utf8)
            kill(relay.process.processIdentifier, SIGHUP)
            #expect(try await waitFor { relay.output.contains("Endpoints file rejected on reload") })
            try send("msg_after")
            #expect(try await waitFor { receiver.requests.contains { $0.webhookID == "msg_after" && $0.status == 204 } })
            #expect(relay.process.isRunning)

            relay.stop()
            #expect(relay.process.terminationStatus == 0)
        }
    }

    @Test func jsonLogsAreOneObjectPerLineAndNeverContainASecret() async throws {
        let broker = try BrokerProcess(partitions: 2, ["--retry-schedule", "200ms"])
        defer { broker.stop() }
        let bootstrap = broker.bootstrap

        // One secret in each form: inline, environment variable, file.
        let inline = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        let fromEnvironment = "nself-environment-secret-7c1f2a9e"
        let signingKey = Ed25519SigningKey.generate()
        let fromFile = signingKey.exposeSecret()
        let receiver = WebhookReceiver(endpoints: [
            .init(id: "a", verifier: try WebhookVerifier(scheme: .standard, secrets: [inline])),
            .init(id: "b", verifier: try WebhookVerifier(scheme: .nself, secrets: [fromEnvironment]), behaviour: .init(failFirstAttempts: 1)),
            .init(id: "c", verifier: try WebhookVerifier(scheme: .ed25519, secrets: [signingKey.verifyingKey.serialized]),
                  behaviour: .init(alwaysFail: true, failureStatus: 401)),
        ])
        try await receiver.withServer { url in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-secrets-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            try fromFile.write(to: directory.appendingPathComponent("c.key"), atomically: true, encoding: .utf8)
            let endpointsFile = directory.appendingPathComponent("endpoints.yaml")
            try """
                endpoints:
                  - id: a
                    url: \(url)/a
                    secrets: ["\(inline)"]
                  - id: b
                    url: \(url)/b
                    scheme: nself
                    secrets: ["env:B_SECRET"]
                  - id: c
                    url: \(url)/c
                    scheme: ed25519
                    secrets: ["file:c.key"]
                """.write(to: endpointsFile, atomically: true, encoding: .utf8)
            for (endpoint, id) in [("a", "msg_a"), ("b", "msg_b"), ("c", "msg_c"), ("nobody", "msg_x")] {
                let sent = try ProcessRunner.run(
                    ["send", "--brokers", bootstrap, "--endpoint", endpoint, "--event", "e", "--id", id], stdin: Data("{}".utf8)
                )
                #expect(sent.status == 0)
            }
            let relay = try RelayProcess(
                [
                    "--brokers", bootstrap, "--endpoints", endpointsFile.path, "--retry-schedule", "200ms", "--allow-private-network",
                    "--log-format", "json", "--log-level", "debug",
                ],
                environment: ["B_SECRET": fromEnvironment]
            )
            let deadline = ContinuousClock.now.advanced(by: .seconds(60))
            while ContinuousClock.now < deadline {
                let requests = receiver.requests
                if requests.contains(where: { $0.endpointID == "b" && $0.status == 204 }) && requests.filter({ $0.endpointID == "c" }).count == 2 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            relay.stop()
            #expect(relay.process.terminationStatus == 0)

            let output = relay.output
            let lines = output.split(separator: "\n")
            #expect(lines.count > 10, "a debug run logs")
            for line in lines {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object?["level"] != nil && object?["message"] != nil, "not a JSON log line: \(line.prefix(200))")
            }
            #expect(output.contains("\"endpoint.id\""), "structured metadata with dotted keys")
            for secret in [inline, String(inline.dropFirst(6)), fromEnvironment, fromFile, String(fromFile.dropFirst(5))] {
                #expect(!output.contains(secret), "a secret appeared in the log")
            }
        }
    }

    @Test func runFailsFastOnABadEndpointsFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("relay-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("endpoints.yaml")
        try "endpoints:\n  - id: a\n    url: https://a.example/x\n    secrets: [\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"]\n    retries: 3\n"
            .write(to: file, atomically: true, encoding: .utf8)
        let result = try ProcessRunner.run(["run", "--brokers", "127.0.0.1:1", "--endpoints", file.path], timeout: 30)
        #expect(result.status != 0)
        #expect(result.stderr.contains("endpoint 'a': unknown field 'retries'"), "\(result.stderr)")
    }

    @Test func runRequiresBrokersAndNamesTheFlag() throws {
        let result = try ProcessRunner.run(["run", "--endpoints", "/nonexistent.yaml"], environment: ["WEBHOOK_RELAY_BROKERS": nil], timeout: 30)
        #expect(result.status != 0)
        #expect(result.stderr.contains("--brokers") || result.stderr.contains("/nonexistent.yaml"), "\(result.stderr)")
    }

    @Test func demoEndsWithASummaryAndExitZero() throws {
        // The default size, as `make demo` runs it.
        let result = try ProcessRunner.run(["demo"], timeout: 150)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        // 1,000 + 3 × 1,000 + 4 × 1,000 requests: healthy once, flaky three times, broken four times.
        #expect(result.stdout.contains("Summary"))
        #expect(result.stdout.contains("signatures verified: 8000/8000"))
        #expect(result.stdout.contains("every delivery ended as the policy says"))
    }
}
