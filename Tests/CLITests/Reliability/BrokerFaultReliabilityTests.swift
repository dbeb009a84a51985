import Foundation
import Kafka
import Testing

/// R2: the broker goes down, answers slowly, and fails produce and commit requests while records
/// flow through the delay topics: nothing is lost and no retry comes before it is due.
@Suite(.serialized, .timeLimit(.minutes(30)))
struct BrokerFaultReliabilityTests {
    @Test func brokerFaultsLoseNothingAndDelayNothingEarly() async throws {
        let profile = ReliabilityProfile.current
        let scenario = try Scenario("r2")
        var passed = false
        defer { scenario.finish(keep: !passed) }
        let endpoints = try SuiteEndpoints(scenario: scenario, count: 10)
        // Every first attempt fails, so every record also travels through the delay topic.
        let setup = try SuiteSetup(
            scenario: scenario, endpoints: endpoints, partitions: 8, retrySchedule: "1s,2s", behaviours: ["*:fail-first=1"],
            defaults: ["circuit_failure_threshold: 1000000"]
        )
        let broker = setup.broker
        // The mock broker keeps an idempotent producer's sequence window across an epoch bump, so
        // after a disconnect with produces in flight it acknowledges the next batches as "legal
        // duplicates" without writing them (real Kafka starts the new epoch at sequence 0). With
        // idempotence off the replicas stay at least once (acks=all, retries) and this broker
        // keeps what it acknowledges. See docs/reliability.md.
        let replicas = try (0..<2).map {
            try setup.startReplica("replica-\($0)", group: "r2", extra: ["--kafka", "enable.idempotence=false"])
        }

        let faults: [(name: String, start: [String], end: [String], duration: Duration)] = [
            ("500 ms round trips", ["rtt all 500ms"], ["rtt all 0ms"], .seconds(5)),
            ("broker down 5 s", ["down all"], ["up all"], .seconds(5)),
            (
                "produce errors on the delay topics",
                [
                    "topic-error webhooks.retry.1s LEADER_NOT_AVAILABLE",
                    "request-errors produce " + Array(repeating: "NOT_LEADER_FOR_PARTITION", count: 10).joined(separator: ","),
                ],
                ["topic-error webhooks.retry.1s NO_ERROR"], .seconds(3)
            ),
            (
                "commit errors", ["request-errors offset-commit " + Array(repeating: "REQUEST_TIMED_OUT", count: 10).joined(separator: ",")],
                [], .seconds(3)
            ),
        ]
        let perPhase = profile.brokerFaultRecords / faults.count
        let started = ContinuousClock.now
        var produced = 0
        for (phase, fault) in faults.enumerated() {
            let records = (0..<perPhase).map { index in
                SuiteEndpoints.record(
                    topic: setup.deliveriesTopic, endpoint: endpoints.ids[index % endpoints.ids.count], id: "r2_\(phase)_\(index)",
                    body: Array("{\"phase\":\(phase),\"n\":\(index)}".utf8)
                )
            }
            try await SuiteKafka.produce(records, bootstrap: broker.bootstrap)
            produced += records.count
            // Let the phase's first attempts start, then break the broker while retries are due.
            _ = try await setup.listen.wait(upTo: .seconds(30)) { $0.entries.count >= produced - perPhase / 2 }
            for command in fault.start { try broker.control(command) }
            try await Task.sleep(for: fault.duration)
            for command in fault.end { try broker.control(command) }
        }
        let ids = (0..<faults.count).flatMap { phase in (0..<perPhase).map { "r2_\(phase)_\($0)" } }
        let allDelivered = try await setup.listen.wait(upTo: profile.limit(180)) { $0.delivered.count >= ids.count }
        let elapsed = ContinuousClock.now - started
        let statuses = replicas.map { $0.stop() }

        let listen = setup.listen
        let missing = ids.filter { !listen.delivered.contains($0) }
        let unverified = listen.entries.filter { !$0.verified }
        let early = listen.earlyAttempts { failedAttempt, _ in failedAttempt == 1 ? 1_000 : 2_000 }
        ReliabilityReport.record("R2 broker faults", [
            "records": "\(ids.count)", "faults": faults.map(\.name).joined(separator: "; "), "lost": "\(missing.count)",
            "early": "\(early.count)", "unverified": "\(unverified.count)", "duplicates": "\(listen.duplicateDeliveries)",
            "time": String(format: "%.1f s", elapsed / .seconds(1)),
        ])
        if !missing.isEmpty {
            let whereabouts = try await SuiteKafka.locate(
                ids: Set(missing.prefix(20)), topics: ["webhooks.deliveries", "webhooks.retry.1s", "webhooks.retry.2s", "webhooks.dlq"],
                partitions: setup.partitions, bootstrap: broker.bootstrap, group: "r2"
            )
            print("reliability: R2 missing records:\n" + whereabouts.joined(separator: "\n"))
        }
        #expect(allDelivered && missing.isEmpty, "lost \(missing.count) records, e.g. \(missing.prefix(5))")
        #expect(early.isEmpty, "retried before due: \(early.prefix(5))")
        #expect(unverified.isEmpty)
        #expect(statuses.allSatisfy { $0 == 0 }, "replicas did not stop cleanly: \(statuses)")
        #expect(scenario.leakedSecrets().isEmpty, "secrets in process output: \(scenario.leakedSecrets())")
        passed = allDelivered && missing.isEmpty && early.isEmpty && unverified.isEmpty
        broker.stop()
    }
}
