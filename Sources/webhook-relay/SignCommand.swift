import ArgumentParser
import Foundation
import WebhookSignature

/// `webhook-relay sign --scheme S --secret K [--id ID] [--timestamp T] [--event E] < body`:
/// prints the headers to send, one `Name: value` per line.
struct SignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign the body on standard input and print the webhook headers.",
        discussion: """
            Secrets: standard takes whsec_ secrets (and whsk_ keys, adding v1a signatures), ed25519 \
            takes whsk_ keys, nself takes the secret string (an empty one means unsigned). Repeat \
            --secret to sign with several secrets during rotation.
            """
    )

    @Option(help: "The header scheme: standard, nself or ed25519.")
    var scheme: SignatureScheme

    @OptionGroup var secretOptions: SecretOptions

    @Option(help: "The message (delivery) id; generated (msg_…) when omitted.")
    var id: String?

    @Option(help: "Unix seconds to sign; now when omitted.")
    var timestamp: Int64?

    @Option(help: "The event type (sent as X-Nself-Event; required for nself, unused by standard and ed25519).")
    var event: String?

    func validate() throws {
        if let id, !WebhookSigner.isValidID(id) {
            throw ValidationError("--id must be 1 to 256 printable ASCII characters without '.', ',' or spaces")
        }
        if let timestamp, timestamp < 0 || timestamp > 999_999_999_999_999_999 {
            throw ValidationError("--timestamp must be unix seconds between 0 and 999999999999999999")
        }
        if let event, event.isEmpty || event.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw ValidationError("--event must be non-empty and free of control characters")
        }
        if scheme == .nself && event == nil {
            throw ValidationError("--event is required for --scheme nself (it is sent as X-Nself-Event)")
        }
    }

    func run() throws {
        let signer: WebhookSigner
        do {
            signer = try WebhookSigner(scheme: scheme, secrets: try secretOptions.resolve())
        } catch let error as WebhookSecretError {
            throw CommandFailure.usage("bad secret for --scheme \(scheme): \(error)")
        } catch let error as ValidationError {
            throw CommandFailure.usage(error.message)
        }
        let body = StandardInput.readAll()
        let headers = try signer.headers(
            id: id ?? SecretGenerator.messageID(),
            timestamp: timestamp ?? Int64(Date().timeIntervalSince1970.rounded(.down)),
            event: event,
            body: body
        )
        print(headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n"))
    }
}
