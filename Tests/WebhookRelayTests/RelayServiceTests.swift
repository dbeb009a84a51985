import Foundation
import Kafka
import Testing
import WebhookReceiver
import WebhookRelay
import WebhookSignature

/// `webhook-relay run`'s pipeline end to end: embedded broker, relay replicas in-process, a real
/// HTTP receiver on 127.0.0.1 that verifies every signature.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RelayServiceTests {
    static func endpointsYAML(_ url: String, _ endpoints: [(id: String, scheme: SignatureScheme)], circuitThreshold: Int = 5) -> String {
        var yaml = "endpoints:\n"
        for endpoint in endpoints {
            yaml += """
                  - id: \(endpoint.id)
                    url: \(url)/\(endpoint.id)
                    scheme: \(endpoint.scheme.rawValue)
                    secrets: ["\(TestSecrets.yamlSecret(endpoint.scheme))"]
                    timeout: 2s
                    circuit_failure_threshold: \(circuitThreshold)

                """
        }
        return yaml
    }

    @Test func everySchemeArrivesSignedWithTheBodyByteForByte() async throws {
        let schemes: [(id: String, scheme: SignatureScheme)] = [("std", .standard), ("nself", .nself), ("ed", .ed25519)]
        let receiverEndpoints = try schemes.map { WebhookReceiver.Endpoint(id: $0.id, verifier: try TestSecrets.verifier($0.scheme)) }
        try await RelayTestEnvironment.with(receiverEndpoints: receiverEndpoints) { env in
            var sent: [String: [UInt8]] = [:]
            var records: [KafkaProducerRecord] = []
            for (id, _) in schemes {
                for index in 0..<20 {
                    let webhookID = "msg_\(id)_\(index)"
                    // Unicode, escapes and a trailing newline: bytes must not be re-encoded.
                    let body = Array("{\"n\":\(index),\"text\":\"caf\u{e9} \\u00e9 \u{1F600}\"}\n".utf8)
                    sent[webhookID] = body
                    records.append(env.delivery(endpoint: id, event: "order.created", id: webhookID, body: body))
                }
            }
            try await env.produce(records)
            let replica = try env.startReplica(endpointsYAML: Self.endpointsYAML(env.receiverURL, schemes))
            let arrived = await env.waitForRequests { Set($0.map(\.webhookID)).count == 60 }
            try await replica.stop()
            #expect(arrived)

            let requests = env.receiver.requests
            let unverified = requests.filter { !$0.verified }.map { $0.verificationError ?? "" }
            #expect(unverified.isEmpty, "\(unverified)")
            for request in requests {
                #expect(request.body == sent[request.webhookID], "body of \(request.webhookID)")
                #expect(request.header("User-Agent")?.hasPrefix("webhook-relay/") == true)
            }
            #expect(requests.filter { $0.endpointID == "nself" }.allSatisfy {
                $0.header("X-Nself-Event") == "order.created" && $0.header("X-Nself-Signature-256")?.hasPrefix("sha256=") == true
            })
            #expect(requests.filter { $0.endpointID == "std" }.allSatisfy { $0.header("webhook-signature")?.hasPrefix("v1,") == true })
            #expect(requests.filter { $0.endpointID == "ed" }.allSatisfy { $0.header("webhook-signature")?.hasPrefix("v1a,") == true })
        }
    }

    @Test func failingFirstAttemptsSucceedsOnTheNextAttemptNeverBeforeItIsDue() async throws {
        let behaviour = WebhookReceiver.Behaviour(failFirstAttempts: 2)
        let receiverEndpoints = [WebhookReceiver.Endpoint(id: "flaky", verifier: try TestSecrets.verifier(.standard), behaviour: behaviour)]
        try await RelayTestEnvironment.with(schedule: "300ms,700ms,1s", receiverEndpoints: receiverEndpoints) { env in
            try await env.produce((0..<10).map { env.delivery(endpoint: "flaky", id: "msg_flaky_\($0)", body: Array("{\"i\":\($0)}".utf8)) })
            // Ten messages failing twice each would open the circuit: this test is about the schedule.
            let replica = try env.startReplica(endpointsYAML: Self.endpointsYAML(env.receiverURL, [("flaky", .standard)], circuitThreshold: 100))
            let done = await env.waitForRequests { requests in requests.filter { $0.status == 204 }.count == 10 }
            try await Task.sleep(for: .seconds(1))  // no further attempts may follow a success
            try await replica.stop()
            #expect(done)

            let byID = Dictionary(grouping: env.receiver.requests, by: \.webhookID)
            #expect(byID.count == 10)
            for (id, requests) in byID {
                #expect(requests.map(\.attempt) == [1, 2, 3], "attempts of \(id)")
                #expect(requests.map(\.status) == [500, 500, 204], "statuses of \(id)")
                // Attempt k+1 is due `delay k` after attempt k failed; it never arrives earlier.
                let delays: [Int64] = [300, 700]
                for k in 0..<2 {
                    let gap = requests[k + 1].receivedAtMilliseconds - requests[k].receivedAtMilliseconds
                    #expect(gap >= delays[k], "\(id): attempt \(k + 2) came \(gap) ms after attempt \(k + 1)")
                }
            }
        }
    }

    /// Regression (fuzzing, session 2): a delay-topic record due in the year 9999 would keep its
    /// partition paused until then. It is attempted at the topic's delay instead, and the record
    /// behind it in the same partition is not held up longer.
    @Test func aDelayTopicRecordDueFarAwayIsAttemptedAtTheTopicsDelay() async throws {
        let receiverEndpoints = [WebhookReceiver.Endpoint(id: "orders", verifier: try TestSecrets.verifier(.standard))]
        try await RelayTestEnvironment.with(schedule: "1s", receiverEndpoints: receiverEndpoints) { env in
            let retryTopic = env.topics.retry(.seconds(1))
            let records = ["msg_far", "msg_next"].map { id in
                var record = env.delivery(endpoint: "orders", id: id, body: Array("{}".utf8), extraHeaders: [
                    KafkaHeader(key: "relay-attempts", value: "1"),
                    KafkaHeader(key: "relay-due-at", value: id == "msg_far" ? "253402300799999" : "0"),
                ], partition: 0)
                record.topic = retryTopic
                return record
            }
            let replica = try env.startReplica(endpointsYAML: Self.endpointsYAML(env.receiverURL, [("orders", .standard)]))
            let started = ContinuousClock.now
            _ = try await env.produce(records)
            let done = await env.waitForRequests(timeout: .seconds(30)) { $0.filter { $0.status == 204 }.count == 2 }
            let elapsed = ContinuousClock.now - started
            try await replica.stop()
            #expect(done, "the far-future record held its partition")
            #expect(Set(env.receiver.requests.map(\.webhookID)) == ["msg_far", "msg_next"])
            #expect(elapsed < .seconds(15))
        }
    }

    @Test func alwaysFailingEndpointEndsOnTheDeadLetterTopicWithEveryHopHeader() async throws {
        let receiverEndpoints = [WebhookReceiver.Endpoint(
            id: "down", verifier: try TestSecrets.verifier(.standard), behaviour: .init(alwaysFail: true, failureStatus: 503)
        )]
        try await RelayTestEnvironment.with(schedule: "200ms,400ms", receiverEndpoints: receiverEndpoints) { env in
            let body = Array("{\"dead\":true}".utf8)
            // No webhook-id: the relay derives one and keeps it on every attempt.
            let record = env.delivery(endpoint: "down", event: "invoice.paid", body: body, extraHeaders: [KafkaHeader(key: "x-trace", value: "abc")])
            let report = try #require(try await env.produce([record]).first)
            let started = Int64(Date().timeIntervalSince1970 * 1_000)
            let replica = try env.startReplica(endpointsYAML: Self.endpointsYAML(env.receiverURL, [("down", .standard)]))
            let dead = try await env.read(topic: env.topics.deadLetters, count: 1)
            try await Task.sleep(for: .milliseconds(500))
            try await replica.stop()

            let requests = env.receiver.requests
            #expect(requests.count == 3, "the schedule allows exactly 3 attempts")
            #expect(Set(requests.map(\.webhookID)).count == 1)
            let entry = try #require(dead.first)
            func header(_ name: String) -> String? { entry.headers.first(named: name)?.stringValue }
            #expect(entry.partition == report.partition)
            #expect(entry.key == Array("down".utf8))
            #expect(entry.value == body)
            #expect(header("webhook-event") == "invoice.paid")
            #expect(header("x-trace") == "abc")
            #expect(header("webhook-id") == requests.first?.webhookID)
            #expect(header(RelayHeader.deadLetterReason) == "exhausted")
            #expect(header(RelayHeader.attempts) == "3")
            #expect(header(RelayHeader.lastStatus) == "503")
            #expect(header(RelayHeader.lastError)?.hasPrefix("HTTP 503") == true)
            #expect(header(RelayHeader.originTopic) == env.topics.deliveries)
            #expect(header(RelayHeader.originPartition) == String(report.partition))
            #expect(header(RelayHeader.originOffset) == String(report.offset))
            let firstAttempt = try #require(header(RelayHeader.firstAttemptAt).flatMap { Int64($0) })
            let diedAt = try #require(header(RelayHeader.diedAt).flatMap { Int64($0) })
            #expect(firstAttempt >= started - 1_000 && diedAt >= firstAttempt + 600)
            // Every relay header once: hops replace, never duplicate.
            for name in RelayHeader.written where name != RelayHeader.dueAt && name != RelayHeader.bodyOmitted {
                #expect(entry.headers.filter { $0.key == name }.count == 1, "\(name)")
            }
        }
    }

    /// Issue 15, defect 1: a 1,040,000-byte body (within the 1 MiB body limit, over librdkafka's
    /// default `message.max.bytes`) to a failing endpoint got one POST; then its hop to the delay
    /// topic was refused and retried every 5 s forever, and the partition's offsets never moved
    /// again. Now it runs its schedule; a record whose headers make every hop too large dies as
    /// `forward_failed`, kept without its body; the record behind them is not held up.
    @Test func recordsTooLargeToForwardEndOnTheDeadLetterTopicAndHoldNothingUp() async throws {
        let receiverEndpoints = [WebhookReceiver.Endpoint(
            id: "down", verifier: try TestSecrets.verifier(.standard), behaviour: .init(alwaysFail: true, failureStatus: 503)
        )]
        try await RelayTestEnvironment.with(schedule: "200ms", receiverEndpoints: receiverEndpoints) { env in
            let big = [UInt8](repeating: 0x61, count: 1_040_000)
            let heavyHeader = KafkaHeader(key: "x-attachment", value: [UInt8](repeating: 0x62, count: 1_120_000))
            try await env.produce([
                env.delivery(endpoint: "down", id: "big", body: big, partition: 1),
                env.delivery(endpoint: "down", id: "heavy", body: Array("{}".utf8), extraHeaders: [heavyHeader], partition: 1),
                env.delivery(endpoint: "down", id: "after", body: Array("{}".utf8), partition: 1),
            ])
            let replica = try env.startReplica(endpointsYAML: Self.endpointsYAML(env.receiverURL, [("down", .standard)]))
            let dead = try await env.read(topic: env.topics.deadLetters, count: 3)
            try await replica.stop()

            func header(_ record: KafkaConsumerRecord, _ name: String) -> String? { record.headers.first(named: name)?.stringValue }
            let byID = Dictionary(dead.map { (header($0, "webhook-id") ?? "?", $0) }, uniquingKeysWith: { first, _ in first })
            let attempts = Dictionary(grouping: env.receiver.requests, by: \.webhookID).mapValues(\.count)
            #expect(Set(byID.keys) == ["big", "heavy", "after"], "\(byID.keys)")
            let bigEntry = try #require(byID["big"])
            #expect(header(bigEntry, RelayHeader.deadLetterReason) == "exhausted" && bigEntry.value == big)
            #expect(attempts["big"] == 2, "the whole schedule, body byte for byte: \(attempts)")
            let heavyEntry = try #require(byID["heavy"])
            #expect(header(heavyEntry, RelayHeader.deadLetterReason) == "forward_failed")
            #expect(heavyEntry.value.isEmpty && header(heavyEntry, RelayHeader.bodyOmitted) == "2")
            #expect(header(heavyEntry, "x-attachment") == nil && header(heavyEntry, "webhook-event") == "order.created")
            #expect(header(heavyEntry, RelayHeader.lastError)?.contains("MSG_SIZE_TOO_LARGE") == true, "\(header(heavyEntry, RelayHeader.lastError) ?? "")")
            #expect(attempts["heavy"] == 1)
            #expect(header(try #require(byID["after"]), RelayHeader.deadLetterReason) == "exhausted" && attempts["after"] == 2)
        }
    }

    @Test func malformedRecordsAreDeadLetteredWithTheirReasonWhileGoodOnesAreDelivered() async throws {
        let receiverEndpoints = [WebhookReceiver.Endpoint(id: "good", verifier: try TestSecrets.verifier(.standard))]
        try await RelayTestEnvironment.with(receiverEndpoints: receiverEndpoints) { env in
            let deliveries = env.topics.deliveries
            let bad: [(String, KafkaProducerRecord)] = [
                ("malformed", KafkaProducerRecord(topic: deliveries, partition: 0, key: nil, value: [1], headers: [KafkaHeader(key: "webhook-event", value: "e")])),
                ("unknown_endpoint", env.delivery(endpoint: "nobody", body: [2])),
                ("malformed", env.delivery(endpoint: "good", event: nil, body: [3])),
                ("payload_too_large", env.delivery(endpoint: "good", body: [UInt8](repeating: 65, count: 2_048))),
                ("malformed", env.delivery(endpoint: "good", event: nil, body: [5], extraHeaders: [KafkaHeader(key: "webhook-event", value: [0xFF, 0xFE])])),
                ("malformed", env.delivery(endpoint: "good", id: "has.dot", body: [6])),
                ("malformed", KafkaProducerRecord(topic: deliveries, key: [0xC3, 0x28], value: [7], headers: [KafkaHeader(key: "webhook-event", value: "e")])),
            ]
            var records: [KafkaProducerRecord] = []
            for index in 0..<30 {
                records.append(env.delivery(endpoint: "good", id: "msg_good_\(index)", body: Array("{\"i\":\(index)}".utf8)))
                if index < bad.count { records.append(bad[index].1) }
            }
            try await env.produce(records)
            let replica = try env.startReplica(
                endpointsYAML: Self.endpointsYAML(env.receiverURL, [("good", .standard)]), bodyLimit: 1_024
            )
            let dead = try await env.read(topic: env.topics.deadLetters, count: bad.count)
            let delivered = await env.waitForRequests { $0.filter { $0.status == 204 }.count == 30 }
            try await replica.stop()

            #expect(delivered)
            #expect(dead.count == bad.count)
            let reasons = dead.compactMap { $0.headers.first(named: RelayHeader.deadLetterReason)?.stringValue }.sorted()
            #expect(reasons == bad.map(\.0).sorted())
            // Bodies are kept as produced, so the entries can be inspected and republished.
            #expect(Set(dead.map(\.value)) == Set(bad.map(\.1.value)))
            #expect(dead.allSatisfy { $0.headers.first(named: RelayHeader.lastError) != nil })
        }
    }

    @Test func eventFilterSkipsRecordsWithoutDeliveringThem() async throws {
        let receiverEndpoints = [WebhookReceiver.Endpoint(id: "orders", verifier: try TestSecrets.verifier(.standard))]
        try await RelayTestEnvironment.with(receiverEndpoints: receiverEndpoints) { env in
            try await env.produce([
                env.delivery(endpoint: "orders", event: "order.created", id: "msg_a", body: [1]),
                env.delivery(endpoint: "orders", event: "invoice.paid", id: "msg_b", body: [2]),
                env.delivery(endpoint: "orders", event: "order.shipped", id: "msg_c", body: [3]),
            ])
            let yaml = Self.endpointsYAML(env.receiverURL, [("orders", .standard)]).replacingOccurrences(
                of: "    timeout: 2s", with: "    timeout: 2s\n    events: [\"order.*\"]"
            )
            let replica = try env.startReplica(endpointsYAML: yaml)
            let reached = await env.waitForRequests { $0.count == 2 }
            #expect(reached)
            try await Task.sleep(for: .milliseconds(500))
            try await replica.stop()
            #expect(Set(env.receiver.requests.map(\.webhookID)) == ["msg_a", "msg_c"])
            #expect(replica.relay.statistics.snapshot["orders"]?.skipped == 1)
        }
    }
}

