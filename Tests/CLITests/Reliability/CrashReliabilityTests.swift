import Foundation
import Kafka
import Testing

/// R1: replicas are killed with SIGKILL at random moments and restarted; nothing is lost.
@Suite(.serialized, .timeLimit(.minutes(30)))
struct CrashReliabilityTests {
    /// Each replica's `--max-in-flight`.
    static let maxInFlight = 64

    @Test func killNineOfRandomReplicasLosesNothing() async throws {
        let profile = ReliabilityProfile.current
        let scenario = try Scenario("r1")
        var passed = false
        defer { scenario.finish(keep: !passed) }
        let endpoints = try SuiteEndpoints(scenario: scenario, count: profile.crashEndpoints)
        let setup = try SuiteSetup(scenario: scenario, endpoints: endpoints, partitions: profile.crashPartitions, retrySchedule: "1s,2s")

        let count = profile.crashRecords
        var generator = SystemRandomNumberGenerator()
        let records = (0..<count).map { index in
            SuiteEndpoints.record(
                topic: setup.deliveriesTopic, endpoint: endpoints.ids[index % endpoints.ids.count], id: "r1_\(index)",
                body: Array("{\"n\":\(index),\"pad\":\"\(String(repeating: "x", count: Int.random(in: 0...300, using: &generator)))\"}".utf8)
            )
        }
        try await SuiteKafka.produce(records, bootstrap: setup.broker.bootstrap)

        let replicas = try (0..<3).map { index in
            try setup.startReplica("replica-\(index)", group: "r1", extra: ["--max-in-flight", String(Self.maxInFlight)])
        }
        let started = ContinuousClock.now
        // Kill when the delivered count passes random fractions of the total, so every kill lands
        // while records are moving — and only once deliveries have flowed for a second since the
        // group re-formed after the last kill: the records the last kill left unrecorded have been
        // delivered again and recorded by then, so no record is repeated by two kills.
        // One window of progress per kill (0.05-0.2, 0.35-0.5, 0.65-0.8 with three), so that the
        // stream outlasts every hand-over: one takes about the 6 s session timeout plus 1 s of
        // steady deliveries, while the survivors go on with their partitions.
        let span = 0.9 / Double(profile.crashKills)
        let thresholds = (0..<profile.crashKills).map { kill in 0.05 + Double(kill) * span + Double.random(in: 0...(span / 2), using: &generator) }
        var kills: [String] = []
        for threshold in thresholds {
            let reached = try await setup.listen.wait(upTo: profile.limit(180)) { $0.delivered.count >= Int(threshold * Double(count)) }
            #expect(reached, "deliveries stalled before \(Int(threshold * 100)) %")
            if !kills.isEmpty {
                let steady = try await setup.listen.waitForSteadyDeliveries(.seconds(1), orAll: count, upTo: profile.limit(120))
                #expect(steady, "deliveries did not resume after \(kills.last ?? "")")
            }
            // Everything delivered already (two thresholds close together near the end): a kill
            // now would not land while records are moving.
            if setup.listen.delivered.count >= count { break }
            let victim = replicas.randomElement(using: &generator)!
            victim.kill9()
            kills.append("\(victim.name)@\(setup.listen.delivered.count)")
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...1_500, using: &generator)))
            try victim.restart()
        }
        let allDelivered = try await setup.listen.wait(upTo: profile.limit(240)) { $0.delivered.count >= count }
        let elapsed = ContinuousClock.now - started
        // A replica restarted a moment ago may not have trapped SIGTERM yet; stopping it then
        // would test the kernel's default action, not the relay's graceful stop.
        for replica in replicas {
            let ready = try await replica.waitUntilEveryStartLogged("Starting relay", upTo: profile.limit(30))
            #expect(ready, "\(replica.name) did not log its start")
        }
        let statuses = replicas.map { $0.stop() }

        let listen = setup.listen
        let missing = (0..<count).map { "r1_\($0)" }.filter { !listen.delivered.contains($0) }
        let unverified = listen.entries.filter { !$0.verified }
        let duplicates = listen.duplicateDeliveries
        let most = listen.mostDeliveriesOfOneID
        let peak = listen.peakDeliveriesPerSecond
        // The duplicate bound (docs/reliability.md): a kill repeats what the dead replica had on
        // the wire (at most its --max-in-flight) and what it finished since its last progress entry
        // was acknowledged (at most the 250 ms commit interval and the write's round trip, of its
        // rate, which the group's peak bounds): 0.5 s of peak is allowed. Rebalances repeat
        // nothing here: the survivors write what they finished before they let a partition go,
        // and the next owner skips it.
        let bound = kills.count * (Self.maxInFlight + peak / 2)
        ReliabilityReport.record("R1 crash", [
            "records": "\(count)", "endpoints": "\(endpoints.ids.count)", "replicas": "3", "kills": "\(kills.count)",
            "lost": "\(missing.count)", "unverified": "\(unverified.count)", "duplicates": "\(duplicates) (bound \(bound))", "most of one id": "\(most.count)", "peak": "\(peak)/s",
            "time": String(format: "%.1f s", elapsed / .seconds(1)),
        ])
        let trimmed = missing.isEmpty ? [] : try await SuiteKafka.trimmedPartitions(
            topic: setup.deliveriesTopic, partitions: setup.partitions, bootstrap: setup.broker.bootstrap
        )
        #expect(allDelivered && missing.isEmpty, "lost \(missing.count) records, e.g. \(missing.prefix(5)); kills \(kills); broker retention trimmed: \(trimmed)")
        #expect(unverified.isEmpty, "signatures that failed: \(unverified.prefix(3).map { "\($0.webhook_id): \($0.error ?? "")" })")
        #expect(duplicates <= bound, "duplicates \(duplicates) over the bound \(bound)")
        #expect(most.count <= 2, "\(most.id) was delivered \(most.count) times: one kill repeats a record at most once")
        #expect(kills.count == profile.crashKills, "only \(kills.count) kills landed before everything was delivered: \(kills)")
        #expect(statuses.allSatisfy { $0 == 0 }, "replicas did not stop cleanly: \(statuses)")
        #expect(scenario.leakedSecrets().isEmpty, "secrets in process output: \(scenario.leakedSecrets())")
        passed = allDelivered && missing.isEmpty && unverified.isEmpty && duplicates <= bound && most.count <= 2
        setup.broker.stop()
    }
}
