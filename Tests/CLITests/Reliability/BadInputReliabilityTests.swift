import Foundation
import Kafka
import Testing

/// R4: malformed records of every kind, and random bytes in keys, headers and bodies, interleaved
/// with good records: no replica crashes, every good record is delivered, every bad one is on the
/// dead-letter topic with the right reason.
@Suite(.serialized, .timeLimit(.minutes(30)))
struct BadInputReliabilityTests {
    static let bodyLimit = 2_048

    /// One kind of bad record: what is wrong with it and the reason it must die with.
    enum Defect: CaseIterable {
        case noKey, emptyKey, keyNotUTF8, unknownEndpoint, noEvent, emptyEvent, eventNotUTF8, eventUnprintable, eventTooLong
        case idWithDot, idWithSpace, idTooLong, idNotUTF8, contentTypeUnprintable, attemptsNotANumber, dueAtNotANumber
        case originPartitionNegative, bodyTooLarge
        /// Numbers whose arithmetic used to trap in the pipeline (found by fuzzing).
        case attemptsHuge, firstAttemptAtHugeNegative, dueAtNegative

        var reason: String {
            switch self {
            case .unknownEndpoint: "unknown_endpoint"
            case .bodyTooLarge: "payload_too_large"
            default: "malformed"
            }
        }

        /// Broken relay headers matter only where the relay reads them: on its delay topics. On
        /// the deliveries topic they are a producer's forgery, ignored (see `forgedRecord`).
        var onDelayTopic: Bool {
            switch self {
            case .attemptsNotANumber, .dueAtNotANumber, .originPartitionNegative, .attemptsHuge, .firstAttemptAtHugeNegative, .dueAtNegative: true
            default: false
            }
        }
    }

    /// Relay headers a producer might put on the deliveries topic to skip the retry schedule, fake
    /// a circuit age, look like a dead letter or a replay.
    static let forgedHeaders: [(String, String)] = [
        ("relay-attempts", "999999"), ("relay-first-attempt-at", "1"), ("relay-due-at", "253402300799999"),
        ("relay-dlq-reason", "exhausted"), ("Relay-Attempts", "999999"), ("relay-last-status", "500"),
        ("relay-origin-topic", "webhooks.deliveries"), ("relay-origin-partition", "0"), ("relay-origin-offset", "0"),
    ]

    /// A good record carrying forged relay headers: it must be delivered as a first attempt.
    /// Without `webhook-id` (`copiesOrigin`), it claims the origin of the deliveries topic's first
    /// record, which would give every such record one derived id.
    static func forgedRecord(index: Int, topic: String, endpoint: String, copiesOrigin: Bool, using generator: inout some RandomNumberGenerator) -> KafkaProducerRecord {
        var record = SuiteEndpoints.record(topic: topic, endpoint: endpoint, id: "forged_\(index)", body: Array("{\"forged\":\(index)}".utf8))
        if copiesOrigin { record.headers.removeAll { $0.key == "webhook-id" } }
        let forged = copiesOrigin ? forgedHeaders.filter { $0.0.hasPrefix("relay-origin") } : Array(forgedHeaders.shuffled(using: &generator).prefix(4))
        record.headers += forged.map { KafkaHeader(key: $0.0, value: $0.1) }
        return record
    }

