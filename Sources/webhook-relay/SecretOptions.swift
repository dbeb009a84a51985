import ArgumentParser
import Foundation

/// Where a command takes its secrets from: `--secret` (repeatable), `--secret-file`, or an
/// environment variable (`WEBHOOK_SECRET` unless `--secret-env` names another), so that a secret
/// need not sit in shell history. Error messages name the source, never the secret.
struct SecretOptions: ParsableArguments {
    @Option(name: .customLong("secret"),
            help: ArgumentHelp("A secret or key; repeat for rotation (one signature per secret).", valueName: "secret"))
    var secrets: [String] = []

    @Option(name: .customLong("secret-file"),
            help: ArgumentHelp("Read secrets from this file, one per line (blank lines ignored).", valueName: "path"))
    var secretFile: String?

    @Option(name: .customLong("secret-env"),
            help: ArgumentHelp("Read the secret from this environment variable when neither --secret nor --secret-file is given.", valueName: "name"))
    var secretEnvironmentVariable: String = "WEBHOOK_SECRET"

    func validate() throws {
        if !secrets.isEmpty && secretFile != nil {
            throw ValidationError("give either --secret or --secret-file, not both")
        }
    }

    /// The secrets from the first source that has any.
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [String] {
        if !secrets.isEmpty {
            return secrets
        }
        if let secretFile {
            let contents: String
            do {
                contents = try String(contentsOfFile: secretFile, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read --secret-file \(secretFile): \(Self.reason(error))")
            }
            let lines = contents.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
            guard !lines.isEmpty else {
                throw ValidationError("--secret-file \(secretFile) holds no secret")
            }
            return lines
        }
        if let value = environment[secretEnvironmentVariable] {
            return [value]
        }
        throw ValidationError("no secret given: pass --secret, --secret-file, or set \(secretEnvironmentVariable)")
    }

    private static func reason(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError {
            return underlying.localizedDescription
        }
        return nsError.localizedDescription
    }
}
