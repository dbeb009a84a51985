import Foundation
import Kafka
import Testing

/// An ordered endpoint (`ordered: true`) behind a receiver the project did not write (aiohttp),
/// which fails 30 % of its requests at random and checks every signature with Python's `hmac`;
/// neighbours on the same partition answered at once. The relay binary, the embedded broker, and
/// kcat (a Kafka client the project did not write) to look at the topics.
@Suite(.serialized, .timeLimit(.minutes(5)))
struct OrderedDeliveryTests {
    @Test func everyAcceptedDeliveryArrivesInProducedOrderWhileTheNeighboursGoOn() async throws {
        let scenario = try Scenario("ordered")
        var passed = false
        defer { scenario.finish(keep: !passed) }
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        scenario.addSecrets([secret])
        let receiver = try AiohttpReceiver(scenario: scenario, failureShare: 0.3, failingPrefix: "/ordered", secret: secret)
        defer { receiver.stop() }
        let schedule = "20ms,40ms,80ms,160ms,320ms"
        let broker = try BrokerProcess(partitions: 1, ["--retry-schedule", schedule], log: scenario.file("broker.log"))
        defer { broker.stop() }

        let neighbours = ["n0", "n1", "n2", "n3"]
        // A receiver failing 30 % at random fails 5 times in a row now and then, which would open
        // the circuit for its default 10 minutes: this one opens only for a receiver that is down.
        var yaml = "endpoints:\n  - id: ordered\n    url: \(receiver.url)/ordered\n    secrets: [\"\(secret)\"]\n    ordered: true\n"
            + "    circuit_failure_threshold: 20\n"
        for id in neighbours { yaml += "  - id: \(id)\n    url: \(receiver.url)/\(id)\n    secrets: [\"\(secret)\"]\n" }
        let endpointsFile = scenario.file("endpoints.yaml")
        try yaml.write(to: endpointsFile, atomically: true, encoding: .utf8)

        // 3,000 records on one partition, every tenth for the ordered endpoint: 300, more than it
        // keeps waiting (128), so the partition pauses and resumes on the way.
        var records: [KafkaProducerRecord] = []
        var ordered: [String] = [], others: Set<String> = []
        for index in 0..<3_000 {
            let key = index % 10 == 0 ? "ordered" : neighbours[index % neighbours.count]
            let id = "\(key)_\(index)"
            if key == "ordered" { ordered.append(id) } else { others.insert(id) }
            records.append(SuiteEndpoints.record(topic: "webhooks.deliveries", endpoint: key, id: id, body: Array("{\"n\":\(index)}".utf8)))
        }
        try await SuiteKafka.produce(records, bootstrap: broker.bootstrap)

        let relay = try scenario.start("relay", [
            "run", "--brokers", broker.bootstrap, "--endpoints", endpointsFile.path, "--group", "ordered", "--retry-schedule", schedule,
            "--allow-private-network", "--admin-port", "0", "--log-level", "warning",
        ])
        let started = ContinuousClock.now
        func accepted(_ prefix: String) -> [AiohttpReceiver.Entry] {
            receiver.entries.filter { $0.path.hasPrefix(prefix) && $0.status == 204 }
        }
        func deadLettered() throws -> [String] { try Self.keysAndIDs(broker.bootstrap, topic: "webhooks.dlq").filter { $0.hasPrefix("ordered ") } }
        while ContinuousClock.now - started < .seconds(180) {
            if try accepted("/ordered").count + deadLettered().count >= ordered.count && accepted("/n").count >= others.count { break }
            try await Task.sleep(for: .milliseconds(250))
        }
        let status = relay.stop()

        let entries = receiver.entries
        let orderedAccepted = accepted("/ordered").compactMap(\.id)
        let dead = Set(try deadLettered().map { String($0.dropFirst("ordered ".count)) })
        let neighbourAccepted = accepted("/n")
        // Produced order is the order of the records in the partition, read with kcat: the test's
        // producer sends concurrently, so it may differ from the order of `records`.
        let produced = try Self.keysAndIDs(broker.bootstrap, topic: "webhooks.deliveries").filter { $0.hasPrefix("ordered ") }
            .map { String($0.dropFirst("ordered ".count)) }
        #expect(produced.count == ordered.count && Set(produced) == Set(ordered), "the partition holds \(produced.count) ordered records")
        // Received order equals produced order for every accepted delivery, each accepted once.
        let expectedOrder = produced.filter { !dead.contains($0) }
        let inOrder = orderedAccepted == expectedOrder
        let first = zip(orderedAccepted, expectedOrder).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(orderedAccepted.count, expectedOrder.count)
        #expect(inOrder, """
            \(orderedAccepted.count) accepted, \(expectedOrder.count) expected; from #\(first): accepted \(orderedAccepted.dropFirst(first).prefix(4)), \
            produced \(expectedOrder.dropFirst(first).prefix(4))
            """)
        let neighboursAll = Set(neighbourAccepted.compactMap(\.id)) == others && neighbourAccepted.count == others.count
        #expect(neighboursAll, "neighbours: \(neighbourAccepted.count) accepted of \(others.count)")
        #expect(entries.allSatisfy { $0.verified == true }, "signatures the receiver could not verify: \(entries.filter { $0.verified != true }.count)")
        // Retried in place: attempt numbers count up per delivery, and nothing went to a delay topic.
        let failures = entries.filter { $0.status == 500 }
        #expect(failures.count >= 60, "a 30 % failing receiver failed only \(failures.count) of \(entries.count) requests")
        let attempts = Dictionary(grouping: entries.filter { $0.path == "/ordered" }, by: { $0.id ?? "" }).mapValues { $0.compactMap(\.attempt) }
        #expect(attempts.values.allSatisfy { $0 == (1...$0.count).map(String.init) }, "attempt numbers out of sequence")
        for topic in schedule.split(separator: ",").map({ "webhooks.retry.\($0)" }) {
            let keys = try Self.keysAndIDs(broker.bootstrap, topic: topic).map { $0.split(separator: " ").first.map(String.init) ?? "" }
            #expect(!keys.contains("ordered"), "an ordered delivery went to \(topic)")
        }
        #expect(status == 0, "the relay did not stop cleanly: \(String(describing: status))")
        #expect(scenario.leakedSecrets().isEmpty)

        func span(_ entries: [AiohttpReceiver.Entry]) -> Double { (entries.map(\.t).max() ?? 0) - (entries.map(\.t).min() ?? 0) }
        ReliabilityReport.record("ordered endpoint", [
            "receiver": "aiohttp failing 30 %", "ordered accepted": "\(orderedAccepted.count) of \(ordered.count)", "dead-lettered": "\(dead.count)",
            "produced out of send order": "\(zip(produced, ordered).filter { $0 != $1 }.count)",
            "failed attempts": "\(failures.count)",
            "ordered": String(format: "%.1f s", span(accepted("/ordered"))),
            "neighbours": String(format: "%d in %.1f s", neighbourAccepted.count, span(neighbourAccepted)),
        ])
        passed = inOrder
    }

    /// `key id` of every record of a topic, read with kcat.
    static func keysAndIDs(_ bootstrap: String, topic: String) throws -> [String] {
        let kcat = try ProcessRunner.run(
            ["-b", bootstrap, "-C", "-t", topic, "-e", "-q", "-f", "%k %h\n"], executable: URL(fileURLWithPath: "/usr/bin/kcat"), timeout: 30
        )
        #expect(kcat.status == 0, "\(kcat.stderr)")
        return kcat.stdout.split(separator: "\n").map { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            let id = parts.count > 1 ? parts[1].split(separator: ",").first { $0.hasPrefix("webhook-id=") }.map { String($0.dropFirst("webhook-id=".count)) } : nil
            return "\(parts.first ?? "") \(id ?? "")"
        }
    }
}