    static func randomBytes(_ count: Int, using generator: inout some RandomNumberGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    /// Random bytes that are certainly not UTF-8 (0xFF never occurs in UTF-8).
    static func notUTF8(using generator: inout some RandomNumberGenerator) -> [UInt8] {
        var bytes = randomBytes(Int.random(in: 0...20, using: &generator), using: &generator)
        bytes.insert(0xFF, at: Int.random(in: 0...bytes.count, using: &generator))
        return bytes
    }

    /// A random header that is not part of the record contract: the relay must ignore it.
    static func noiseHeader(using generator: inout some RandomNumberGenerator) -> KafkaHeader {
        let name = String((0..<Int.random(in: 1...12, using: &generator)).map { _ in
            Character(Unicode.Scalar(UInt8.random(in: 0x61...0x7A, using: &generator)))
        })
        return KafkaHeader(key: "x-noise-\(name)", value: randomBytes(Int.random(in: 0...64, using: &generator), using: &generator))
    }

    static func badRecord(
        _ defect: Defect, index: Int, topic: String, delayTopic: String, endpoints: [String], using generator: inout some RandomNumberGenerator
    ) -> KafkaProducerRecord {
        // The body names the record, so its dead letter can be matched (the DLQ keeps the body).
        var body = Array("bad_\(index)_".utf8) + randomBytes(Int.random(in: 0...200, using: &generator), using: &generator)
        var key: [UInt8]? = Array((endpoints.randomElement(using: &generator) ?? "ep00").utf8)
        var headers = [KafkaHeader(key: "webhook-event", value: "bad.input"), KafkaHeader(key: "webhook-id", value: "bad_\(index)")]
        func replace(_ name: String, _ value: [UInt8]?) {
            headers.removeAll { $0.key == name }
            if let value { headers.append(KafkaHeader(key: name, value: value)) }
        }
        switch defect {
        case .noKey: key = nil
        case .emptyKey: key = []
        case .keyNotUTF8: key = notUTF8(using: &generator)
        case .unknownEndpoint: key = Array("nobody_\(Int.random(in: 0...1_000_000, using: &generator))".utf8)
        case .noEvent: replace("webhook-event", nil)
        case .emptyEvent: replace("webhook-event", [])
        case .eventNotUTF8: replace("webhook-event", notUTF8(using: &generator))
        case .eventUnprintable: replace("webhook-event", Array("order\u{0}created".utf8))
        case .eventTooLong: replace("webhook-event", Array(String(repeating: "e", count: 257).utf8))
        case .idWithDot: replace("webhook-id", Array("bad.\(index)".utf8))
        case .idWithSpace: replace("webhook-id", Array("bad \(index)".utf8))
        case .idTooLong: replace("webhook-id", Array(String(repeating: "i", count: 257).utf8))
        case .idNotUTF8: replace("webhook-id", notUTF8(using: &generator))
        case .contentTypeUnprintable: replace("content-type", Array("text/plain\r\nx-injected: 1".utf8))
        case .attemptsNotANumber: replace("relay-attempts", Array("many".utf8))
        case .dueAtNotANumber: replace("relay-due-at", Array("tomorrow".utf8))
        case .originPartitionNegative: replace("relay-origin-partition", Array("-3".utf8))
        case .attemptsHuge: replace("relay-attempts", Array("9223372036854775807".utf8))
        case .firstAttemptAtHugeNegative: replace("relay-first-attempt-at", Array("-9223372036854775807".utf8))
        case .dueAtNegative: replace("relay-due-at", Array("-1".utf8))
        case .bodyTooLarge: body += randomBytes(bodyLimit + 1 - body.count + Int.random(in: 0...2_000, using: &generator), using: &generator)
        }
        if Bool.random(using: &generator) { headers.append(noiseHeader(using: &generator)) }
        headers.shuffle(using: &generator)
        return KafkaProducerRecord(topic: defect.onDelayTopic ? delayTopic : topic, key: key, value: body, headers: headers)
    }

    @Test func badRecordsAreDeadLetteredAndGoodOnesDelivered() async throws {
        let profile = ReliabilityProfile.current
        let scenario = try Scenario("r4")
        var passed = false
        defer { scenario.finish(keep: !passed) }
        let endpoints = try SuiteEndpoints(scenario: scenario, count: profile.badInputEndpoints)
        let setup = try SuiteSetup(scenario: scenario, endpoints: endpoints, partitions: profile.badInputPartitions, retrySchedule: "1s")

        var generator = SystemRandomNumberGenerator()
        var expected: [Int: Defect] = [:]
        var badKeys: [Int: [UInt8]?] = [:]
        var records: [KafkaProducerRecord] = []
        for index in 0..<profile.badRecords {
            let defect = Defect.allCases[index % Defect.allCases.count]
            expected[index] = defect
            let record = Self.badRecord(
                defect, index: index, topic: setup.deliveriesTopic, delayTopic: "webhooks.retry.1s", endpoints: endpoints.ids, using: &generator
            )
            badKeys[index] = .some(record.key)
            records.append(record)
        }
        for index in 0..<profile.goodRecords {
            // Random bytes as the body, random headers beside the contract's.
            var record = SuiteEndpoints.record(
                topic: setup.deliveriesTopic, endpoint: endpoints.ids[index % endpoints.ids.count], id: "good_\(index)",
                body: Self.randomBytes(Int.random(in: 0...1_000, using: &generator), using: &generator)
            )
            record.headers.append(Self.noiseHeader(using: &generator))
            records.append(record)
        }
        // Bodies at the size limits: the body limit (delivered), one byte over it, and around the
        // relay's record limit of 1,000,000 bytes (with this body limit), where the dead letter no
        // longer fits the DLQ whole and is kept without its body.
        let edgeEndpoint = endpoints.ids[0]
        records.append(SuiteEndpoints.record(
            topic: setup.deliveriesTopic, endpoint: edgeEndpoint, id: "good_edge", body: [UInt8](repeating: 0x7A, count: Self.bodyLimit)
        ))
        var omittedBodies: [Int: Int] = [:]
        for (offset, size) in [Self.bodyLimit + 1, 999_000, 1_000_000].enumerated() {
            let index = profile.badRecords + offset
            expected[index] = .bodyTooLarge
            badKeys[index] = .some(Array(edgeEndpoint.utf8))
            if size >= 1_000_000 { omittedBodies[index] = size }
            records.append(KafkaProducerRecord(
                topic: setup.deliveriesTopic, key: Array(edgeEndpoint.utf8), value: Array("bad_\(index)_".utf8) + [UInt8](repeating: 0x7A, count: size - "bad_\(index)_".utf8.count),
                headers: [KafkaHeader(key: "webhook-event", value: "bad.input"), KafkaHeader(key: "webhook-id", value: "bad_\(index)")]
            ))
        }
        let forgedCount = profile.goodRecords / 10
        for index in 0..<forgedCount {
            records.append(Self.forgedRecord(
                index: index, topic: setup.deliveriesTopic, endpoint: endpoints.ids[index % endpoints.ids.count],
                copiesOrigin: index % 2 == 1, using: &generator
            ))
        }
        let forgedIDs = (0..<forgedCount).filter { $0 % 2 == 0 }.map { "forged_\($0)" }
        let originCopies = forgedCount - forgedIDs.count
        records.shuffle(using: &generator)

        // Replica 0 has an admin port, flooded with connections that never finish a request head
        // while everything is delivered, and only 400 file descriptors (as with `ulimit -n 400`).
        let adminPort = AdminFlood.freePort()
        let replicas = try (0..<2).map {
            try setup.startReplica("replica-\($0)", group: "r4", extra: ["--body-limit", String(Self.bodyLimit)] + ($0 == 0 ? ["--admin-port", String(adminPort)] : []))
        }
        let limited = Process()
        limited.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        limited.arguments = ["--pid", String(replicas[0].pid), "--nofile=400:400"]
        try limited.run()
        limited.waitUntilExit()
        #expect(limited.terminationStatus == 0, "prlimit failed")
        var answered = false
        for _ in 0..<100 where !answered {
            answered = AdminFlood.get("/healthz", port: adminPort, timeout: .seconds(1))?.hasPrefix("HTTP/1.1 200") == true
            if !answered { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(answered, "the admin server did not answer")
        let flood = AdminFlood(port: adminPort, count: 600)
        try await Task.sleep(for: .milliseconds(300))
        flood.sendPartialHeads()
        let started = ContinuousClock.now
        try await SuiteKafka.produce(records, bootstrap: setup.broker.bootstrap)
        let goodIDs = (0..<profile.goodRecords).map { "good_\($0)" } + ["good_edge"]
        let allGood = try await setup.listen.wait(upTo: profile.limit(120)) {
            $0.delivered.isSuperset(of: goodIDs + forgedIDs) && $0.delivered.filter { $0.hasPrefix("msg_") }.count >= originCopies
        }
        let dead = try await SuiteKafka.waitForRecords(
            topic: setup.deadLetterTopic, partitions: setup.partitions, bootstrap: setup.broker.bootstrap,
            count: expected.count, upTo: profile.limit(120)
        )
        let elapsed = ContinuousClock.now - started
        flood.stop()
        let exposition = AdminFlood.get("/metrics", port: adminPort) ?? ""
        func metric(_ name: String) -> Double {
            exposition.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } } ?? 0
        }
        let shed = (deferred: metric("webhook_relay_admin_connections_deferred_total"), timedOut: metric("webhook_relay_admin_connections_timed_out_total"))
        // Every endpoint answers 2xx: any failed attempt is the relay's own doing (e.g. no descriptor).
        let failedAttempts = replicas.map { $0.output.components(separatedBy: "Attempt failed").count - 1 }.reduce(0, +)
        let running = replicas.map(\.isRunning)
        let statuses = replicas.map { $0.stop() }

        var wrong: [String] = []
        var seen: [Int: Int] = [:]
        for letter in dead {
            // The body names the record; a dead letter kept without its body by its webhook-id.
            let prefix = letter.value.isEmpty ? Array((letter.header("webhook-id") ?? "").utf8) : Array(letter.value.prefix(24))
            let text = String(decoding: prefix, as: UTF8.self)
            guard text.hasPrefix("bad_"), let index = Int(text.dropFirst(4).prefix { $0.isNumber }), let defect = expected[index] else {
                wrong.append("a dead letter that is no bad record: \(letter.header("webhook-id") ?? "?") \(letter.header("relay-dlq-reason") ?? "?")")
                continue
            }
            seen[index, default: 0] += 1
            let reason = letter.header("relay-dlq-reason") ?? "?"
            if reason != defect.reason { wrong.append("bad_\(index) (\(defect)): reason \(reason), expected \(defect.reason)") }
            if letter.key != badKeys[index] {
                wrong.append("bad_\(index): the dead letter's key is not the record's")
            }
            let omitted = letter.header("relay-body-omitted").flatMap { Int($0) }
            if omitted != omittedBodies[index] || (omitted != nil) != letter.value.isEmpty {
                wrong.append("bad_\(index): body omitted \(omitted.map(String.init) ?? "no") with \(letter.value.count) bytes kept, expected \(omittedBodies[index].map { "omitted \($0)" } ?? "whole")")
            }
        }
        let missingBad = expected.keys.filter { seen[$0] == nil }.sorted()
        let missingGood = goodIDs.filter { !setup.listen.delivered.contains($0) }
        let unverified = setup.listen.entries.filter { !$0.verified }
        let badDelivered = setup.listen.entries.filter { $0.webhook_id.hasPrefix("bad") }
        // Forged relay headers change nothing: first attempts are sent as attempt 1, and records
        // that claimed another record's origin keep ids of their own.
        let forgedEntries = setup.listen.entries.filter { $0.webhook_id.hasPrefix("forged_") || $0.webhook_id.hasPrefix("msg_") }
        // (More requests than the relay claims is a redelivery, not a forgery obeyed.)
        let obeyedForgery = forgedEntries.filter { ($0.sender_attempt ?? 0) > $0.attempt }
        let ownIDs = Set(forgedEntries.map(\.webhook_id).filter { $0.hasPrefix("msg_") }).count
        ReliabilityReport.record("R4 bad input", [
            "bad": "\(profile.badRecords) (\(Defect.allCases.count) kinds)", "good": "\(profile.goodRecords)",
            "dead letters": "\(dead.count)", "wrong": "\(wrong.count)", "bad missing": "\(missingBad.count)",
            "good missing": "\(missingGood.count)", "forged": "\(forgedCount) (obeyed \(obeyedForgery.count), ids of their own \(ownIDs) of \(originCopies))",
            "crashes": "\(running.filter { !$0 }.count)", "failed attempts": "\(failedAttempts)",
            "admin flood": "600 connections, 400 descriptors, deferred \(Int(shed.deferred)), timed out \(Int(shed.timedOut))",
            "time": String(format: "%.1f s", elapsed / .seconds(1)),
        ])
        #expect(running.allSatisfy { $0 }, "a replica crashed")
        #expect(failedAttempts == 0, "attempts failed while the admin port was flooded")
        #expect(shed.deferred >= 1 && shed.timedOut >= 1, "the flood is not in /metrics: \(exposition.prefix(2_000))")
        let trimmed = missingGood.isEmpty && missingBad.isEmpty ? [] : try await SuiteKafka.trimmedPartitions(
            topic: setup.deliveriesTopic, partitions: setup.partitions, bootstrap: setup.broker.bootstrap
        )
        #expect(allGood && missingGood.isEmpty, "good records not delivered: \(missingGood.prefix(5)); broker retention trimmed: \(trimmed)")
        #expect(missingBad.isEmpty, "bad records not dead-lettered: \(missingBad.prefix(5).map { "bad_\($0) \(expected[$0].map { "\($0)" } ?? "")" })")
        #expect(wrong.isEmpty, "\(wrong.prefix(8))")
        #expect(badDelivered.isEmpty, "bad records were delivered: \(badDelivered.prefix(3).map(\.webhook_id))")
        #expect(obeyedForgery.isEmpty, "forged relay headers were obeyed: \(obeyedForgery.prefix(3).map { "\($0.webhook_id) sent as attempt \($0.sender_attempt ?? 0)" })")
        #expect(ownIDs == originCopies, "records that copied an origin got \(ownIDs) distinct ids, expected \(originCopies)")
        #expect(unverified.isEmpty)
        #expect(statuses.allSatisfy { $0 == 0 }, "replicas did not stop cleanly: \(statuses)")
        #expect(scenario.leakedSecrets().isEmpty, "secrets in process output: \(scenario.leakedSecrets())")
        passed = running.allSatisfy { $0 } && failedAttempts == 0 && missingGood.isEmpty && missingBad.isEmpty && wrong.isEmpty && obeyedForgery.isEmpty && ownIDs == originCopies
        setup.broker.stop()
    }
}
