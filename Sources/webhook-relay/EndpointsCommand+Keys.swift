import ArgumentParser
import Foundation
import WebhookRelay
import WebhookSignature

/// The registry keys' subcommands: a new key, and resealing every secret with the first key.
extension EndpointsCommand {
    struct Reseal: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seal every sealed secret again with the first registry key: the middle step of a registry key rotation.",
            discussion: """
                Rotating the registry key: 1. give every replica the new key after the old one and \
                restart them; 2. run reseal with the new key first and the old one after it; \
                3. give the replicas the new key only. Every document is resealed in memory before \
                any is written.
                """
        )
        @OptionGroup var connection: Connection

        func run() async throws {
            let (topic, keyring) = try connection.open()
            guard let keyring else {
                throw CommandFailure.usage("reseal needs --registry-key: the new key first, then the old ones")
            }
            var changed: [(id: String, document: [UInt8], previous: [UInt8])] = [], secrets = 0
            for (id, document) in try await topic.documents().sorted(by: { $0.key < $1.key }) {
                guard let fields = EndpointDocument.fields(document) else {
                    throw CommandFailure.usage(
                        "endpoint '\(EndpointsFile.shown(id))': its document is not a JSON object (fix it, or remove it with `endpoints rm`)"
                    )
                }
                let resealed: (fields: [String: Any], count: Int)
                do {
                    resealed = try EndpointDocument.resealed(fields, id: id, keyring: keyring)
                } catch {
                    throw CommandFailure.usage("endpoint '\(EndpointsFile.shown(id))': \(error.description)")
                }
                guard resealed.count > 0 else { continue }
                changed.append((id, try EndpointsCommand.checked(resealed.fields, id: id, keyring: keyring), document))
                secrets += resealed.count
            }
            for (id, document, previous) in changed { try await topic.put(id: id, document: document, previous: previous) }
            Console.line("resealed \(secrets) secrets of \(changed.count) endpoints with key '\(keyring.keys[0].id)'")
        }
    }

    struct GenerateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate-key", abstract: "Print a new registry key line, <id>:<base64 of 32 bytes>, for --registry-key."
        )
        @Option(help: "The key's id (1-32 letters, digits, '.', '_', '-').") var id: String = "k1"

        func run() throws {
            do {
                Console.line(try SecretKeyring.generateKeyLine(id: id))
            } catch {
                throw ValidationError(error.description)
            }
        }
    }
}
