import Foundation
import Kafka
import Testing

/// R8: events are published while three replicas fan them out; one is killed with SIGKILL in the
/// middle and restarted. Every endpoint receives every event it subscribed to, verified by
/// `listen` (all three schemes), and no other.
@Suite(.serialized, .timeLimit(.minutes(10)))
struct FanOutCrashReliabilityTests {
    static let tenants = ["acme", "globex", "initech"]
    static let kinds = ["order.created", "order.paid", "invoice.sent"]
    static let patterns: [[String]] = [[], ["order.*"], ["*.paid", "invoice.*"], ["invoice.sent"]]

    @Test func killNineDuringFanOutLosesNoDelivery() async throws {
        let scenario = try Scenario("r8")
        var passed = false
        defer { scenario.finish(keep: !passed) }
        // 12 endpoints: 4 per tenant, one per pattern set.
        let endpoints = try SuiteEndpoints(scenario: scenario, count: 12) { index in
            let patterns = Self.patterns[index / 3]
            return ["tenant: \(Self.tenants[index % 3])"]
                + (patterns.isEmpty ? [] : ["events: [\(patterns.map { "\"\($0)\"" }.joined(separator: ", "))]"])
        }
        let setup = try SuiteSetup(scenario: scenario, endpoints: endpoints, partitions: 4, retrySchedule: "1s,2s")
        var expected: Set<String> = []  // "<endpoint> <webhook-id>"
        var events: [KafkaProducerRecord] = []
        for index in 0..<3_000 {
            let tenant = index % 3, kind = Self.kinds[(index / 3) % Self.kinds.count], id = "r8_\(index)"
            for (position, endpoint) in endpoints.ids.enumerated() where position % 3 == tenant {
                let patterns = Self.patterns[position / 3]
                if patterns.isEmpty || patterns.contains(where: { Self.matches($0, kind) }) { expected.insert("\(endpoint) \(id)") }
            }
            events.append(KafkaProducerRecord(
                topic: "webhooks.events", key: Array(Self.tenants[tenant].utf8), value: Array("{\"n\":\(index)}".utf8),
                headers: [KafkaHeader(key: "webhook-event", value: kind), KafkaHeader(key: "webhook-id", value: id)]
            ))
        }

        let replicas = try (0..<3).map { try setup.startReplica("replica-\($0)", group: "r8") }
        // Events arrive over about 6 s, in 30 chunks, while the replicas fan them out.
        let bootstrap = setup.broker.bootstrap
        let publishing = Task {
            for chunk in stride(from: 0, to: events.count, by: 100) {
                try await SuiteKafka.produce(Array(events[chunk..<min(chunk + 100, events.count)]), bootstrap: bootstrap)
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        func pairs(_ listen: ListenProcess) -> [String] { listen.entries.filter(\.succeeded).map { "\($0.endpoint) \($0.webhook_id)" } }
        // The kill lands once a fifth of the deliveries arrived, while events are still published.
        let flowing = try await setup.listen.wait(upTo: .seconds(120)) { Set(pairs($0)).count >= expected.count / 5 }
        #expect(flowing, "deliveries did not start")
        let victim = replicas[1]
        victim.kill9()
        try await Task.sleep(for: .milliseconds(500))
        try victim.restart()
        try await publishing.value
        let all = try await setup.listen.wait(upTo: .seconds(240)) { Set(pairs($0)).count >= expected.count }
        for replica in replicas {
            let ready = try await replica.waitUntilEveryStartLogged("Starting relay", upTo: .seconds(30))
            #expect(ready, "\(replica.name) did not log its start")
        }
        _ = replicas.map { $0.stop() }

        let received = pairs(setup.listen)
        let missing = expected.subtracting(received)
        let unexpected = Set(received).subtracting(expected)
        #expect(all && missing.isEmpty, "\(missing.count) deliveries missing, e.g. \(missing.prefix(3))")
        #expect(unexpected.isEmpty, "deliveries nobody subscribed to: \(unexpected.prefix(3))")
        #expect(setup.listen.entries.allSatisfy { $0.verified }, "every signature verifies")
        let duplicates = received.count - Set(received).count
        // What the fan-out step itself repeated: deliveries written twice to the deliveries topic.
        let written = try await SuiteKafka.readAll(topic: "webhooks.deliveries", partitions: 4, bootstrap: bootstrap).map { record in
            "\(String(decoding: record.key ?? [], as: UTF8.self)) \(record.headers.first { $0.key == "webhook-id" }?.stringValue ?? "")"
        }
        let fannedOutTwice = written.count - Set(written).count
        #expect(Set(written) == expected, "the deliveries topic holds every subscribed delivery and no other")
        // librdkafka's mock broker (the embedded one) shows records of aborted and open
        // transactions, drops transactional offsets and refuses commits while the group rebalances
        // (docs/fan-out.md): the killed replica's open batch is written again by the next owner, and
        // each of the two rebalances may repeat one batch per member (a batch is what a replica had
        // buffered: ~100 events in steady flow, up to 2,000 after a pause). Measured 0–446 of 7,998.
        // Bound: half. Losing the position (offsets never committed: every rebalance fans out again
        // from the start, after a fifth and after most of the events) repeats more than that.
        ReliabilityReport.record("r8", [
            "deliveries": "\(expected.count)", "fanned out twice": "\(fannedOutTwice)", "delivered twice": "\(duplicates)",
        ])
        #expect(fannedOutTwice <= expected.count / 2, "\(fannedOutTwice) deliveries fanned out twice")
        passed = all && missing.isEmpty && unexpected.isEmpty
    }

    /// The relay's glob (`*` any run, `?` one character), for the expectation.
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let regex = "^" + NSRegularExpression.escapedPattern(for: pattern).replacingOccurrences(of: "\\*", with: ".*")
            .replacingOccurrences(of: "\\?", with: ".") + "$"
        return text.range(of: regex, options: .regularExpression) != nil
    }
}
