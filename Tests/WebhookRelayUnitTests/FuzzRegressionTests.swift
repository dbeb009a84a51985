import Foundation
import Kafka
import Testing
import WebhookRelay
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Inputs that crashed, hung or misled the libFuzzer targets in Fuzz/ (scripts/fuzz.sh), and
/// hand-picked hostile ones, kept with the behaviour they must have now. Fuzzer inputs are the raw
/// bytes in base64; they are also in Fuzz/Corpus/<target>/.
struct FuzzRegressionTests {
    // MARK: - DeliveryRecord.decode

    /// The record FuzzRecordDecoder builds from a kept input (base64 of the raw bytes).
    static func record(fuzzInput base64: String) -> KafkaConsumerRecord {
        FuzzRecordInput.record([UInt8](Data(base64Encoded: base64)!))!
    }

    static func record(_ headers: [(String, String)], key: String = "orders") -> KafkaConsumerRecord {
        KafkaConsumerRecord(
            topicPartition: KafkaTopicPartition(topic: "webhooks.retry.5s", partition: 0), offset: 7, key: Array(key.utf8),
            value: Array("{}".utf8), headers: headers.map { KafkaHeader(key: $0.0, value: $0.1) }
        )
    }

    static func defect(_ record: KafkaConsumerRecord) -> DeliveryRecordDefect? {
        if case .failure(let defect) = DeliveryRecord.decode(record, bodyLimit: 512, trustingRelayHeaders: true) { return defect }
        return nil
    }

    /// Found by FuzzRecordDecoder: `relay-first-attempt-at: -0009223372036854775807` was accepted, and
    /// the pipeline's circuit-age check `now - firstAttemptAt` overflowed, which traps: one forged
    /// record on a delay topic would crash every replica that reads it.
    @Test func firstAttemptFarInThePastIsMalformed() {
        let record = Self.record(fuzzInput: "CmJpbGw1aW5n/zxpbnZvaWP/d2ViaG9vay1ldmVudP9jZS5wYTM2Y2UucmVsNzQ4MzN0/3JlbGF5LWZpcnN0LWF0dGVtcHQtYXT/LTAwMDkyMjMzNzIwMzY4NTQ3NzU4MDf/cv92MG8=")
        #expect(record.headers.first(named: "relay-first-attempt-at")?.stringValue == "-0009223372036854775807")
        let defect = Self.defect(record)
        #expect(defect?.reason == .malformed)
        #expect(defect?.detail == "header 'relay-first-attempt-at' is not epoch milliseconds")
    }

    /// Found while writing the harness (the pipeline computes `attempts + 1`): `relay-attempts:
    /// 9223372036854775807` trapped on overflow. Flags 0, key `orders`, body `{}`, an event, then
    /// `relay-attempts` with boundary value 0xF0 (Int64.max).
    @Test func attemptCountBeyondTheLimitIsMalformed() {
        let record = Self.record(fuzzInput: "AG9yZGVyc/97ff93ZWJob29rLWV2ZW50/29yZGVyLmNyZWF0ZWT/cmVsYXktYXR0ZW1wdHP/8A==")
        #expect(record.headers.first(named: "relay-attempts")?.stringValue == "9223372036854775807")
        #expect(Self.defect(record) == DeliveryRecordDefect(reason: .malformed, detail: "header 'relay-attempts' is not a count from 0 to 1000000"))
        #expect(Self.defect(Self.record([("webhook-event", "a"), ("relay-attempts", "1000001")])) != nil)
        #expect(Self.defect(Self.record([("webhook-event", "a"), ("relay-attempts", "1000000")])) == nil)
    }

