import ArgumentParser
import Foundation
import WebhookRelay
import Yams

/// Where a setting comes from, in precedence order: a command-line flag, then the environment
/// variable `WEBHOOK_RELAY_<KEY>`, then the `--config` file (YAML, keys as the long flag names with
/// underscores), then the built-in default. The file is read once, when the layers are loaded;
/// the settings are the cases of ``Setting``.
///
/// Not swift-configuration (1.4.0, measured for issue 16): its YAML provider parses with no size or
/// alias guard (an alias bomb hung `run` before the guard), its `default:` getters return the
/// default for a value that does not convert (`WEBHOOK_RELAY_MAX_IN_FLIGHT=abc` gave the default),
/// it has no mapping type (`kafka:` in the file), and its errors cannot name the flag, variable or
/// file a bad value came from. Fitting it meant a custom provider for every layer, which would
/// have left it only this file's precedence loop, for two more packages and ~10 s of clean build.
struct ConfigLayers {
    /// Settings a config file may hold.
    static let keys: Set<String> = Set(Setting.allCases.map(\.key))

    /// A value from the config file.
    enum FileValue: Equatable {
        case scalar(String)
        case list([String])
        case mapping([String: String])
    }

    /// The largest config file.
    static let fileLimit = 1_048_576

    var environment: [String: String]
    var file: [String: FileValue] = [:]
    var filePath: String?

    /// Loads the layers; `path` (or `WEBHOOK_RELAY_CONFIG`) names the config file.
    static func load(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ConfigLayers {
        var layers = ConfigLayers(environment: environment)
        guard let path = path ?? environment["WEBHOOK_RELAY_CONFIG"] else { return layers }
        layers.filePath = path
        // Guarded like the endpoints file: bounded size, no alias as a key (a 353-byte alias bomb
        // hung `run` at 100 % CPU), and YAML errors that give the line without quoting it (the
        // quoted line was how a `kafka.sasl.password` got into `config check`'s output).
        let root: Node?
        do {
            root = try YAMLText.compose(YAMLText.read(path, limit: fileLimit, what: "the config file"), source: path, limit: fileLimit)
        } catch {
            throw ValidationError(error.message)
        }
        guard let root else { return layers }
        guard let mapping = root.mapping else { throw ValidationError("\(path): the config file must be a mapping of settings") }
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? ""
            let line = keyNode.mark.map { ":\($0.line)" } ?? ""
            guard keys.contains(key) else {
                throw ValidationError("\(path)\(line): unknown setting '\(EndpointsFile.shown(key, limit: 40))' (known: \(keys.sorted().joined(separator: ", ")))")
            }
            if let scalar = value.scalar {
                layers.file[key] = .scalar(scalar.string)
            } else if let sequence = value.sequence {
                let items = sequence.compactMap { $0.scalar?.string }
                guard items.count == sequence.count else { throw ValidationError("\(path)\(line): '\(key)' must be a list of strings") }
                layers.file[key] = .list(items)
            } else if let nested = value.mapping {
                var entries: [String: String] = [:]
                for (name, item) in nested {
                    guard let name = name.string, let text = item.scalar?.string else {
                        throw ValidationError("\(path)\(line): '\(key)' must map names to strings")
                    }
                    entries[name] = text
                }
                layers.file[key] = .mapping(entries)
            }
        }
        return layers
    }

    /// A scalar setting and where it came from.
    func string(_ flag: String?, _ setting: Setting) -> (value: String, source: String)? {
        if let flag { return (flag, "flag \(setting.flag)") }
        if let value = environment[setting.variable] { return (value, "env \(setting.variable)") }
        if case .scalar(let value)? = file[setting.key] { return (value, "config \(filePath ?? "")") }
        return nil
    }

    /// A list setting: repeated flags, a comma-separated variable, or a YAML list (or a comma-separated string).
    func list(_ flag: [String], _ setting: Setting) throws -> [String] {
        if !flag.isEmpty { return flag }
        if let value = environment[setting.variable] { return value.split(separator: ",").map(String.init) }
        switch file[setting.key] {
        case .list(let items)?: return items
        case .scalar(let value)?: return value.split(separator: ",").map(String.init)
        case .mapping?: throw ValidationError("\(filePath ?? "config"): '\(setting.key)' must be a list")
        case nil: return []
        }
    }

    /// A boolean setting (a flag can only turn it on).
    func bool(_ flag: Bool, _ setting: Setting) throws -> Bool {
        if flag { return true }
        guard let (value, source) = string(nil, setting) else { return false }
        guard let parsed = ["true": true, "false": false][value.lowercased()] else {
            throw ValidationError("\(setting.key) (\(source)): expected true or false, got '\(value)'")
        }
        return parsed
    }

    /// `--kafka KEY=VALUE` entries, or the config file's `kafka` mapping.
    func kafkaProperties(_ flag: [String]) throws -> [String: String] {
        if flag.isEmpty, case .mapping(let entries)? = file[Setting.kafka.key], environment[Setting.kafka.variable] == nil {
            return entries
        }
        var properties: [String: String] = [:]
        for entry in try list(flag, .kafka) {
            // Not echoed: a malformed entry may be a credential typed with ':' for '='.
            guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else {
                throw ValidationError("--kafka expects KEY=VALUE; an entry (\(entry.count) characters) has no '=' after a name")
            }
            properties[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        return properties
    }
}
