import Foundation
import Testing
import Yams

/// deploy/ and docker-compose.yml cannot run here (no Docker engine, no cluster), so `make test`
/// checks that they parse, have what Kubernetes and Compose need, and agree with the code: probe
/// paths, the admin port, every WEBHOOK_RELAY_* name, and configs that `config check` accepts.
@Suite(.serialized)
struct DeployFilesTests {
    static let root: URL = {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
            directory.deleteLastPathComponent()
        }
        return directory
    }()

    func yaml(_ path: String) throws -> [String: Any] {
        let text = try String(contentsOf: Self.root.appendingPathComponent(path), encoding: .utf8)
        return try #require(try Yams.load(yaml: text) as? [String: Any], "\(path) is not a mapping")
    }

    /// The environment variables `run` and `config check` know, from their help texts.
    func knownVariables() throws -> String {
        try ProcessRunner.run(["run", "--help"]).stdout + ProcessRunner.run(["config", "check", "--help"]).stdout
    }

    @Test func kubernetesManifestsParseAndAgreeWithTheCode() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("deploy/kubernetes").path)
            .filter { $0.hasSuffix(".yaml") }.sorted()
        var kinds: [String: [String: Any]] = [:]
        for file in files {
            let manifest = try yaml("deploy/kubernetes/\(file)")
            let kind = try #require(manifest["kind"] as? String, "\(file): kind")
            #expect(manifest["apiVersion"] is String, "\(file): apiVersion")
            #expect((manifest["metadata"] as? [String: Any])?["name"] is String, "\(file): metadata.name")
            kinds[kind] = manifest
        }
        #expect(Set(kinds.keys) == ["Deployment", "ConfigMap", "Secret", "Service", "PodDisruptionBudget", "ScaledObject", "HorizontalPodAutoscaler"])

        let deployment = try #require(kinds["Deployment"])
        let template = try #require(((deployment["spec"] as? [String: Any])?["template"] as? [String: Any])?["spec"] as? [String: Any])
        let container = try #require((template["containers"] as? [[String: Any]])?.first)
        #expect((container["image"] as? String)?.contains("webhook-relay") == true)
        let ports = container["ports"] as? [[String: Any]] ?? []
        #expect(ports.contains { $0["containerPort"] as? Int == 9090 && $0["name"] as? String == "admin" })
        func probePath(_ name: String) -> String? {
            ((container[name] as? [String: Any])?["httpGet"] as? [String: Any])?["path"] as? String
        }
        #expect(probePath("livenessProbe") == "/healthz")
        #expect(probePath("readinessProbe") == "/readyz")
        #expect(((container["resources"] as? [String: Any])?["requests"] as? [String: Any])?["memory"] != nil)
        #expect((template["terminationGracePeriodSeconds"] as? Int ?? 0) > 15, "longer than the drain timeout")
        let help = try knownVariables()
        let environment = container["env"] as? [[String: Any]] ?? []
        for variable in environment.compactMap({ $0["name"] as? String }) where variable.hasPrefix("WEBHOOK_RELAY_") {
            #expect(help.contains(variable), "\(variable) is not a setting of run")
        }
        // Static membership: each replica's group instance id is its pod's name.
        let instanceID = environment.first { $0["name"] as? String == "WEBHOOK_RELAY_GROUP_INSTANCE_ID" }
        #expect((((instanceID?["valueFrom"] as? [String: Any])?["fieldRef"] as? [String: Any])?["fieldPath"] as? String) == "metadata.name")
        let selector = (((kinds["Service"]?["spec"] as? [String: Any])?["selector"]) as? [String: String])
        #expect(selector?["app.kubernetes.io/name"] == "webhook-relay")
        let trigger = ((kinds["ScaledObject"]?["spec"] as? [String: Any])?["triggers"] as? [[String: Any]])?.first
        #expect(trigger?["type"] as? String == "kafka")

        // The ConfigMap's settings and endpoints pass `config check`.
        let data = try #require(kinds["ConfigMap"]?["data"] as? [String: String])
        let relaySettings: String = try #require(data["relay.yaml"])
        let endpointsFile: String = try #require(data["endpoints.yaml"])
        try expectConfigCheckPasses(relay: relaySettings, endpoints: endpointsFile,
                                    environment: ["ORDERS_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])

        // Registry mode: the registry key and the API's tokens come from the Secret, mounted where
        // the Deployment mounts it; the settings pass `config check` with such files.
        let registrySettings = try #require(data["relay-registry.yaml"])
        let mounts = container["volumeMounts"] as? [[String: Any]] ?? []
        let mount = try #require(mounts.first { $0["name"] as? String == "registry" }?["mountPath"] as? String)
        let volumes = template["volumes"] as? [[String: Any]] ?? []
        let secretName = (volumes.first { $0["name"] as? String == "registry" }?["secret"] as? [String: Any])?["secretName"] as? String
        let secret = try yaml("deploy/kubernetes/secret-registry.yaml")
        #expect(secretName == (secret["metadata"] as? [String: Any])?["name"] as? String)
        let secretFiles = try #require(secret["stringData"] as? [String: String])
        #expect(Set(secretFiles.keys) == ["registry.key", "api.tokens"])
        #expect(registrySettings.contains("file:\(mount)/registry.key") && registrySettings.contains("file:\(mount)/api.tokens"))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("deploy-registry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = try ProcessRunner.run(["endpoints", "generate-key"]).stdout
        try key.write(to: directory.appendingPathComponent("registry.key"), atomically: true, encoding: .utf8)
        try "a-long-random-token-0123456789\n".write(to: directory.appendingPathComponent("api.tokens"), atomically: true, encoding: .utf8)
        let settings = directory.appendingPathComponent("relay.yaml")
        try registrySettings.replacingOccurrences(of: mount, with: directory.path).write(to: settings, atomically: true, encoding: .utf8)
        let check = try ProcessRunner.run(["config", "check", "--config", settings.path], environment: ["WEBHOOK_RELAY_CONFIG": nil])
        #expect(check.status == 0 && check.stdout.contains("endpoints: registry webhooks.endpoints"), "\(check.stderr)")
        #expect(!check.stdout.contains("a-long-random-token"))
    }

    @Test func composeFileParsesAndAgreesWithTheCode() throws {
        let compose = try yaml("docker-compose.yml")
        let services = try #require(compose["services"] as? [String: [String: Any]])
        #expect(Set(services.keys) == ["kafka", "topics", "relay", "receiver"])
        #expect((services["kafka"]?["image"] as? String)?.hasPrefix("apache/kafka:") == true)
        let kafkaEnvironment = services["kafka"]?["environment"] as? [String: Any] ?? [:]
        #expect((kafkaEnvironment["KAFKA_PROCESS_ROLES"] as? String)?.contains("controller") == true, "KRaft mode")
        #expect((services["topics"]?["command"] as? [String])?.prefix(2) == ["topics", "create"])
        #expect((services["receiver"]?["image"] as? String)?.hasPrefix("python:") == true)
        #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent("deploy/receiver/receiver.py").path))
        #expect(((services["topics"]?["build"] as? [String: Any])?["dockerfile"] as? String) == "deploy/Dockerfile")

        let relay = try #require(services["relay"])
        let environment = try #require(relay["environment"] as? [String: Any]).mapValues { "\($0)" }
        let help = try knownVariables()
        for variable in environment.keys where variable.hasPrefix("WEBHOOK_RELAY_") {
            #expect(help.contains(variable), "\(variable) is not a setting of run")
        }
        #expect((relay["ports"] as? [String])?.contains("\(environment["WEBHOOK_RELAY_ADMIN_PORT"] ?? ""):9090") == true)
        let endpoints = try #require(((compose["configs"] as? [String: Any])?["endpoints"] as? [String: Any])?["content"] as? String)
        var variables = environment
        variables.removeValue(forKey: "WEBHOOK_RELAY_ENDPOINTS")
        try expectConfigCheckPasses(relay: nil, endpoints: endpoints, environment: variables)
    }

    @Test func dockerfileBuildsOnSwiftAndRunsOnSlimDebianWithLibrdkafka() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("deploy/Dockerfile"), encoding: .utf8)
        let stages = text.split(separator: "\n").filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2)
        #expect(stages.first?.contains("swift:") == true)
        #expect(stages.last?.contains("debian:") == true && stages.last?.contains("slim") == true)
        #expect(text.contains("librdkafka1"))
        #expect(text.contains("EXPOSE 9090"))
    }

    /// Writes the settings and endpoints to a temporary directory and runs `config check` on them.
    private func expectConfigCheckPasses(relay: String?, endpoints: String, environment: [String: String]) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("deploy-check-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let endpointsFile = directory.appendingPathComponent("endpoints.yaml")
        try endpoints.write(to: endpointsFile, atomically: true, encoding: .utf8)
        var arguments = ["config", "check", "--endpoints", endpointsFile.path]
        if let relay {
            let relayFile = directory.appendingPathComponent("relay.yaml")
            try relay.write(to: relayFile, atomically: true, encoding: .utf8)
            arguments += ["--config", relayFile.path]
        }
        var variables: [String: String?] = environment.mapValues { $0 }
        variables["WEBHOOK_RELAY_CONFIG"] = .some(nil)
        let result = try ProcessRunner.run(arguments, environment: variables)
        #expect(result.status == 0, "config check failed: \(result.stderr)")
    }
}