    @Test(arguments: [
        ("relay-due-at", "-1"), ("relay-due-at", "253402300800000"), ("relay-due-at", "9223372036854775807"),
        ("relay-first-attempt-at", "-9223372036854775808"), ("relay-first-attempt-at", "99999999999999999999"),
        ("relay-due-at", " 5"), ("relay-due-at", "0x10"),
    ])
    func timesOutsideEpochMillisecondsAreMalformed(header: String, value: String) {
        #expect(Self.defect(Self.record([("webhook-event", "a"), (header, value)])) == DeliveryRecordDefect(
            reason: .malformed, detail: "header '\(header)' is not epoch milliseconds"
        ))
    }

    @Test func largestTimesAreAccepted() throws {
        let decoded = try DeliveryRecord.decode(Self.record([
            ("webhook-event", "a"), ("relay-due-at", "253402300799999"), ("relay-first-attempt-at", "0"),
        ]), bodyLimit: 512, trustingRelayHeaders: true).get()
        #expect(decoded.dueAtMilliseconds == 253_402_300_799_999 && decoded.firstAttemptAtMilliseconds == 0)
    }

    /// Invalid UTF-8 in headers: a contract header is a defect, any other header is carried as is.
    @Test func invalidUTF8InHeaders() throws {
        func header(_ name: String, _ value: [UInt8]?) -> KafkaHeader { KafkaHeader(key: name, value: value) }
        func record(_ headers: [KafkaHeader], key: [UInt8]? = Array("orders".utf8)) -> KafkaConsumerRecord {
            KafkaConsumerRecord(topicPartition: .init(topic: "webhooks.deliveries", partition: 0), offset: 1, key: key, value: [], headers: headers)
        }
        let event = header("webhook-event", Array("order.created".utf8))
        for bad: [UInt8] in [[0xC3, 0x28], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF], [0x80]] {
            #expect(Self.defect(record([header("webhook-event", bad)]))?.detail == "header 'webhook-event' is not valid UTF-8")
            #expect(Self.defect(record([event, header("webhook-id", bad)]))?.detail == "header 'webhook-id' is not valid UTF-8")
            #expect(Self.defect(record([event], key: bad))?.detail == "key is not valid UTF-8")
            let kept = try DeliveryRecord.decode(record([event, header("trace", bad)]), bodyLimit: 512, trustingRelayHeaders: true).get()
            #expect(kept.headers.last?.value == bad)
        }
        #expect(Self.defect(record([header("webhook-event", nil)]))?.reason == .malformed)
        #expect(Self.defect(record([event], key: nil))?.detail == "record has no key (the endpoint id)")
        // A C1 control in the event or an over-long id is not sendable.
        #expect(Self.defect(record([header("webhook-event", [0x61, 0x0A])])) != nil)
        #expect(Self.defect(record([event, header("webhook-id", Array(String(repeating: "a", count: 257).utf8))])) != nil)
    }

    // MARK: - EndpointsFile

    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    static func parseError(_ yaml: String) -> String? {
        do {
            _ = try EndpointsFile.parse(
                yaml, source: "endpoints.yaml", environment: ["SECRET": secret], baseDirectory: "/fuzz",
                readSecretFile: { path throws(ConfigurationError) in
                    guard path == "/fuzz/secret.txt" else { throw ConfigurationError("No such file or directory") }
                    return Array((secret + "\n").utf8)
                }
            )
            return nil
        } catch {
            return error.message
        }
    }

    /// One line for a log, naming the file, short, without a secret.
    static func expectClear(_ message: String?, contains expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let message else {
            Issue.record("the file was accepted", sourceLocation: sourceLocation)
            return
        }
        #expect(message.hasPrefix("endpoints.yaml:"), "\(message)", sourceLocation: sourceLocation)
        #expect(message.contains(expected), "\(message)", sourceLocation: sourceLocation)
        #expect(!message.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }, "\(message.debugDescription)", sourceLocation: sourceLocation)
        #expect(message.utf8.count <= 512, "\(message.utf8.count) bytes", sourceLocation: sourceLocation)
        #expect(!message.contains(secret) && !message.contains("MfKQ"), "a secret leaked: \(message)", sourceLocation: sourceLocation)
    }

    /// Found by FuzzEndpointsFile: YAML errors were Yams' multi-line text, which quotes the offending
    /// line of the file (a log record split in three, and an inline secret shown when it is on that line).
    @Test(arguments: [
        ("ZW5kcG9pbnRzOgogIC0gaWQ6IGEKICAgZW52OlNFQ1JFVCB1cmw6IGZ0cDovL2EuZXhhbXBsZS94CiAgICBzZWNyZXRzOiBbd2hzZWNfTWZLUTRyOEdLWXFyVHdqVVBEOElMUFpJbzJMYUxhU3ddCg==",
         "endpoints.yaml:3: not valid YAML: did not find expected '-' indicator (column 4, while parsing a block collection from line 2)"),
        ("ZGVmYXVsdHM6ICZkZmlsZTovZnV6ei9zZWNyZXQudHh0Il19CiAgLSBpZDogdHdvCiAgICB1cmw6IGh0dHBzOi8veS5leGFtcGxlLwogICAgc2VjcmV0czogJnMgWyJlbnY6U0VDUkVUIl0KICAtIHtpZDogdGhyZWUsIHVybDogImh0dHBzOi8vei5leGFtcGxlLyIsIHNlY3JldHM6ICpzLCBldmVudHM6IFtdfQo=",
         "endpoints.yaml:2: not valid YAML: mapping values are not allowed in this context (column 7)"),
    ])
    func yamlErrorsAreOneLineWithoutTheFilesText(base64: String, expected: String) {
        let message = Self.parseError(String(decoding: Data(base64Encoded: base64)!, as: UTF8.self))
        Self.expectClear(message, contains: "not valid YAML")
        #expect(message == expected)
    }

    @Test func inlineSecretOnABadLineIsNotShown() {
        Self.expectClear(Self.parseError("endpoints:\n  - id: a\n    url: https://a.example/\n    secrets: [\(Self.secret)]]\n"), contains: ":4: not valid YAML")
        Self.expectClear(Self.parseError("endpoints:\n  - {id: a, secrets: [\"\(Self.secret)\n"), contains: "not valid YAML")
    }

    /// Hand-picked: libyaml stops at 1000 levels; the error used to quote the whole 10 KB line.
    @Test func deepNestingIsRefusedBriefly() {
        Self.expectClear(Self.parseError("endpoints: " + String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000)),
                         contains: "Maximum nesting level reached")
        Self.expectClear(Self.parseError(String(repeating: "- ", count: 2_000) + "x"), contains: "not valid YAML")
    }

    /// Hand-picked "billion laughs": ten levels of ten aliases. Yams hashes every mapping key while
    /// composing, aliases expanded, so the same file with the alias as a key used to hang (10^10 nodes).
    static let laughs = (["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + (1...9).map { level in
        "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]"
    }).joined(separator: "\n") + "\n"

    @Test(.timeLimit(.minutes(1))) func billionLaughsAsAKeyIsRefused() {
        Self.expectClear(Self.parseError(Self.laughs + "? *a9\n: 1\nendpoints: []\n"), contains: "endpoints.yaml:11: a mapping key refers to a YAML alias")
        Self.expectClear(Self.parseError("x: &k [1]\nendpoints:\n  - {*k : 1}\n"), contains: "endpoints.yaml:3: a mapping key refers to a YAML alias")
        Self.expectClear(Self.parseError(Self.laughs + "endpoints:\n  - id: a\n    headers: {[*a9, *a9]: v}\n"), contains: "a mapping key refers to a YAML alias")
    }

    @Test(.timeLimit(.minutes(1))) func billionLaughsAsAValueIsHarmless() {
        Self.expectClear(Self.parseError(Self.laughs + "endpoints: *a9\n"), contains: "endpoints.yaml:1: unknown top-level field 'a0'")
        let nested = "[&a0 [x, x, x, x, x, x, x, x, x, x], " + (1...9).map { level in
            "&a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]"
        }.joined(separator: ", ") + "]"
        Self.expectClear(Self.parseError("endpoints:\n  - id: a\n    url: https://a.example/\n    secrets: [\"env:SECRET\"]\n    events: \(nested)\n"),
                         contains: "endpoints.yaml:5: endpoint 'a': field 'events': patterns must be non-empty strings")
    }

    /// Aliases in values stay usable, and `*` in quoted or plain scalars is not an alias.
    @Test func aliasesInValuesAndStarsInScalarsStillWork() throws {
        let endpoints = try EndpointsFile.parse("""
            endpoints:
              - id: one
                url: https://x.example/*a
                secrets: &s ["env:SECRET"]
                events: ["*", "order.*", "*a"]
                headers: {X-Note: "see *a, *b", X-Plain: a *b}
              - {id: two, url: "https://y.example/", secrets: *s, events: [order.*]}
            """, source: "endpoints.yaml", environment: ["SECRET": Self.secret])
        #expect(endpoints.map(\.id) == ["one", "two"])
        #expect(endpoints[0].headers.map(\.value) == ["see *a, *b", "a *b"])
        #expect(endpoints[0].accepts(event: "anything") && endpoints[1].accepts(event: "order.paid"))
    }

    @Test(arguments: [
        ("max_in_flight: 99999999999999999999", "field 'max_in_flight': expected a whole number from 1 to 10000"),
        ("timeout: 9223372036854775807d", "field 'timeout': expected a duration from 1ms to 300s"),
        ("circuit_open_duration: 9223372036854775807s", "field 'circuit_open_duration': expected a duration"),
        ("rate_limit: 1/9223372036854775807d", "field 'rate_limit': expected requests per period"),
        ("rate_limit: 9223372036854775808/s", "field 'rate_limit': expected requests per period"),
        ("circuit_failure_threshold: -1", "field 'circuit_failure_threshold': expected a whole number from 1 to 1000000"),
    ])
    func hugeNumbersAreRefused(field: String, expected: String) {
        let yaml = "endpoints:\n  - id: a\n    url: https://a.example/\n    secrets: [\"env:SECRET\"]\n    \(field)\n"
        Self.expectClear(Self.parseError(yaml), contains: "endpoints.yaml:5: endpoint 'a': \(expected)")
    }

    /// Values from the file are shown escaped and cut short, so that an error stays one line.
    @Test func fileValuesInErrorsAreEscapedAndShort() {
        Self.expectClear(Self.parseError("\"bad\\x85\\nfield\\u2028\": 1\nendpoints: []\n"), contains: "unknown top-level field 'bad\\u{0085}\\nfield\\u{2028}'")
        Self.expectClear(Self.parseError("endpoints:\n  - id: a\n    url: ftp://\(String(repeating: "x", count: 5_000))\n"), contains: "...' is not an http://")
        Self.expectClear(Self.parseError("endpoints:\n  - id: a\n    \(String(repeating: "k", count: 1_000)): 1\n"), contains: "unknown field 'kkkk")
    }

    // MARK: - file: secrets

    /// Hand-picked: `file:` secrets used to be read with FileManager.contents(atPath:), which reads
    /// /dev/zero until memory runs out and blocks forever on a FIFO without a writer.
    @Test(.timeLimit(.minutes(1))) func secretFilesMustBeSmallRegularFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = directory.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let big = directory.appendingPathComponent("big")
        try Data(repeating: 0x61, count: EndpointsFile.secretFileLimit + 1).write(to: big)
        let fits = directory.appendingPathComponent("fits")
        try Data((Self.secret + "\n").utf8).write(to: fits)

        for (path, reason) in [("/dev/zero", "not a regular file"), (fifo, "not a regular file"), (directory.path, "not a regular file"),
                               (big.path, "larger than 65536 bytes")] {
            #expect(throws: ConfigurationError(reason)) { try EndpointsFile.readSecretFile(atPath: path) }
            let yaml = "endpoints:\n  - id: a\n    url: https://a.example/\n    secrets: [\"file:\(path)\"]\n"
            #expect(throws: ConfigurationError(
                "endpoints.yaml:4: endpoint 'a': field 'secrets': item 1: cannot read secret file '\(path)' (\(reason))"
            )) { try EndpointsFile.parse(yaml, source: "endpoints.yaml", environment: [:]) }
        }
        #expect(try EndpointsFile.readSecretFile(atPath: fits.path) == Array((Self.secret + "\n").utf8))
        let endpoints = try EndpointsFile.load(path: directory.appendingPathComponent("endpoints.yaml").path(creating: """
            endpoints:
              - {id: a, url: "https://a.example/", secrets: ["file:fits"]}
            """))
        #expect(endpoints.map(\.id) == ["a"])
    }
}

private extension URL {
    /// Writes `text` here and returns the path.
    func path(creating text: String) throws -> String {
        try text.write(to: self, atomically: true, encoding: .utf8)
        return path
    }
}
