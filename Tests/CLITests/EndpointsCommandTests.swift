import Foundation
import Testing

/// `webhook-relay endpoints` as processes against `webhook-relay broker`: documents written sealed,
/// bad input refused with its reason and nothing written, and the raw topic read with kcat (a
/// Kafka client we did not write) holding no plaintext secret.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct EndpointsCommandTests {
    static let inline = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    /// Every record of the registry topic, raw: `key<TAB>value length<TAB>value`.
    static func rawRegistry(_ bootstrap: String) throws -> [String] {
        let kcat = try ProcessRunner.run(
            ["-b", bootstrap, "-C", "-t", "webhooks.endpoints", "-e", "-q", "-f", "%k\t%S\t%s\n"],
            executable: URL(fileURLWithPath: "/usr/bin/kcat"), timeout: 30
        )
        #expect(kcat.status == 0, "\(kcat.stderr)")
        return kcat.stdout.split(separator: "\n").map(String.init)
    }

    @Test func documentsAreWrittenSealedAndBadInputChangesNothing() async throws {
        let broker = try BrokerProcess(partitions: 4)
        defer { broker.stop() }
        let key = try ProcessRunner.run(["endpoints", "generate-key", "--id", "k1"])
        #expect(key.status == 0 && key.stdout.hasPrefix("k1:"))
        let keyLine = key.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let connection = ["--brokers", broker.bootstrap, "--registry-key", "env:TEST_REGISTRY_KEY", "--log-level", "error"]
        let environment: [String: String?] = ["TEST_REGISTRY_KEY": keyLine]
        func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try ProcessRunner.run(["endpoints"] + arguments + connection, environment: environment)
        }

        let inline = try run(["add", "--id", "a", "--url", "http://127.0.0.1:9/a", "--secret", Self.inline, "--event", "order.*"])
        #expect(inline.status == 0 && inline.stdout.contains("added a"), "\(inline.stderr)")
        let generated = try run(["add", "--id", "b", "--url", "https://hooks.example.com/b", "--rate-limit", "50/s"])
        #expect(generated.status == 0, "\(generated.stderr)")
        let secret = try #require(generated.stdout.split(separator: "\n").first { $0.hasPrefix("secret (shown once): whsec_") }?
            .dropFirst("secret (shown once): ".count))
        let reference = try run(["add", "--id", "c", "--url", "http://127.0.0.1:9/c", "--secret", "env:C_SECRET"])
        #expect(reference.status == 0, "\(reference.stderr)")

        // Bad input: refused with its reason, nothing written.
        for (arguments, expected) in [
            (["add", "--id", "a", "--url", "http://127.0.0.1:9/a"], "endpoint 'a' exists already"),
            (["add", "--id", "d", "--url", "ftp://127.0.0.1/d"], "field 'url'"),
            (["add", "--id", "d", "--url", "http://127.0.0.1:9/d", "--max-in-flight", "0"], "field 'max_in_flight'"),
            (["add", "--id", "d", "--url", "http://127.0.0.1:9/d", "--scheme", "hmac"], "field 'scheme'"),
            (["add", "--id", "d", "--url", "http://127.0.0.1:9/d", "--header", "X-A"], "--header expects NAME=VALUE"),
            (["add", "--id", "d", "--url", "http://127.0.0.1:9/d", "--secret", "not-a-whsec"], "field 'secrets'"),
            (["update", "nope", "--url", "http://127.0.0.1:9/x"], "no endpoint 'nope' in the registry"),
            (["rm", "nope"], "no endpoint 'nope'"),
        ] {
            let refused = try run(arguments)
            #expect(refused.status != 0, "\(arguments) was accepted")
            #expect(refused.stderr.contains(expected), "\(arguments): \(refused.stderr)")
            #expect(!refused.stderr.contains("not-a-whsec"), "a secret is never echoed")
        }
        let withoutKey = try ProcessRunner.run(["endpoints", "add", "--id", "d", "--url", "http://127.0.0.1:9/d", "--secret", Self.inline,
                                                "--brokers", broker.bootstrap])
        #expect(withoutKey.status != 0 && withoutKey.stderr.contains("--registry-key"), "\(withoutKey.stderr)")
        #expect(try Self.rawRegistry(broker.bootstrap).count == 3, "the refused commands wrote nothing")

        // Shown masked; the raw topic holds no plaintext secret and no key.
        let show = try run(["show", "a"])
        #expect(show.status == 0 && show.stdout.contains("enc:v1:k1:****") && show.stdout.contains("order.*"), "\(show.stdout)")
        let raw = try Self.rawRegistry(broker.bootstrap).joined(separator: "\n")
        #expect(raw.contains("enc:v1:k1:") && raw.contains("env:C_SECRET"))
        for plaintext in [Self.inline, String(secret), String(keyLine.dropFirst(3))] {
            #expect(!raw.contains(plaintext))
        }

        // Disable, enable, delete: the list says so, and a deletion is a tombstone (null value).
        #expect(try run(["disable", "a", "--reason", "maintenance"]).status == 0)
        let disabled = try run(["list", "--json"])
        let documents = try #require(try JSONSerialization.jsonObject(with: Data(disabled.stdout.utf8)) as? [[String: Any]])
        #expect(documents.map { $0["id"] as? String } == ["a", "b", "c"])
        #expect(documents.first?["disabled"] as? Bool == true && documents.first?["disabled_reason"] as? String == "maintenance")
        #expect(try run(["enable", "a"]).status == 0)
        #expect(try run(["rm", "c"]).status == 0)
        let table = try run(["list"])
        #expect(table.stdout.contains("a ") && !table.stdout.contains("c ") && table.stdout.contains("enabled"), "\(table.stdout)")
        #expect(try Self.rawRegistry(broker.bootstrap).last?.hasPrefix("c\t-1\t") == true, "a tombstone")
        // Every change was told on the operational topic, read by kcat: key and webhook-event.
        let told = try ProcessRunner.run(
            ["-b", broker.bootstrap, "-C", "-t", "webhooks.operational", "-e", "-q", "-f", "%k %h\n"],
            executable: URL(fileURLWithPath: "/usr/bin/kcat"), timeout: 30
        ).stdout.split(separator: "\n").map { line in
            "\(line.prefix { $0 != " " }) " + (line.split(separator: ",").first { $0.contains("webhook-event=") }?.split(separator: "=").last ?? "")
        }
        #expect(told.sorted() == ["a endpoint.created", "a endpoint.disabled", "a endpoint.enabled", "b endpoint.created", "c endpoint.created",
                                  "c endpoint.deleted"], "\(told)")

        // Import: inline secrets sealed, references kept, existing ids skipped unless --replace.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("import-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try """
            defaults:
              timeout: 5s
            endpoints:
              - id: a
                url: http://127.0.0.1:9/a2
                secrets: ["\(Self.inline)"]
              - id: e
                url: http://127.0.0.1:9/e
                secrets: ["env:E_SECRET"]
                max_in_flight: 8
            """.write(to: file, atomically: true, encoding: .utf8)
        let imported = try run(["import", file.path])
        #expect(imported.status == 0 && imported.stdout.contains("imported 1, skipped 1 existing"), "\(imported.stdout)\(imported.stderr)")
        let replaced = try run(["import", file.path, "--replace"])
        #expect(replaced.stdout.contains("imported 2, skipped 0"), "\(replaced.stdout)")
        let importedShow = try run(["show", "e"])
        #expect(importedShow.stdout.contains("\"max_in_flight\" : 8") && importedShow.stdout.contains("\"timeout\" : \"5s\""), "\(importedShow.stdout)")
        #expect(!(try Self.rawRegistry(broker.bootstrap).joined().contains(Self.inline)))

        // Registry key rotation: reseal with the new key first, then the new key alone opens every secret.
        #expect(try run(["rotate-secret", "b", "--grace", "1h"]).status == 0)
        let newKey = try ProcessRunner.run(["endpoints", "generate-key", "--id", "k2"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let newOnly = ["--brokers", broker.bootstrap, "--registry-key", "env:NEW_KEY", "--log-level", "error"]
        let refusedUpdate = try ProcessRunner.run(["endpoints", "update", "a", "--timeout", "6s"] + newOnly, environment: ["NEW_KEY": newKey])
        #expect(refusedUpdate.status != 0 && refusedUpdate.stderr.contains("key 'k1'"), "\(refusedUpdate.stderr)")
        let resealed = try ProcessRunner.run(
            ["endpoints", "reseal", "--registry-key", "env:NEW_KEY", "--registry-key", "env:OLD_KEY", "--brokers", broker.bootstrap],
            environment: ["NEW_KEY": newKey, "OLD_KEY": keyLine]
        )
        // a (1 secret), b (its new secret and the retiring one), e (a reference): 3 secrets of 2 endpoints.
        #expect(resealed.status == 0 && resealed.stdout.contains("resealed 3 secrets of 2 endpoints with key 'k2'"), "\(resealed.stdout)\(resealed.stderr)")
        // The latest record of each key (each key keeps to one partition, in order).
        var latest: [String: String] = [:]
        for line in try Self.rawRegistry(broker.bootstrap) { latest[String(line.prefix { $0 != "\t" })] = line }
        let afterReseal = [latest["a"], latest["b"]].compactMap { $0 }.joined()
        #expect(afterReseal.contains("enc:v1:k2:") && !afterReseal.contains("enc:v1:k1:"), "\(afterReseal)")
        let updated = try ProcessRunner.run(["endpoints", "update", "a", "--timeout", "6s"] + newOnly, environment: ["NEW_KEY": newKey])
        #expect(updated.status == 0, "the new key alone opens the resealed secrets: \(updated.stderr)")
        let withoutKeys = try ProcessRunner.run(["endpoints", "reseal", "--brokers", broker.bootstrap])
        #expect(withoutKeys.status != 0 && withoutKeys.stderr.contains("reseal needs --registry-key"), "\(withoutKeys.stderr)")

        // A document another tool wrote badly (kcat): reseal refuses before writing anything, rm removes it.
        let bad = try ProcessRunner.run(
            ["-b", broker.bootstrap, "-P", "-t", "webhooks.endpoints", "-K", "\t"], stdin: Data("x\tnot json\n".utf8),
            executable: URL(fileURLWithPath: "/usr/bin/kcat"), timeout: 30
        )
        #expect(bad.status == 0, "\(bad.stderr)")
        let before = try Self.rawRegistry(broker.bootstrap).count
        let refusedReseal = try ProcessRunner.run(
            ["endpoints", "reseal", "--registry-key", "env:OLD_KEY", "--registry-key", "env:NEW_KEY", "--brokers", broker.bootstrap],
            environment: ["NEW_KEY": newKey, "OLD_KEY": keyLine]
        )
        #expect(refusedReseal.status != 0 && refusedReseal.stderr.contains("endpoint 'x': its document is not a JSON object"), "\(refusedReseal.stderr)")
        #expect(try Self.rawRegistry(broker.bootstrap).count == before, "nothing written")
        #expect(try run(["rm", "x"]).status == 0)
        #expect(try Self.rawRegistry(broker.bootstrap).last?.hasPrefix("x\t-1\t") == true)
    }

    @Test func oneSourceOfEndpointsPerDeployment() throws {
        let both = try ProcessRunner.run(["config", "check", "--brokers", "b:9092", "--endpoints", "/nonexistent.yaml", "--endpoint-registry"])
        #expect(both.status != 0 && both.stderr.contains("use one source of endpoints per deployment"), "\(both.stderr)")
        let registry = try ProcessRunner.run(["config", "check", "--brokers", "b:9092", "--endpoint-registry"])
        #expect(registry.status == 0 && registry.stdout.contains("endpoints: registry webhooks.endpoints"), "\(registry.stdout)\(registry.stderr)")
        let badKey = try ProcessRunner.run(["config", "check", "--brokers", "b:9092", "--endpoint-registry", "--registry-key", "env:NO_SUCH_KEY_VAR"],
                                           environment: ["NO_SUCH_KEY_VAR": nil])
        #expect(badKey.status != 0 && badKey.stderr.contains("registry_key: environment variable 'NO_SUCH_KEY_VAR' is not set"), "\(badKey.stderr)")
        let inlineKey = try ProcessRunner.run(["config", "check", "--brokers", "b:9092", "--endpoint-registry", "--registry-key", "k1:secretstuff"])
        #expect(inlineKey.status != 0 && !inlineKey.stderr.contains("secretstuff"), "\(inlineKey.stderr)")
    }
}
