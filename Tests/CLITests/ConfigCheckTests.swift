import Foundation
import Testing

/// `webhook-relay config check`: the effective settings, their precedence, and a precise message
/// for each broken configuration.
@Suite(.serialized)
struct ConfigCheckTests {
    static let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    /// Runs `config check` in a directory holding `endpoints.yaml` and `relay.yaml`.
    func check(config: String?, endpoints: String? = nil, arguments: [String] = [], environment: [String: String?] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let endpointsFile = directory.appendingPathComponent("endpoints.yaml")
        try (endpoints ?? "endpoints:\n  - id: a\n    url: https://hooks.example.com/a\n    secrets: [\"\(Self.secret)\"]\n")
            .write(to: endpointsFile, atomically: true, encoding: .utf8)
        var args = ["config", "check"]
        if let config {
            let configFile = directory.appendingPathComponent("relay.yaml")
            try config.replacingOccurrences(of: "ENDPOINTS", with: endpointsFile.path).write(to: configFile, atomically: true, encoding: .utf8)
            args += ["--config", configFile.path]
        }
        var env: [String: String?] = [:]
        for name in ["WEBHOOK_RELAY_BROKERS", "WEBHOOK_RELAY_ENDPOINTS", "WEBHOOK_RELAY_CONFIG", "WEBHOOK_RELAY_MAX_IN_FLIGHT"] { env[name] = .some(nil) }
        env.merge(environment) { _, new in new }
        return try ProcessRunner.run(args + arguments.map { $0.replacingOccurrences(of: "ENDPOINTS", with: endpointsFile.path) }, environment: env)
    }

