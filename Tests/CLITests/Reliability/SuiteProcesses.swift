import Foundation

/// A scenario's working directory: files, process logs, and the secrets that must never appear
/// in any process output (R6).
final class Scenario {
    let directory: URL
    private(set) var processes: [SuiteProcess] = []
    /// Every secret (and its key material) the scenario looks for in outputs.
    private(set) var secrets: [String] = []
    private var otherOutputs: [(name: String, read: () -> String)] = []

    init(_ name: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("reliability-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// Starts `webhook-relay` with the arguments; its output goes to `<name>.log`.
    func start(_ name: String, _ arguments: [String], environment: [String: String] = [:]) throws -> SuiteProcess {
        let process = try SuiteProcess(name: name, arguments: arguments, environment: environment, log: file("\(name).log"))
        processes.append(process)
        return process
    }

    /// Adds an output of something that is not a ``SuiteProcess`` (the broker) to the secrets check.
    func watchOutput(_ name: String, _ read: @escaping () -> String) { otherOutputs.append((name, read)) }

    /// Secrets to look for in every output; the key material without its prefix too.
    func addSecrets(_ values: [String]) {
        for value in values {
            secrets.append(value)
            for prefix in ["whsec_", "whsk_"] where value.hasPrefix(prefix) {
                secrets.append(String(value.dropFirst(prefix.count)))
            }
        }
    }

    /// The secrets found in any process output, with the process name.
    func leakedSecrets() -> [String] {
        var leaks: [String] = []
        for (name, read) in processes.map({ process in (process.name, { process.output }) }) + otherOutputs {
            let output = read()
            for secret in secrets where output.contains(secret) {
                leaks.append("\(name): \(secret.prefix(6))…")
            }
        }
        return leaks
    }

    /// Stops everything still running; keeps the directory when `keep` (a failed run) and says where.
    func finish(keep: Bool) {
        for process in processes.reversed() { process.terminate() }
        if keep || ProcessInfo.processInfo.environment["WEBHOOK_RELAY_RELIABILITY_KEEP"] != nil {
            print("reliability: scenario files kept in \(directory.path)")
        } else {
            try? FileManager.default.removeItem(at: directory)
        }
    }
}

/// `webhook-relay` as a child process whose standard output and error go to a log file.
final class SuiteProcess {
    let name: String
    let arguments: [String]
    let environment: [String: String]
    let logFile: URL
    private(set) var process: Process
    /// How many times it was started.
    private(set) var starts = 0

    init(name: String, arguments: [String], environment: [String: String], log: URL) throws {
        self.name = name
        self.arguments = arguments
        self.environment = environment
        self.logFile = log
        self.process = Process()
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        try launch()
    }

    private func launch() throws {
        let process = Process()
        process.executableURL = try WebhookRelayBinary.url()
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let handle = try FileHandle(forWritingTo: logFile)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try handle.close()
        self.process = process
        starts += 1
    }

    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    /// Everything it wrote, over all its starts.
    var output: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Waits until every start has written `line` (a replica's "Starting relay", logged once its
    /// stop signals are trapped), so a SIGTERM sent next is handled, not fatal.
    func waitUntilEveryStartLogged(_ line: String, upTo limit: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now.advanced(by: limit)
        while ContinuousClock.now < deadline {
            if output.components(separatedBy: line).count - 1 >= starts { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// `kill -9`.
    func kill9() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// SIGTERM, then waits up to `timeout` for it to exit; returns the exit status, or `nil` when
    /// it had to be killed.
    @discardableResult
    func stop(timeout: Duration = .seconds(60)) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        process.terminate()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            kill9()
            return nil
        }
        return process.terminationReason == .exit ? process.terminationStatus : -process.terminationStatus
    }

    func terminate() {
        if process.isRunning {
            process.terminate()
            let deadline = ContinuousClock.now.advanced(by: .seconds(20))
            while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
            kill9()
        }
    }

    /// Starts it again with the same arguments (after a kill or stop).
    func restart() throws {
        precondition(!process.isRunning)
        try launch()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
