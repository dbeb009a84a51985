import Foundation
import Kafka
import Testing
import WebhookReceiver
@testable import WebhookRelay
import WebhookSignature

/// `dlq` and `republish` against the embedded broker and a real receiver.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct DeadLetterTests {
    @Test func republishBringsBackEveryDeadDeliveryOnceWithItsWebhookID() async throws {
        // The endpoint fails its first 1,000 requests, then recovers.
        let receiverEndpoints = try [
            WebhookReceiver.Endpoint(id: "x", verifier: TestSecrets.verifier(.standard), behaviour: .init(failFirstRequests: 1_000)),
        ]
        try await RelayTestEnvironment.with(schedule: "none", receiverEndpoints: receiverEndpoints) { env in
            let ids = (0..<1_000).map { "msg_dead_\($0)" }
            try await env.produce(ids.map { env.delivery(endpoint: "x", id: $0, body: Array($0.utf8)) })
            let yaml = "endpoints:\n" + DeliveryPolicyTests.endpoint(env, "x", "circuit_failure_threshold: 100000\nmax_in_flight: 64")
            let replica = try env.startReplica(endpointsYAML: yaml)
            let dead = try await env.read(topic: env.topics.deadLetters, count: 1_000, timeout: .seconds(60))
            #expect(dead.count == 1_000)

            let republisher = Republisher(bootstrapServers: env.broker.bootstrapServers, topics: env.topics, logger: RelayTestEnvironment.logger)
            var options = Republisher.Options()
            options.filter.endpointID = "x"
            let (first, _) = try await republisher.run(options)
            #expect(first.republished == 1_000)
            #expect(first.matched == 1_000)

            let delivered = await env.waitForRequests(timeout: .seconds(60)) { $0.filter { $0.status == 204 }.count == 1_000 }
            #expect(delivered)
            let redelivered = env.receiver.requests.filter { $0.status == 204 }
            #expect(Set(redelivered.map(\.webhookID)) == Set(ids), "each delivery came back with its original webhook-id")
            #expect(redelivered.allSatisfy { $0.verified && $0.body == Array($0.webhookID.utf8) })

            let (second, _) = try await republisher.run(options)
            #expect(second.republished == 0, "a second run republishes nothing")
            #expect(second.skippedReplayed == 1_000)
            try await replica.stop()

            // The archive shows the marks as "re-enqueued at".
            let archive = try await DeadLetterArchive.read(bootstrapServers: env.broker.bootstrapServers, topics: env.topics, logger: RelayTestEnvironment.logger)
            #expect(archive.entries.count == 1_000)
            #expect(archive.entries.allSatisfy { $0.replayedAt != nil })
        }
    }

    @Test func filtersSelectExactlyTheMatchingEntries() async throws {
        try await RelayTestEnvironment.with(receiverEndpoints: []) { env in
            let base: Int64 = 1_700_000_000_000
            var records: [KafkaProducerRecord] = []
            for index in 0..<60 {
                records.append(DeadLetterFixtures.entry(
                    env.topics, endpoint: ["a", "b", "c"][index % 3], event: index % 2 == 0 ? "order.paid" : "invoice.sent",
                    reason: ["exhausted", "gone", "malformed", "exhausted"][index % 4], diedAt: base + Int64(index) * 1_000,
                    id: "msg_f_\(index)", partition: Int32(index % 4)
                ))
            }
            try await env.produce(records)
            let republisher = Republisher(bootstrapServers: env.broker.bootstrapServers, topics: env.topics, logger: RelayTestEnvironment.logger)
            let archive = try await DeadLetterArchive.read(bootstrapServers: env.broker.bootstrapServers, topics: env.topics, logger: RelayTestEnvironment.logger)
            #expect(archive.entries.count == 60)

            var cases: [(DeadLetterFilter, Int)] = []
            var byEndpoint = DeadLetterFilter(); byEndpoint.endpointID = "a"; cases.append((byEndpoint, 20))
            var byEvent = DeadLetterFilter(); byEvent.event = "invoice.sent"; cases.append((byEvent, 30))
            var byReason = DeadLetterFilter(); byReason.reason = "exhausted"; cases.append((byReason, 30))
            var window = DeadLetterFilter(); window.since = base + 10_000; window.until = base + 20_000; cases.append((window, 10))
            var combined = DeadLetterFilter(); combined.endpointID = "b"; combined.reason = "gone"; cases.append((combined, 5))
            let picked = Array(archive.entries.prefix(3)).map(\.id)
            var byID = DeadLetterFilter(); byID.ids = Set(picked); cases.append((byID, 3))
            for (filter, expected) in cases {
                let listed = archive.select(filter)
                #expect(listed.count == expected)
                var options = Republisher.Options()
                options.filter = filter
                options.dryRun = true
                let (summary, planned) = try await republisher.run(options)
                #expect(summary.republished == expected)
                #expect(Set(planned.map(\.id)) == Set(listed.map(\.id)), "dry run and list agree")
            }
            // Most recent death first.
            let newest = archive.select(DeadLetterFilter()).map { $0.diedAt ?? 0 }
            #expect(newest == newest.sorted(by: >))
            // A dry run changes nothing.
            let after = try await DeadLetterArchive.read(bootstrapServers: env.broker.bootstrapServers, topics: env.topics, logger: RelayTestEnvironment.logger)
            #expect(after.entries.allSatisfy { $0.replayedAt == nil })
        }
    }

    @Test func rateIsHeldWithinTenPercent() async throws {
        try await RelayTestEnvironment.with(partitions: 4, receiverEndpoints: []) { env in
            try await env.produce((0..<500).map {
                DeadLetterFixtures.entry(env.topics, endpoint: "r", event: "e", reason: "exhausted", diedAt: 1_700_000_000_000, id: "msg_r_\($0)", partition: Int32($0 % 4))
            })
            let republisher = Republisher(bootstrapServers: env.broker.bootstrapServers, topics: env.topics, logger: RelayTestEnvironment.logger)
            var options = Republisher.Options()
            options.rate = RateLimit.Rate("100/s")
            let started = ContinuousClock.now
            let (summary, _) = try await republisher.run(options)
            let elapsed = ContinuousClock.now - started
            #expect(summary.republished == 500)
            let marks = try await env.read(topic: env.topics.replayed, count: 500)
            let times = marks.compactMap { String(validating: $0.value, as: UTF8.self).flatMap { Int64($0) } }.sorted()
            #expect(times.count == 500)
            if let first = times.first, let last = times.last, last > first {
                let rate = Double(times.count - 1) * 1_000 / Double(last - first)
                #expect(abs(rate - 100) <= 10, "measured \(rate)/s")
            }
            #expect(elapsed >= .seconds(4.5))
        }
    }

    @Test func replayRecordKeepsKeyBodyHeadersAndPartitionAndResetsAttempts() throws {
        let topics = try RelayTopics()
        let record = KafkaConsumerRecord(
            topicPartition: .init(topic: topics.deadLetters, partition: 3), offset: 1042, key: Array("ep".utf8), value: [9, 8],
            headers: [
                KafkaHeader(key: "webhook-event", value: "a.b"), KafkaHeader(key: "x-trace", value: "t"),
                KafkaHeader(key: RelayHeader.attempts, value: "9"), KafkaHeader(key: RelayHeader.deadLetterReason, value: "exhausted"),
                KafkaHeader(key: RelayHeader.originTopic, value: topics.deliveries), KafkaHeader(key: RelayHeader.originPartition, value: "3"),
                KafkaHeader(key: RelayHeader.originOffset, value: "77"),
            ]
        )
        let entry = DeadLetter(record: record)
        #expect(entry.id.description == "3-1042")
        #expect(DeadLetter.ID("3-1042") == entry.id)
        #expect(DeadLetter.ID("3-") == nil && DeadLetter.ID("-1") == nil && DeadLetter.ID("a-1") == nil)
        let replay = entry.replay(to: topics.deliveries, at: 1_700_000_000_123)
        #expect(replay.topic == topics.deliveries && replay.partition == 3 && replay.key == Array("ep".utf8) && replay.value == [9, 8])
        #expect(replay.headers.map(\.key) == ["webhook-event", "x-trace", "webhook-id", "replayed-from"])
        #expect(replay.headers.first(named: "webhook-id")?.stringValue
            == DeliveryRecord.derivedID(.init(topic: topics.deliveries, partition: 3, offset: 77)))
        #expect(replay.headers.first(named: "replayed-from")?.stringValue == "3-1042 1700000000123")
    }
}

/// Synthetic dead letters, as the relay writes them.
enum DeadLetterFixtures {
    static func entry(
        _ topics: RelayTopics, endpoint: String, event: String, reason: String, diedAt: Int64, id: String, partition: Int32
    ) -> KafkaProducerRecord {
        KafkaProducerRecord(
            topic: topics.deadLetters, partition: partition, key: Array(endpoint.utf8), value: Array("{\"id\":\"\(id)\"}".utf8),
            headers: [
                KafkaHeader(key: "webhook-event", value: event), KafkaHeader(key: "webhook-id", value: id),
                KafkaHeader(key: RelayHeader.attempts, value: "9"), KafkaHeader(key: RelayHeader.lastStatus, value: "503"),
                KafkaHeader(key: RelayHeader.lastError, value: "HTTP 503"), KafkaHeader(key: RelayHeader.deadLetterReason, value: reason),
                KafkaHeader(key: RelayHeader.diedAt, value: String(diedAt)),
            ]
        )
    }
}
