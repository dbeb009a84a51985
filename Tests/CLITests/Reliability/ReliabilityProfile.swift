import Foundation

/// Short (`make test`) or long (`make soak`, `WEBHOOK_RELAY_RELIABILITY=soak`) form of the
/// reliability suite: the record counts and how many times each fault is repeated.
struct ReliabilityProfile: Sendable {
    var name: String
    /// R1: records, endpoints, kills.
    var crashRecords: Int
    var crashEndpoints: Int
    var crashKills: Int
    /// Partitions per topic in R1 and R4: the mock broker keeps at most 5 MiB per partition and
    /// silently drops older records, so the long form spreads its records wider.
    var crashPartitions: Int
    /// R2: records per fault phase.
    var brokerFaultRecords: Int
    /// R3: records per scripted endpoint.
    var chaosRecordsPerEndpoint: Int
    /// R4: malformed and good records.
    var badRecords: Int
    var goodRecords: Int
    var badInputEndpoints: Int
    var badInputPartitions: Int
    /// R5: records, and how many SIGTERM/restart cycles.
    var gracefulRecords: Int
    var gracefulStops: Int

    static let short = ReliabilityProfile(
        name: "short", crashRecords: 40_000, crashEndpoints: 50, crashKills: 3, crashPartitions: 16, brokerFaultRecords: 1_500,
        chaosRecordsPerEndpoint: 60, badRecords: 10_000, goodRecords: 2_000, badInputEndpoints: 6, badInputPartitions: 8,
        gracefulRecords: 6_000, gracefulStops: 2
    )

    static let soak = ReliabilityProfile(
        name: "soak", crashRecords: 200_000, crashEndpoints: 50, crashKills: 6, crashPartitions: 32, brokerFaultRecords: 15_000,
        chaosRecordsPerEndpoint: 600, badRecords: 50_000, goodRecords: 20_000, badInputEndpoints: 30, badInputPartitions: 32,
        gracefulRecords: 60_000, gracefulStops: 5
    )

    /// `WEBHOOK_RELAY_RELIABILITY=soak` selects the long form.
    static var current: ReliabilityProfile {
        ProcessInfo.processInfo.environment["WEBHOOK_RELAY_RELIABILITY"] == "soak" ? .soak : .short
    }

    /// Scales a time limit: the soak moves ten times the records.
    func limit(_ seconds: Double) -> Duration {
        .milliseconds(Int64(seconds * (name == "soak" ? 10 : 1) * 1_000))
    }
}

/// One line per scenario for docs/reliability.md and `make soak`'s summary table, appended to
/// `WEBHOOK_RELAY_RELIABILITY_REPORT` (when set) and printed.
enum ReliabilityReport {
    static func record(_ scenario: String, _ figures: KeyValuePairs<String, String>) {
        let line = "| \(scenario) | " + figures.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + " |"
        print("reliability: \(line)")
        guard let path = ProcessInfo.processInfo.environment["WEBHOOK_RELAY_RELIABILITY_REPORT"], !path.isEmpty else { return }
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile()
            handle.write(Data((line + "\n").utf8))
            try? handle.close()
        }
    }
}
