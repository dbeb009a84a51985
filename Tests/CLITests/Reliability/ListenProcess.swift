import Foundation

/// `webhook-relay listen` as a child process, and its JSON lines read as they grow.
final class ListenProcess {
    /// One JSON line of the listen log.
    struct Entry: Decodable {
        var received_at_ms: Int64
        var endpoint: String
        var webhook_id: String
        var attempt: Int
        var sender_attempt: Int?
        var verified: Bool
        var answer: String
        var error: String?

        /// The status answered, or `nil` for a timeout or reset.
        var status: Int? { Int(answer) }
        var succeeded: Bool { status.map { (200..<300).contains($0) } ?? false }
    }

    let process: SuiteProcess
    let url: String
    private let logFile: URL
    private var readOffset: UInt64 = 0
    private var pending = Data()
    /// Every entry read so far, in log order.
    private(set) var entries: [Entry] = []
    /// Entries per webhook id.
    private(set) var byID: [String: [Entry]] = [:]
    /// Ids with a 2xx answer.
    private(set) var delivered: Set<String> = []

    /// Starts `listen --port 0` for the endpoints file, with `--behaviour` specs.
    init(scenario: Scenario, endpointsFile: URL, behaviours: [String] = [], environment: [String: String] = [:]) throws {
        logFile = scenario.file("listen.jsonl")
        process = try scenario.start(
            "listen",
            ["listen", "--port", "0", "--endpoints", endpointsFile.path, "--log", logFile.path]
                + behaviours.flatMap { ["--behaviour", $0] },
            environment: environment
        )
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        var announced: String?
        while announced == nil && ContinuousClock.now < deadline && process.isRunning {
            announced = process.output.split(separator: "\n").first { $0.hasPrefix("webhook-relay listen: http") }.map(String.init)
            if announced == nil { Thread.sleep(forTimeInterval: 0.05) }
        }
        guard let announced, let url = announced.split(separator: " ").dropFirst(2).first else {
            throw StartFailure(output: process.output)
        }
        self.url = String(url)
    }

    struct StartFailure: Error, CustomStringConvertible {
        var output: String
        var description: String { "listen did not start: \(output)" }
    }

    /// Reads the lines written since the last call.
    func refresh() throws {
        guard let handle = FileHandle(forReadingAtPath: logFile.path) else { return }
        defer { try? handle.close() }
        try handle.seek(toOffset: readOffset)
        let data = handle.readDataToEndOfFile()
        readOffset += UInt64(data.count)
        pending.append(data)
        guard let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) else { return }
        let complete = pending[pending.startIndex...lastNewline]
        let decoder = JSONDecoder()
        for line in complete.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            let entry = try decoder.decode(Entry.self, from: Data(line))
            entries.append(entry)
            byID[entry.webhook_id, default: []].append(entry)
            if entry.succeeded { delivered.insert(entry.webhook_id) }
        }
        pending = Data(pending[pending.index(after: lastNewline)...])
    }

    /// Waits until `condition` holds (checked after each refresh) or the time is up.
    func wait(upTo limit: Duration, until condition: (ListenProcess) -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now.advanced(by: limit)
        while ContinuousClock.now < deadline {
            try refresh()
            if condition(self) { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        try refresh()
        return condition(self)
    }

    /// Attempts that came before their due time. Attempt n+1 (by the relay's `Webhook-Attempt`)
    /// must arrive at least `wait(n, entry)` after the earliest failed attempt n of the same id
    /// (5 ms allowed for the log's millisecond rounding); a duplicate of an attempt is not a retry.
    func earlyAttempts(wait: (_ failedAttempt: Int, _ entry: Entry) -> Int64) -> [String] {
        var early: [String] = []
        for (id, entries) in byID {
            var earliestFailure: [Int: Entry] = [:]
            for entry in entries where !entry.succeeded {
                guard let attempt = entry.sender_attempt else { continue }
                if let known = earliestFailure[attempt], known.received_at_ms <= entry.received_at_ms { continue }
                earliestFailure[attempt] = entry
            }
            for entry in entries {
                guard let attempt = entry.sender_attempt, attempt >= 2 else { continue }
                guard let failed = earliestFailure[attempt - 1] else {
                    early.append("\(id) attempt \(attempt): no failed attempt \(attempt - 1) before it")
                    continue
                }
                let required = wait(attempt - 1, failed)
                let gap = entry.received_at_ms - failed.received_at_ms
                if gap + 5 < required {
                    early.append("\(id) attempt \(attempt): \(gap) ms after attempt \(attempt - 1), due after \(required) ms")
                }
            }
        }
        return early
    }

    /// The most 2xx answers in one second of the log.
    var peakDeliveriesPerSecond: Int {
        var perSecond: [Int64: Int] = [:]
        for entry in entries where entry.succeeded { perSecond[entry.received_at_ms / 1_000, default: 0] += 1 }
        return perSecond.values.max() ?? 0
    }

    /// The most 2xx answers any one id got.
    var mostDeliveriesOfOneID: (id: String, count: Int) {
        byID.map { ($0.key, $0.value.filter(\.succeeded).count) }.max { $0.1 < $1.1 } ?? ("", 0)
    }

    /// Waits until 2xx answers have kept arriving for `period` — by the receiver's clock, with no
    /// gap over 250 ms between them — or until `total` distinct ids have been delivered (nothing
    /// is left to flow), at most `limit`. (The receiver writes its log every 100 ms, so when lines
    /// show up says nothing about when they arrived.)
    func waitForSteadyDeliveries(_ period: Duration, orAll total: Int, upTo limit: Duration) async throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        let periodMilliseconds = period / .milliseconds(1)
        let allowedGap: Int64 = 250
        while clock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            try refresh()
            if delivered.count >= total { return true }
            let now = Int64((Date().timeIntervalSince1970 * 1_000).rounded())
            // The log's last 100 ms may not be written yet: judge the period before it.
            let end = now - 200
            let start = end - Int64(periodMilliseconds)
            let times = entries.reversed().prefix { $0.received_at_ms >= start - allowedGap }.filter(\.succeeded).map(\.received_at_ms).sorted()
            guard let first = times.first, first <= start, let last = times.last, last >= end - allowedGap else { continue }
            if zip(times, times.dropFirst()).allSatisfy({ $1 - $0 <= allowedGap }) { return true }
        }
        return false
    }

    /// Requests for ids that had already been answered 2xx.
    var duplicateDeliveries: Int {
        byID.values.reduce(0) { total, entries in
            guard let first = entries.firstIndex(where: \.succeeded) else { return total }
            return total + entries.count - first - 1
        }
    }
}
