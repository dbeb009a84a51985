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
    /// - Returns: the exit status and everything written to standard output and standard error.
    ///   Output goes through temporary files, so large outputs cannot deadlock a pipe.
    static func run(
        _ arguments: [String],
        stdin: Data? = nil,
        environment: [String: String?] = [:],
        executable: URL? = nil,
        timeout: Double = 60
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
    static func firstLine(of handle: FileHandle) throws -> String {
        var bytes: [UInt8] = []
        while true {
            guard let byte = handle.readData(ofLength: 1).first else { throw CocoaError(.fileReadUnknown) }
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
    }
}

/// `webhook-relay broker` started as a process with the relay's topics, for CLI tests.
final class BrokerProcess {
    let process = Process()
    /// The bootstrap servers it printed.
    let bootstrap: String

    /// Starts the broker with `--relay-topics` and the extra arguments, and reads its bootstrap line.
    init(partitions: Int, _ arguments: [String] = []) throws {
        process.executableURL = try WebhookRelayBinary.url()
        process.arguments = ["broker", "--relay-topics", "--partitions", String(partitions), "--log-level", "warning"] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        bootstrap = try ProcessRunner.firstLine(of: output.fileHandleForReading)
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

/// `webhook-relay run` started as a process (admin server off), its output going to a file.
final class RelayProcess {
    let process = Process()
    private let logFile: URL
    private let log: FileHandle

    /// Starts `webhook-relay run` with the arguments; `environment` is added to this process's.
    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent("relay-run-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        log = try FileHandle(forWritingTo: logFile)
        process.executableURL = try WebhookRelayBinary.url()
        process.arguments = ["run", "--admin-port", "0"] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardError = log
        process.standardOutput = log
        try process.run()
    }

    /// Everything it wrote so far (standard output and standard error).
    var output: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Stops it with SIGTERM (graceful) and waits.
    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { process.interrupt() }
        try? log.close()
        try? FileManager.default.removeItem(at: logFile)
    }
}
