import ArgumentParser
import Foundation
import WebhookRelay
import WebhookSignature

/// The registry keys a command was given (`--registry-key env:NAME|file:PATH`, repeatable; the
/// first key of the first source seals new secrets, every key opens).
enum RegistryKeys {
    /// The keyring, or `nil` when no key source is given.
    static func load(_ layers: ConfigLayers, flag: [String], environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SecretKeyring? {
        let sources = try layers.list(flag, .registryKey)
        guard !sources.isEmpty else { return nil }
        var text = ""
        for source in sources {
            // Named in errors by where it points, never by what it holds.
            if source.hasPrefix("env:") {
                let name = String(source.dropFirst(4))
                guard let value = environment[name] else {
                    throw ValidationError("registry_key: environment variable '\(EndpointsFile.shown(name))' is not set")
                }
                text += value + "\n"
            } else if source.hasPrefix("file:") {
                let path = String(source.dropFirst(5))
                do {
                    text += String(decoding: try EndpointsFile.readSecretFile(atPath: path), as: UTF8.self) + "\n"
                } catch {
                    throw ValidationError("registry_key: cannot read '\(EndpointsFile.shown(path))' (\(error.message))")
                }
            } else {
                throw ValidationError("registry_key: expected env:NAME or file:PATH (the key itself is never given on the command line)")
            }
        }
        do {
            return try SecretKeyring(parsing: text)
        } catch {
            throw ValidationError("registry_key: \(error.description)")
        }
    }
}
