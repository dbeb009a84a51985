import Foundation
import Kafka
import Testing

/// R7: a receiver the project did not write (aiohttp) answers at once while the relay works off a
/// backlog that is mostly Kafka work: records for an unknown endpoint, dead-lettered at broker
/// speed, and two endpoints that take one request at a time, whose surplus goes round the delay
/// topic. Every answer must be read: no attempt may fail.
///
/// Issue 14's regression test. Before the fix, the relay ran that Kafka work on the event loops
/// that serve its HTTP connections, and a loop reads its sockets only when it has no task left:
/// answered requests were recorded as timeouts, and connections as connect timeouts (9 to 79
/// failed attempts in each of 4 runs of this scenario against the old debug build; 0 since).
@Suite(.serialized, .timeLimit(.minutes(10)))
struct ForeignReceiverReliabilityTests {
    @Test func answersOfAForeignReceiverAreReadWhileKafkaWorkFloodsTheRelay() async throws {
        let scenario = try Scenario("r7")
        var passed = false
        defer { scenario.finish(keep: !passed) }
        let receiver = try AiohttpReceiver(scenario: scenario)
        defer { receiver.stop() }
        let partitions = 8
        let broker = try BrokerProcess(partitions: partitions, ["--retry-schedule", "1s,2s"], log: scenario.file("broker.log"))
        defer { broker.stop() }

        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        scenario.addSecrets([secret])
        let good = (0..<16).map { String(format: "good%02d", $0) }
        let serial = ["serial0", "serial1"]
        var yaml = "endpoints:\n"
        for id in good {
            yaml += "  - id: \(id)\n    url: \(receiver.url)/\(id)\n    scheme: standard\n    secrets: [\"\(secret)\"]\n    timeout: 1s\n"
        }
        for id in serial {
            yaml += "  - id: \(id)\n    url: \(receiver.url)/\(id)\n    scheme: standard\n    secrets: [\"\(secret)\"]\n    max_in_flight: 1\n"
        }
        let endpointsFile = scenario.file("endpoints.yaml")
        try yaml.write(to: endpointsFile, atomically: true, encoding: .utf8)

        // 30,000 records for unknown endpoints with 3,000 good ones among them, then 3,000 for the
        // endpoints that take one at a time (small, so that their trips round the delay topic stay
        // within this broker's 5 MiB per partition).
        let topic = "webhooks.deliveries"
        func record(_ key: String, _ id: String, partition: Int) -> KafkaProducerRecord {
            KafkaProducerRecord(
                topic: topic, partition: Int32(partition), key: Array(key.utf8), value: Array("{}".utf8),
                headers: [KafkaHeader(key: "webhook-event", value: "test.event"), KafkaHeader(key: "webhook-id", value: id)]
            )
        }
        var records: [KafkaProducerRecord] = []
        var expected: Set<String> = []
        for index in 0..<33_000 {
            if index % 11 == 0 {
                records.append(record(good[index % good.count], "g_\(index)", partition: index % partitions))
                expected.insert("g_\(index)")
            } else {
                records.append(record("nobody\(index % partitions)", "u_\(index)", partition: index % partitions))
            }
        }
        for index in 0..<3_000 {
            records.append(record(serial[index % 2], "s_\(index)", partition: index % 2))
            expected.insert("s_\(index)")
        }
        try await SuiteKafka.produce(records, bootstrap: broker.bootstrap)

        let relay = try scenario.start("relay", [
            "run", "--brokers", broker.bootstrap, "--endpoints", endpointsFile.path, "--group", "r7",
            "--retry-schedule", "1s,2s", "--allow-private-network", "--admin-port", "0", "--log-format", "json",
        ])
        let started = ContinuousClock.now
        var received: Set<String> = []
        while ContinuousClock.now - started < .seconds(300) {
            received = Set(receiver.entries.compactMap(\.id))
            if expected.isSubset(of: received) { break }
            try await Task.sleep(for: .milliseconds(500))
        }
        let elapsed = ContinuousClock.now - started
        let status = relay.stop()

        let entries = receiver.entries
        let answered = Set(entries.compactMap { entry in entry.id.map { "\($0) \(entry.attempt ?? "")" } })
        let failures = relay.output.split(separator: "\n").compactMap { line -> [String: String]? in
            guard line.contains("\"Attempt failed\"") else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: String]
        }
        let answeredButTimeout = failures.filter { failure in
            failure["error"] == "timeout" && answered.contains("\(failure["webhook.id"] ?? "") \(failure["attempt"] ?? "")")
        }
        let errors = Dictionary(grouping: failures, by: { $0["error"] ?? "?" }).mapValues(\.count)
        ReliabilityReport.record("R7 foreign receiver", [
            "receiver": "aiohttp", "records": "\(records.count)", "expected": "\(expected.count)",
            "missing": "\(expected.subtracting(received).count)", "failed attempts": "\(failures.count) \(errors)",
            "answered but called timeout": "\(answeredButTimeout.count)", "time": String(format: "%.1f s", elapsed / .seconds(1)),
        ])
        #expect(expected.isSubset(of: received), "not delivered: \(expected.subtracting(received).count), e.g. \(expected.subtracting(received).sorted().prefix(5))")
        #expect(answeredButTimeout.count == 0, "answers the receiver sent, recorded as timeouts: \(answeredButTimeout.prefix(3))")
        #expect(failures.count == 0, "the receiver answers every request at once, yet attempts failed: \(errors)")
        #expect(entries.allSatisfy { $0.attempt == "1" }, "retries: \(entries.filter { $0.attempt != "1" }.prefix(3).map { "\($0.id ?? "") \($0.attempt ?? "")" })")
        #expect(status == 0, "the relay did not stop cleanly: \(String(describing: status))")
        #expect(scenario.leakedSecrets().isEmpty)
        passed = expected.isSubset(of: received) && failures.isEmpty
    }
}