/// Start-up checks, caps and HTTP rules of the pipeline.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RelayServicePolicyTests {
    @Test func perEndpointCapBoundsConcurrentRequests() async throws {
        let slow = WebhookReceiver.Behaviour(responseDelay: .milliseconds(50))
        let receiverEndpoints = [
            WebhookReceiver.Endpoint(id: "capped", verifier: try TestSecrets.verifier(.standard), behaviour: slow),
            WebhookReceiver.Endpoint(id: "wide", verifier: try TestSecrets.verifier(.standard), behaviour: slow),
        ]
        try await RelayTestEnvironment.with(receiverEndpoints: receiverEndpoints) { env in
            var records: [KafkaProducerRecord] = []
            for index in 0..<60 {
                records.append(env.delivery(endpoint: "capped", id: "msg_c_\(index)", body: [1]))
                records.append(env.delivery(endpoint: "wide", id: "msg_w_\(index)", body: [2]))
            }
            try await env.produce(records)
            let yaml = """
                endpoints:
                  - id: capped
                    url: \(env.receiverURL)/capped
                    secrets: ["\(TestSecrets.standard)"]
                    max_in_flight: 2
                  - id: wide
                    url: \(env.receiverURL)/wide
                    secrets: ["\(TestSecrets.standard)"]
                    max_in_flight: 16
                """
            let replica = try env.startReplica(endpointsYAML: yaml)
            let reached2 = await env.waitForRequests { $0.count == 120 }
            #expect(reached2)
            try await replica.stop()
            #expect(env.receiver.maxConcurrentRequests("capped") <= 2)
            #expect(env.receiver.maxConcurrentRequests("capped") == 2)
            #expect(env.receiver.maxConcurrentRequests("wide") > 2, "the other endpoint is not held to the cap")
        }
    }

    @Test func redirectIsAFailedAttemptAndNotFollowed() async throws {
        let receiverEndpoints = [WebhookReceiver.Endpoint(
            id: "moved", verifier: try TestSecrets.verifier(.standard), behaviour: .init(alwaysFail: true, failureStatus: 302)
        )]
        try await RelayTestEnvironment.with(schedule: "100ms", receiverEndpoints: receiverEndpoints) { env in
            try await env.produce([env.delivery(endpoint: "moved", id: "msg_moved", body: [1])])
            let replica = try env.startReplica(endpointsYAML: RelayServiceTests.endpointsYAML(env.receiverURL, [("moved", .standard)]))
            let dead = try await env.read(topic: env.topics.deadLetters, count: 1)
            try await replica.stop()
            #expect(env.receiver.requests.map(\.status) == [302, 302])
            #expect(dead.first?.headers.first(named: RelayHeader.lastStatus)?.stringValue == "302")
            #expect(dead.first?.headers.first(named: RelayHeader.deadLetterReason)?.stringValue == "exhausted")
        }
    }

    @Test func topicsWithDifferentPartitionCountsStopTheRelayWithAClearError() async throws {
        let broker = try EmbeddedBroker(logger: RelayTestEnvironment.logger)
        defer { broker.shutdown() }
        let topics = try RelayTopics(prefix: "mixed", schedule: RetrySchedule(parsing: "1s,5s"))
        for topic in topics.all { try broker.createTopic(topic, partitions: topic == "mixed.retry.5s" ? 3 : 4) }
        var configuration = RelayConfiguration(bootstrapServers: broker.bootstrapServers, topics: topics)
        configuration.sessionTimeout = .seconds(4)
        let endpoints = try EndpointsFile.parse(
            "endpoints:\n  - id: a\n    url: http://127.0.0.1:9/a\n    secrets: [\"\(TestSecrets.standard)\"]", environment: [:]
        )
        let relay = RelayService(configuration: configuration, endpoints: endpoints, logger: RelayTestEnvironment.logger)
        let error = await #expect(throws: ConfigurationError.self) { try await relay.run() }
        #expect(error?.message.contains("mixed.retry.5s has 3") == true, "\(String(describing: error))")
        #expect(error?.message.contains("mixed.deliveries (4)") == true)
    }

    @Test func topicPlanCoversEveryTopicWithRetention() throws {
        let topics = try RelayTopics(prefix: "p", schedule: RetrySchedule(parsing: "30s,5m,8d"))
        let plan = topics.plan(partitions: 12, replicationFactor: 3)
        #expect(plan.map(\.name) == [
            "p.deliveries", "p.retry.30s", "p.retry.5m", "p.retry.8d", "p.dlq", "p.dlq.replayed", "p.progress", "p.endpoint-status", "p.endpoints",
            "p.events", "p.operational",
        ])
        #expect(Set(plan.map(\.name)) == Set(topics.all), "topics create makes every topic the relay uses")
        #expect(plan.allSatisfy { $0.partitions == 12 && $0.replicationFactor == 3 })
        #expect(plan[1].config["retention.ms"] == String(7 * 86_400_000))
        #expect(plan[3].config["retention.ms"] == String(16 * 86_400_000), "twice a delay longer than a week")
        #expect(plan[4].config["retention.ms"] == String(90 * 86_400_000))
        #expect(plan[5].config["cleanup.policy"] == "compact")
        #expect(plan[6].config["cleanup.policy"] == "compact")
        #expect(plan[7].config["cleanup.policy"] == "compact")
        #expect(plan[8].config["cleanup.policy"] == "compact" && plan[8].config["delete.retention.ms"] == String(7 * 86_400_000))
        // Events hold bodies like deliveries; operational events are small.
        #expect(plan[9].config == ["retention.ms": String(7 * 86_400_000), "max.message.bytes": String(1_048_576 + 65_536)])
        #expect(plan[10].config == ["retention.ms": String(7 * 86_400_000)])
        // Records of a 1 MiB body and the relay's headers fit every topic a record hops through.
        #expect(plan.prefix(5).allSatisfy { $0.config["max.message.bytes"] == String(1_048_576 + 65_536) })
        let large = topics.plan(partitions: 12, replicationFactor: 3, sizes: RecordSizeLimits(bodyLimit: 4_000_000))
        #expect(large[4].config["max.message.bytes"] == "4065536")
    }
}
