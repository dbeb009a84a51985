import Foundation
import Kafka
import Testing

/// R5: SIGTERM under load, then a restart: what was finished before the stop is never delivered
/// again, and the replica exits 0 after draining.
@Suite(.serialized, .timeLimit(.minutes(30)))
struct GracefulStopReliabilityTests {
    @Test func sigtermUnderLoadRedeliversNothingFinished() async throws {
        let profile = ReliabilityProfile.current
        let scenario = try Scenario("r5")
        var passed = false
        defer { scenario.finish(keep: !passed) }
        let endpoints = try SuiteEndpoints(scenario: scenario, count: 10)
        // 5 ms per answer keeps hundreds of deliveries in flight when the signal comes.
        let setup = try SuiteSetup(scenario: scenario, endpoints: endpoints, partitions: 8, retrySchedule: "1s", behaviours: ["*:delay=5ms"])
        let count = profile.gracefulRecords
        let records = (0..<count).map { index in
            SuiteEndpoints.record(
                topic: setup.deliveriesTopic, endpoint: endpoints.ids[index % endpoints.ids.count], id: "r5_\(index)",
                body: Array("{\"n\":\(index)}".utf8)
            )
        }
        try await SuiteKafka.produce(records, bootstrap: setup.broker.bootstrap)
        // One replica: a graceful stop commits on leaving; with several, the others' rebalance
        // commit is refused by this broker (see R1), which would blur what this scenario checks.
        let replica = try setup.startReplica("replica", group: "r5")
        let started = ContinuousClock.now

        var stops: [(finished: Set<String>, at: Int64, status: Int32?, seconds: Double)] = []
        for stop in 1...profile.gracefulStops {
            let target = count * stop / (profile.gracefulStops + 1)
            _ = try await setup.listen.wait(upTo: profile.limit(120)) { $0.delivered.count >= target }
            let signalled = ContinuousClock.now
            let status = replica.stop(timeout: .seconds(40))
            let stoppedAt = Int64(Date().timeIntervalSince1970 * 1_000)
            // Everything the receiver logged up to the exit was finished before the stop.
            try await Task.sleep(for: .milliseconds(300))
            try setup.listen.refresh()
            stops.append((setup.listen.delivered, stoppedAt, status, (ContinuousClock.now - signalled) / .seconds(1)))
            try replica.restart()
        }
        let allDelivered = try await setup.listen.wait(upTo: profile.limit(180)) { $0.delivered.count >= count }
        let elapsed = ContinuousClock.now - started
        let finalStatus = replica.stop()

        let listen = setup.listen
        var redelivered: [String] = []
        for stop in stops {
            for entry in listen.entries where entry.received_at_ms > stop.at && stop.finished.contains(entry.webhook_id) {
                redelivered.append(entry.webhook_id)
            }
        }
        let missing = (0..<count).map { "r5_\($0)" }.filter { !listen.delivered.contains($0) }
        ReliabilityReport.record("R5 graceful stop", [
            "records": "\(count)", "stops": "\(stops.count)", "exit statuses": "\(stops.map { $0.status.map(String.init) ?? "killed" })",
            "stop times": stops.map { String(format: "%.1f s", $0.seconds) }.joined(separator: " "),
            "redelivered after finishing": "\(redelivered.count)", "duplicates": "\(listen.duplicateDeliveries)", "lost": "\(missing.count)",
            "time": String(format: "%.1f s", elapsed / .seconds(1)),
        ])
        #expect(allDelivered && missing.isEmpty, "lost \(missing.count) records")
        #expect(redelivered.isEmpty, "finished before a stop, delivered again: \(redelivered.prefix(5))")
        #expect(stops.allSatisfy { $0.status == 0 } && finalStatus == 0, "a stop was not clean: \(stops.map(\.status))")
        let allVerified = listen.entries.allSatisfy { $0.verified }
        #expect(allVerified)
        #expect(scenario.leakedSecrets().isEmpty, "secrets in process output: \(scenario.leakedSecrets())")
        passed = missing.isEmpty && redelivered.isEmpty
        setup.broker.stop()
    }
}
