import ArgumentParser
import WebhookSignature

/// `webhook-relay secret …`: tools for webhook secrets.
struct SecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Create webhook signing secrets and keys.",
        subcommands: [Generate.self]
    )

    /// `webhook-relay secret generate [--scheme standard|nself|ed25519]`.
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a new random secret.",
            discussion: """
                standard: whsec_ followed by base64 of 32 random bytes.
                nself:    64 lowercase hex characters (32 random bytes).
                ed25519:  two lines: the whsk_ signing key (keep it on the sender), then the \
                whpk_ verifying key (give it to receivers).
                """
        )

        @Option(help: "The scheme the secret is for: standard, nself or ed25519.")
        var scheme: SignatureScheme = .standard

        func run() {
            switch scheme {
            case .standard:
                print(SecretGenerator.standardSecret().exposeSecret())
            case .nself:
                print(SecretGenerator.nselfSecret().exposeSecret())
            case .ed25519:
                let pair = SecretGenerator.ed25519KeyPair()
                print(pair.signingKey.exposeSecret())
                print(pair.verifyingKey.serialized)
            }
        }
    }
}