    @Test func validConfigPrintsEffectiveSettingsWithSecretsMasked() throws {
        let result = try check(config: """
            brokers: kafka-1:9092,kafka-2:9092
            endpoints: ENDPOINTS
            max_in_flight: 256
            retry_schedule: 1s,1m
            kafka:
              security.protocol: SASL_SSL
              sasl.password: hunter2-very-secret
            """)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("brokers: kafka-1:9092,kafka-2:9092"))
        #expect(result.stdout.contains("max_in_flight: 256"))
        #expect(result.stdout.contains("retry_schedule: 1s,1m"))
        #expect(result.stdout.contains("kafka.security.protocol: SASL_SSL"))
        #expect(result.stdout.contains("kafka.sasl.password: ****"))
        #expect(result.stdout.contains("configuration is valid"))
        #expect(!result.stdout.contains("hunter2-very-secret") && !result.stdout.contains(Self.secret))
    }

    @Test func flagsWinOverEnvironmentWhichWinsOverTheFile() throws {
        let config = "brokers: from-file:9092\nendpoints: ENDPOINTS\nmax_in_flight: 10\ngroup: file-group\n"
        let result = try check(config: config, arguments: ["--max-in-flight", "30"],
                               environment: ["WEBHOOK_RELAY_MAX_IN_FLIGHT": "20", "WEBHOOK_RELAY_GROUP": "env-group"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("max_in_flight: 30"))
        #expect(result.stdout.contains("group: env-group"))
        #expect(result.stdout.contains("brokers: from-file:9092"))
    }

    @Test func handOverSettingsComeFromFlagsEnvironmentOrFile() throws {
        let defaults = try check(config: "brokers: b:9092\nendpoints: ENDPOINTS\n")
        #expect(defaults.status == 0, "\(defaults.stderr)")
        #expect(defaults.stdout.contains("group_instance_id: (dynamic membership)"))
        #expect(defaults.stdout.contains("rebalance_drain_timeout: 2s"))
        #expect(defaults.stdout.contains("webhooks.progress"), "the progress topic is one of the relay's topics")
        let set = try check(
            config: "brokers: b:9092\nendpoints: ENDPOINTS\nrebalance_drain_timeout: 500ms\n",
            environment: ["WEBHOOK_RELAY_GROUP_INSTANCE_ID": "webhook-relay-7d9f-2"]
        )
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout.contains("group_instance_id: webhook-relay-7d9f-2"))
        #expect(set.stdout.contains("rebalance_drain_timeout: 500ms"))
    }

    @Test(arguments: [
        ("brokers: b:9092\nendpoints: ENDPOINTS\ncolour: blue\n", "unknown setting 'colour'"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\nmax_in_flight: lots\n", "max_in_flight (config"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\nretry_schedule: 1s,soon\n", "retry_schedule (config"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\ndrain_timeout: 15\n", "drain_timeout (config"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\nrebalance_drain_timeout: soon\n", "rebalance_drain_timeout (config"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\ngroup_instance_id: \"pod 1\"\n", "group_instance_id (config"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\nretry_jitter: 2\n", "retry_jitter (config"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\nallow_network: [10.0.0.0/33]\n", "allow_network: '10.0.0.0/33'"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\nallow_private_network: maybe\n", "allow_private_network"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\nadmin_port: 70000\n", "admin_port (config"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\nca_file: /nonexistent/ca.pem\n", "ca_file (config"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\nca_file: ENDPOINTS\n", "is not a PEM file of certificates"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\nlog_level: loud\n", "log_level (config"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\ntopic_prefix: \"has space\"\n", "topic_prefix"),
        ("endpoints: ENDPOINTS\n", "--brokers is required"),
        ("brokers: b:9092\n", "--endpoints is required"),
        ("brokers: b:9092\nendpoints: /nonexistent/endpoints.yaml\n", "cannot read the endpoints file"),
        ("brokers: [b:9092\n", "not valid YAML"),
    ])
    func brokenConfigsFailWithAPreciseMessage(config: String, expected: String) throws {
        let result = try check(config: config)
        #expect(result.status != 0)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
    }

    @Test func brokenEndpointsFileIsReportedWithEndpointAndField() throws {
        let result = try check(
            config: "brokers: b:9092\nendpoints: ENDPOINTS\n",
            endpoints: "endpoints:\n  - id: a\n    url: https://a.example/x\n    secrets: [\"\(Self.secret)\"]\n    rate_limit: fast\n"
        )
        #expect(result.status != 0)
        #expect(result.stderr.contains("endpoint 'a': field 'rate_limit'"), "\(result.stderr)")
        #expect(!result.stderr.contains(Self.secret))
    }

    static let kafkaSecret = "hunter2-kafka-S3CR3T"

    /// Issue 15, defects 4 and 7: a YAML error, a duplicated key or a bad value in `--config`
    /// echoed the offending line or value; `sasl.oauthbearer.config`, a malformed `--kafka` pair,
    /// a bad `scheme:` and URL user info were printed too. Every message names the problem and
    /// the line, never the secret.
    @Test(arguments: [
        ("brokers: b:9092\nendpoints: ENDPOINTS\nkafka:\n  sasl.password: \"\(kafkaSecret)\n", [String](), ":5: not valid YAML: found unexpected end of stream"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\nkafka:\n  sasl.password: \(kafkaSecret)\n  sasl.password: \(kafkaSecret)\n", [], ":4: not valid YAML: a key appears twice"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\nkafka: {sasl.password: \(kafkaSecret)]}\n", [], "not valid YAML"),
        ("brokers: b:9092\nendpoints: ENDPOINTS\n", ["--kafka", "sasl.password:\(kafkaSecret)"], "--kafka expects KEY=VALUE"),
    ])
    func configErrorsNeverShowTheSecretsInThem(config: String, arguments: [String], expected: String) throws {
        let result = try check(config: config, arguments: arguments)
        #expect(result.status != 0)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(!(result.stdout + result.stderr).contains(Self.kafkaSecret), "\(result.stdout)\(result.stderr)")
    }

    @Test func credentialsInKafkaPropertiesAndURLsAreMasked() throws {
        let masked = try check(config: "brokers: b:9092\nendpoints: ENDPOINTS\n", arguments: [
            "--kafka", "sasl.oauthbearer.config=clientId=relay clientSecret=\(Self.kafkaSecret)",
            "--kafka", "sasl.jaas.config=\(Self.kafkaSecret)", "--kafka", "ssl.key.pem=\(Self.kafkaSecret)",
            "--kafka", "ssl.ca.location=/etc/ssl/ca.pem",
        ])
        #expect(masked.status == 0, "\(masked.stderr)")
        #expect(masked.stdout.contains("kafka.sasl.oauthbearer.config: ****") && masked.stdout.contains("kafka.ssl.ca.location: /etc/ssl/ca.pem"))
        #expect(!masked.stdout.contains(Self.kafkaSecret), "\(masked.stdout)")
        for (field, value) in [("url", "ftp://user:\(Self.kafkaSecret)@hooks.example.com/a"), ("url", "https://user:\(Self.kafkaSecret)@hooks.example.com/a"),
                               ("scheme", Self.kafkaSecret)] {
            let endpoints = "endpoints:\n  - id: a\n    url: \(field == "url" ? value : "https://hooks.example.com/a")\n"
                + "    secrets: [\"\(Self.secret)\"]\n" + (field == "scheme" ? "    scheme: \(value)\n" : "")
            let result = try check(config: "brokers: b:9092\nendpoints: ENDPOINTS\n", endpoints: endpoints)
            #expect(result.status != 0)
            #expect(result.stderr.contains("endpoint 'a': field '\(field)'"), "\(result.stderr)")
            #expect(!result.stderr.contains(Self.kafkaSecret), "\(result.stderr)")
        }
    }

    /// Issue 15, defect 5: nine levels of nine aliases used as a mapping key (353 bytes) hung
    /// `--config` at 100 % CPU. The config file is guarded like the endpoints file, and both have
    /// a size limit.
    @Test func aliasBombsAndHugeFilesAreRefusedAtOnce() throws {
        var bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 {
            bomb += "a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ", ") + "]\n"
        }
        bomb += "? *a8\n: 1\nbrokers: b:9092\nendpoints: ENDPOINTS\n"
        let started = ContinuousClock.now
        let refused = try check(config: bomb)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains(":10: a mapping key refers to a YAML alias"), "\(refused.stderr)")
        #expect(ContinuousClock.now - started < .seconds(60), "it must not run for minutes")

        let huge = "brokers: b:9092\nendpoints: ENDPOINTS\n" + String(repeating: "# padding\n", count: 110_000)
        let tooLarge = try check(config: huge)
        #expect(tooLarge.status != 0)
        #expect(tooLarge.stderr.contains("more than the limit of 1048576"), "\(tooLarge.stderr)")

        let endpoints = "endpoints:\n  - id: a\n    url: https://hooks.example.com/a\n    secrets: [\"\(Self.secret)\"]\n"
            + String(repeating: "# padding of a file too large to load in reasonable time\n", count: 160_000)
        let tooManyEndpoints = try check(config: "brokers: b:9092\nendpoints: ENDPOINTS\n", endpoints: endpoints)
        #expect(tooManyEndpoints.status != 0)
        #expect(tooManyEndpoints.stderr.contains("more than the limit of 8388608"), "\(tooManyEndpoints.stderr)")
    }
}
