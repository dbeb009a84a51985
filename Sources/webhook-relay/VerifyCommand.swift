import ArgumentParser
import Foundation
import WebhookSignature

/// `webhook-relay verify --scheme S --secret K --header 'Name: value'… [--tolerance 300] < body`:
/// exits 0 when the webhook is valid, 1 with the reason on standard error when it is not.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify the body on standard input against the given headers.",
        discussion: """
            Exits 0 and prints "valid" when a signature matches; exits 1 and prints the reason \
            (missing header, malformed header, timestamp outside tolerance, no signature matched) \
            on standard error otherwise. Secrets: standard takes whsec_ secrets (and whpk_ keys), \
            ed25519 takes whpk_ keys, nself takes the secret string. Repeat --secret to accept \
            any of several secrets.
            """
    )

    @Option(help: "The header scheme: standard, nself or ed25519.")
    var scheme: SignatureScheme

    @OptionGroup var secretOptions: SecretOptions

    @Option(name: .customLong("header"), help: ArgumentHelp("A received header as 'Name: value'; repeat for each.", valueName: "header"))
    var headers: [String] = []

    @Option(help: "Seconds the timestamp may be from now (default 300, for every scheme).")
    var tolerance: Int64?

    @Option(help: .hidden)
    var now: Int64?

    func validate() throws {
        if let tolerance, tolerance < 0 {
            throw ValidationError("--tolerance must be a non-negative number of seconds")
        }
        for (index, header) in headers.enumerated() where Self.parseHeader(header) == nil {
            throw ValidationError("--header #\(index + 1) must look like 'Name: value'")
        }
    }

    func run() throws {
        let configuration = WebhookVerifier.Configuration(
            tolerance: tolerance.map { .seconds($0) } ?? scheme.defaultTolerance
        )
        let verifier: WebhookVerifier
        do {
            verifier = try WebhookVerifier(scheme: scheme, secrets: try secretOptions.resolve(), configuration: configuration)
        } catch let error as WebhookSecretError {
            throw CommandFailure.usage("bad secret for --scheme \(scheme): \(error)")
        } catch let error as ValidationError {
            throw CommandFailure.usage(error.message)
        }
        let received = WebhookHeaders(headers.compactMap(Self.parseHeader))
        let body = StandardInput.readAll()
        let currentTime = now.map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? Date()
        do {
            try verifier.verify(headers: received, body: body, now: currentTime)
            print("valid")
        } catch {
            FileHandle.standardError.write(Data("invalid: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// Splits `Name: value` at the first colon; `nil` without a colon or with an empty name.
    static func parseHeader(_ text: String) -> (name: String, value: String)? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let name = text[..<colon].trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, !name.contains(" ") else { return nil }
        let value = text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        return (name, value)
    }
}
