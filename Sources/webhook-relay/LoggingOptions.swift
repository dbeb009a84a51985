import ArgumentParser
import Foundation
import Logging

/// `--log-level` and `--log-format`, shared by every command that logs. Logs go to standard error.
struct LoggingOptions: ParsableArguments {
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case text, json
    }

    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical (env: WEBHOOK_RELAY_LOG_LEVEL; default info).")
    var logLevel: Logger.Level?

    @Option(help: "Log format: text, or json for one JSON object per line (env: WEBHOOK_RELAY_LOG_FORMAT; default text).")
    var logFormat: Format?

    func makeLogger(label: String) -> Logger {
        makeLogger(label: label, layers: ConfigLayers(environment: ProcessInfo.processInfo.environment))
    }

    /// The logger, with level and format also taken from the environment or the config file.
    func makeLogger(label: String, layers: ConfigLayers) -> Logger {
        let format = logFormat ?? layers.string(nil, .logFormat).flatMap { Format(rawValue: $0.value) } ?? .text
        var logger = Logger(label: label) { label in
            switch format {
            case .text: StreamLogHandler.standardError(label: label)
            case .json: JSONLogHandler(label: label)
            }
        }
        logger.logLevel = logLevel ?? layers.string(nil, .logLevel).flatMap { Logger.Level(rawValue: $0.value) } ?? .info
        return logger
    }

    /// Checks log settings from the environment or config file, which flags would have checked.
    static func validate(_ layers: ConfigLayers) throws {
        if let (value, source) = layers.string(nil, .logLevel), Logger.Level(rawValue: value) == nil {
            throw ValidationError("log_level (\(source)): '\(value)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        if let (value, source) = layers.string(nil, .logFormat), Format(rawValue: value) == nil {
            throw ValidationError("log_format (\(source)): '\(value)' is not text or json")
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
