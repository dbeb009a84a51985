import Foundation

/// Runs a subprocess to completion, for CLI tests.
enum ProcessRunner {
    /// The process did not finish within its time limit and was killed.
    struct TimedOut: Error, CustomStringConvertible {
        var arguments: [String]
        var seconds: Double
        var description: String { "\(arguments) did not finish within \(seconds)s" }
    }

    /// Runs `executable` (the `webhook-relay` binary by default) with `arguments`.
    ///
    /// - Parameters:
    ///   - stdin: bytes for standard input; `nil` gives an empty standard input.
    ///   - environment: variables set on top of this process's environment; a value of `nil`
    ///     removes the variable.
    ///   - timeout: the process is killed after this many seconds.
    ///   - inScratchDirectory: runs the process in a temporary directory removed afterwards (for
    ///     tools that leave caches in their working directory).
    /// - Returns: the exit status and everything written to standard output and standard error.
    ///   Output goes through temporary files, so large outputs cannot deadlock a pipe.
    static func run(
        _ arguments: [String],
        stdin: Data? = nil,
        environment: [String: String?] = [:],
        executable: URL? = nil,
        timeout: Double = 60,
        inScratchDirectory: Bool = false
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let fileManager = FileManager.default
        let directory = fileManager.temporaryDirectory.appendingPathComponent("process-runner-\(UUID().uuidString)")
        try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? fileManager.removeItem(at: directory) }
        let inputURL = directory.appendingPathComponent("stdin")
        let outputURL = directory.appendingPathComponent("stdout")
        let errorURL = directory.appendingPathComponent("stderr")
        try (stdin ?? Data()).write(to: inputURL)
        _ = fileManager.createFile(atPath: outputURL.path, contents: nil)
        _ = fileManager.createFile(atPath: errorURL.path, contents: nil)

        let input = try FileHandle(forReadingFrom: inputURL)
        let output = try FileHandle(forWritingTo: outputURL)
        let error = try FileHandle(forWritingTo: errorURL)
        defer {
            try? input.close()
            try? output.close()
            try? error.close()
        }

        var processEnvironment = ProcessInfo.processInfo.environment
        for (name, value) in environment {
            processEnvironment[name] = value
        }

        let process = Process()
        process.executableURL = try executable ?? WebhookRelayBinary.url()
        process.arguments = arguments
        process.environment = processEnvironment
        if inScratchDirectory {
            let scratch = directory.appendingPathComponent("scratch")
            try fileManager.createDirectory(at: scratch, withIntermediateDirectories: true)
            process.currentDirectoryURL = scratch
        }
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        try process.run()

        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                process.waitUntilExit()
                throw TimedOut(arguments: arguments, seconds: timeout)
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        process.waitUntilExit()

        let stdout = String(decoding: try Data(contentsOf: outputURL), as: UTF8.self)
        let stderr = String(decoding: try Data(contentsOf: errorURL), as: UTF8.self)
        return (process.terminationStatus, stdout, stderr)
    }
}

extension WebhookRelayBinary {
    /// Runs the `webhook-relay` binary with `arguments`; see ``ProcessRunner/run(_:stdin:environment:executable:timeout:)``.
    static func run(
        _ arguments: [String], stdin: Data? = nil, environment: [String: String?] = [:], timeout: Double = 60
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        try ProcessRunner.run(arguments, stdin: stdin, environment: environment, executable: url(), timeout: timeout)
    }
}

extension ProcessRunner {
    /// Reads bytes up to the first newline of a process's output that stays open (e.g. the
    /// bootstrap line `webhook-relay broker` prints before it serves).
    /// Waits until `condition` holds, checking it every 100 ms; returns whether it did.
    static func eventually(timeout: Duration, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return condition()
    }

    static func firstLine(of handle: FileHandle) throws -> String {
        var bytes: [UInt8] = []
        while true {
            guard let byte = handle.readData(ofLength: 1).first else { throw CocoaError(.fileReadUnknown) }
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
    }
}

/// `webhook-relay broker` started as a process with the relay's topics, for CLI tests; faults are
/// injected with ``control(_:)`` (its commands on standard input, one reply line each).
final class BrokerProcess {
    let process = Process()
    /// The bootstrap servers it printed.
    let bootstrap: String
    private let commands = Pipe()
    private let replies = Pipe()

    /// Starts the broker with `--relay-topics` and the extra arguments, and reads its bootstrap line.
    /// - Parameter log: where its standard error goes (default: this process's).
    init(partitions: Int, _ arguments: [String] = [], log: URL? = nil) throws {
        process.executableURL = try WebhookRelayBinary.url()
        process.arguments = ["broker", "--relay-topics", "--partitions", String(partitions), "--log-level", "warning"] + arguments
        process.standardInput = commands
        process.standardOutput = replies
        if let log {
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: log)
        }
        try process.run()
        bootstrap = try ProcessRunner.firstLine(of: replies.fileHandleForReading)
    }

    /// Sends one fault-injection command and returns the broker's reply (`ok …`).
    @discardableResult
    func control(_ command: String) throws -> String {
        commands.fileHandleForWriting.write(Data((command + "\n").utf8))
        let reply = try ProcessRunner.firstLine(of: replies.fileHandleForReading)
        guard reply.hasPrefix("ok") else { throw ControlError(command: command, reply: reply) }
        return reply
    }

    /// The broker answered `error: …`.
    struct ControlError: Error, CustomStringConvertible {
        var command: String
        var reply: String
        var description: String { "broker refused '\(command)': \(reply)" }
    }

    /// Stops it with SIGTERM and returns its exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}

/// `webhook-relay run` started as a process (admin server off), its output going to a file that
/// is removed with it.
final class RelayProcess {
    private let child: SuiteProcess

    /// Starts `webhook-relay run` with the arguments; `environment` is added to this process's.
    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let logFile = FileManager.default.temporaryDirectory.appendingPathComponent("relay-run-\(UUID().uuidString).log")
        child = try SuiteProcess(name: "relay", arguments: ["run", "--admin-port", "0"] + arguments, environment: environment, log: logFile)
    }

    var process: Process { child.process }

    /// Everything it wrote so far (standard output and standard error).
    var output: String { child.output }

    /// Stops it with SIGTERM (graceful) and waits.
    func stop() {
        child.stop()
    }

    deinit {
        child.terminate()
        try? FileManager.default.removeItem(at: child.logFile)
    }
}
