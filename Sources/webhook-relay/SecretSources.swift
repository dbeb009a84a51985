import ArgumentParser
import Foundation
import WebhookRelay
import WebhookSignature

/// Secrets given by where they are (`env:NAME` or `file:PATH`, never on the command line): the
/// registry keys (`--registry-key`: the first key of the first source seals, every key opens) and
/// the management API's tokens (`--api-token`).
enum SecretSources {
    /// The registry keyring, or `nil` when no key source is given.
    static func registryKeys(_ layers: ConfigLayers, flag: [String], environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SecretKeyring? {
        try parsed(layers, flag: flag, .registryKey, environment: environment) { try SecretKeyring(parsing: $0) }
    }

    /// The management API's tokens, or `nil` when no token source is given.
    static func apiTokens(_ layers: ConfigLayers, flag: [String], environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AccessTokens? {
        try parsed(layers, flag: flag, .apiToken, environment: environment) { try AccessTokens(parsing: $0) }
    }

    /// What `parse` makes of the setting's sources' text; `nil` without sources. A parse error is
    /// reported under the setting's name (parse errors never quote what they read).
    private static func parsed<Value>(
        _ layers: ConfigLayers, flag: [String], _ setting: Setting, environment: [String: String], parse: (String) throws -> Value
    ) throws -> Value? {
        guard let text = try text(of: try layers.list(flag, setting), setting: setting, environment: environment) else { return nil }
        do {
            return try parse(text)
        } catch {
            throw ValidationError("\(setting.key): \(error)")
        }
    }

    /// The text the sources hold, a line apart; `nil` without sources. Errors name where a source
    /// points, never what it holds.
    private static func text(of sources: [String], setting: Setting, environment: [String: String]) throws -> String? {
        guard !sources.isEmpty else { return nil }
        var text = ""
        for source in sources {
            if source.hasPrefix("env:") {
                let name = String(source.dropFirst(4))
                guard let value = environment[name] else {
                    throw ValidationError("\(setting.key): environment variable '\(EndpointsFile.shown(name))' is not set")
                }
                text += value + "\n"
            } else if source.hasPrefix("file:") {
                let path = String(source.dropFirst(5))
                do {
                    text += String(decoding: try EndpointsFile.readSecretFile(atPath: path), as: UTF8.self) + "\n"
                } catch {
                    throw ValidationError("\(setting.key): cannot read '\(EndpointsFile.shown(path))' (\(error.message))")
                }
            } else {
                throw ValidationError("\(setting.key): expected env:NAME or file:PATH (the secret itself is never given on the command line)")
            }
        }
        return text
    }
}
