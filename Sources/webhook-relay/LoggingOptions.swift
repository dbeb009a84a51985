import ArgumentParser
import Foundation
import Logging

/// `--log-level` and `--log-format`, shared by every command that logs. Logs go to standard error.
struct LoggingOptions: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical (env: WEBHOOK_RELAY_LOG_LEVEL).")
    var logLevel: Logger.Level?

    @Option(help: "Log format: text, or json for one JSON object per line (env: WEBHOOK_RELAY_LOG_FORMAT).")
    var logFormat: Format?

    func makeLogger(label: String) -> Logger {
        let environment = ProcessInfo.processInfo.environment
        let format = logFormat ?? environment["WEBHOOK_RELAY_LOG_FORMAT"].flatMap(Format.init(rawValue:)) ?? .text
        var logger = Logger(label: label) { label in
            switch format {
            case .text: StreamLogHandler.standardError(label: label)
            case .json: JSONLogHandler(label: label)
            }
        }
        logger.logLevel = logLevel ?? environment["WEBHOOK_RELAY_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        return logger
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
