import Foundation
import Testing
import WebhookRelay

struct EndpointsFileTests {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    @Test func parsesEndpointsWithDefaultsAndSecretSources() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("endpoints-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try (secret + "\n").write(to: directory.appendingPathComponent("secret.txt"), atomically: true, encoding: .utf8)
        let yaml = """
            defaults:
              timeout: 5s
              max_in_flight: 8
              headers: {X-Env: test}
            endpoints:
              - id: orders
                url: https://example.com/hooks
                secrets: [\(secret)]
                events: ["order.*"]
              - id: billing
                url: http://billing.internal:8080/in
                scheme: nself
                secrets: ["env:BILLING_SECRET"]
                timeout: 30s
              - id: files
                url: https://example.com/files
                secrets: ["file:secret.txt"]
            """
        let path = directory.appendingPathComponent("endpoints.yaml")
        try yaml.write(to: path, atomically: true, encoding: .utf8)
        let endpoints = try EndpointsFile.load(path: path.path, environment: ["BILLING_SECRET": "s3cret"])
        #expect(endpoints.map(\.id) == ["orders", "billing", "files"])
        #expect(endpoints[0].timeout == .seconds(5))
        #expect(endpoints[0].maxInFlight == 8)
        #expect(endpoints[0].headers.map(\.name) == ["X-Env"])
        #expect(endpoints[0].accepts(event: "order.paid") && !endpoints[0].accepts(event: "invoice.paid"))
        #expect(endpoints[1].scheme == .nself)
        #expect(endpoints[1].timeout == .seconds(30))
        #expect(endpoints[1].accepts(event: "anything"))
        #expect(endpoints[2].scheme == .standard)
    }

    @Test(arguments: [
        ("endpoints: []", "'endpoints' is missing or empty"),
        ("endpoints:\n  - url: https://a.example/x\n    secrets: [S]", "'id' is required"),
        ("endpoints:\n  - id: a\n    url: https://a.example/x\n    secrets: [S]\n    colour: red", "endpoint 'a': unknown field 'colour'"),
        ("endpoints:\n  - id: a\n    url: ftp://a.example/x\n    secrets: [S]", "endpoint 'a': field 'url'"),
        ("endpoints:\n  - id: a\n    url: https://a.example/x\n    secrets: [S]\n    timeout: soon", "endpoint 'a': field 'timeout'"),
        ("endpoints:\n  - id: a\n    url: https://a.example/x\n    secrets: [S]\n    max_in_flight: 0", "endpoint 'a': field 'max_in_flight'"),
        ("endpoints:\n  - id: a\n    url: https://a.example/x\n    scheme: hmac\n    secrets: [S]", "endpoint 'a': field 'scheme'"),
        ("endpoints:\n  - id: a\n    url: https://a.example/x\n    secrets: [notawhsec]", "endpoint 'a': field 'secrets'"),
        ("endpoints:\n  - id: a\n    url: https://a.example/x\n    secrets: [\"env:NOPE_NOT_SET\"]", "environment variable 'NOPE_NOT_SET' is not set"),
        ("endpoints:\n  - id: a\n    url: https://a.example/x\n    secrets: [S]\n  - id: a\n    url: https://b.example/x\n    secrets: [S]", "endpoint 'a': the id is used twice"),
        ("defaults:\n  url: https://a.example\nendpoints:\n  - id: a\n    url: https://a.example/x\n    secrets: [S]", "defaults: unknown field 'url'"),
        ("endpoint:\n  - id: a", "unknown top-level field 'endpoint'"),
        ("endpoints: [", "not valid YAML"),
    ])
    func badFilesFailNamingTheProblem(yaml: String, expected: String) {
        let text = yaml.replacingOccurrences(of: "[S]", with: "[\(secret)]")
        do {
            _ = try EndpointsFile.parse(text, source: "endpoints.yaml", environment: [:])
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.message.contains(expected), "\(error.message)")
            #expect(error.message.hasPrefix("endpoints.yaml"))
            #expect(!error.message.contains(secret), "a secret leaked into the error")
        }
    }

    /// Issue 15, defect 6: URLs that parse but can never get a request validated, and every
    /// delivery to them ran the whole schedule to `exhausted`. They are refused on load.
    @Test(arguments: [
        ("http://2130706433/", "IPv4 address in a short"), ("http://0x7f.1/", "IPv4 address in a short"),
        ("http://127.1/", "IPv4 address in a short"), ("http://017700000001/", "IPv4 address in a short"),
        ("http://0/", "IPv4 address in a short"), ("http://127.000.0.1/", "IPv4 address in a short"),
        ("http://hooks.example.com./in", "trailing dot"), ("http://hooks%2Eexample.com/in", "percent-encoded host"),
        ("http://user:pass@hooks.example.com/in", "must not carry user info"), ("http://hooks.example.com:0/in", "port 0"),
        ("http://hooks.example.com:99999/in", "99999"), ("http://a..b/", "empty label"), ("ftp://hooks.example.com/", "http:// or https://"),
        ("https:///nohost", "has no host"),
    ])
    func undeliverableURLsAreRefusedWithTheReason(url: String, reason: String) {
        let yaml = "endpoints:\n  - id: a\n    url: \"\(url)\"\n    secrets: [\(secret)]\n"
        do {
            _ = try EndpointsFile.parse(yaml, environment: [:])
            Issue.record("\(url) was accepted")
        } catch {
            #expect(error.message.contains("field 'url'") && error.message.contains(reason), "\(error.message)")
            #expect(!error.message.contains("pass@"), "user info shown: \(error.message)")
        }
    }

    @Test(arguments: ["http://127.0.0.1:8080/in", "https://10.0.0.1/", "https://[::1]:8443/x", "https://hooks.example.com/in?x=1",
                      "http://1st.example/", "https://0.0.0.0/", "https://xn--bcher-kva.example/"])
    func deliverableURLsAreAccepted(url: String) throws {
        let endpoints = try EndpointsFile.parse("endpoints:\n  - id: a\n    url: \"\(url)\"\n    secrets: [\(secret)]\n", environment: [:])
        #expect(endpoints.first?.url == url)
    }

    @Test func secretValueNeverAppearsInAnError() {
        let badSecret = "whsec_!!!not-base64-but-secret-looking"
        let yaml = "endpoints:\n  - id: a\n    url: https://a.example/x\n    secrets: [\"\(badSecret)\"]"
        do {
            _ = try EndpointsFile.parse(yaml, environment: [:])
            Issue.record("accepted a bad secret")
        } catch {
            #expect(!error.message.contains("not-base64-but-secret-looking"))
            #expect(error.message.contains("field 'secrets'"))
        }
    }
}
