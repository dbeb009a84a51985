import Crypto
import Foundation

/// The keys that seal endpoints' signing secrets on the registry topic (AES-256-GCM), so that no
/// secret is there in plaintext.
///
/// A sealed secret is `enc:v1:<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`, bound to its endpoint:
/// the endpoint id is the additional authenticated data, so a sealed value copied to another
/// endpoint does not open. The first key seals; every key opens, so keys can be rotated: add the new
/// key first, re-seal (`webhook-relay endpoints reseal`), then drop the old one.
///
/// Key text: one key per line, `<id>:<base64 of 32 bytes>` (ids of 1–32 letters, digits, `.`, `_`,
/// `-`); `webhook-relay endpoints generate-key` makes one. Keys never appear in descriptions or errors.
public struct SecretKeyring: Sendable, CustomStringConvertible, CustomReflectable {
    /// A key and its id.
    public struct Key: Sendable, CustomStringConvertible, CustomReflectable {
        /// The key's id, written into what it seals.
        public let id: String
        let key: SymmetricKey

        public var description: String { "key '\(id)'" }
        public var customMirror: Mirror { Mirror(self, children: ["id": id]) }
    }

    /// Why key text or a sealed secret was refused. The message never contains key material or a
    /// secret.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The prefix of a sealed secret.
    public static let prefix = "enc:v1:"

    /// Keys, the sealing one first.
    public let keys: [Key]

    /// Reads key text (see the type's documentation).
    public init(parsing text: String) throws(Problem) {
        var keys: [Key] = []
        for (number, rawLine) in text.split(whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":") else { throw Problem("key line \(number + 1) is not <id>:<base64 key>") }
            let id = String(line[..<colon])
            guard Self.isValidID(id) else { throw Problem("key line \(number + 1): the id must be 1-32 letters, digits, '.', '_' or '-'") }
            guard let bytes = Base64.decode(String(line[line.index(after: colon)...])), bytes.count == 32 else {
                throw Problem("key '\(id)': the key must be 32 bytes in base64")
            }
            guard !keys.contains(where: { $0.id == id }) else { throw Problem("key '\(id)' is given twice") }
            keys.append(Key(id: id, key: SymmetricKey(data: bytes)))
        }
        guard !keys.isEmpty else { throw Problem("no key given") }
        self.keys = keys
    }

    /// A new random key line, `<id>:<base64 of 32 bytes>`.
    public static func generateKeyLine(id: String) throws(Problem) -> String {
        guard isValidID(id) else { throw Problem("the id must be 1-32 letters, digits, '.', '_' or '-'") }
        return "\(id):\(Base64.encode(SecretGenerator.randomBytes(32)))"
    }

    /// Whether `text` is a sealed secret (whatever its key).
    public static func isSealed(_ text: String) -> Bool { text.hasPrefix(prefix) }

    /// Whether `sealed` is sealed with the sealing (first) key.
    public func isSealedWithSealingKey(_ sealed: String) -> Bool { sealed.hasPrefix("\(Self.prefix)\(keys[0].id):") }

    /// The secret sealed again with the sealing key; `nil` when it is sealed with it already.
    public func reseal(_ sealed: String, endpointID: String) throws(Problem) -> String? {
        guard !isSealedWithSealingKey(sealed) else { return nil }
        return try seal(try open(sealed, endpointID: endpointID), endpointID: endpointID)
    }

    /// Seals `secret` for the endpoint with the first key.
    public func seal(_ secret: String, endpointID: String) throws(Problem) -> String {
        let sealingKey = keys[0]
        do {
            let box = try AES.GCM.seal(Array(secret.utf8), using: sealingKey.key, authenticating: Self.associatedData(endpointID))
            guard let combined = box.combined else { throw Problem("sealing failed") }
            return "\(Self.prefix)\(sealingKey.id):\(Base64.encode(combined))"
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem("sealing failed")
        }
    }

    /// Opens a sealed secret of the endpoint.
    public func open(_ sealed: String, endpointID: String) throws(Problem) -> String {
        guard sealed.hasPrefix(Self.prefix) else { throw Problem("not a sealed secret") }
        let rest = sealed.dropFirst(Self.prefix.count)
        guard let colon = rest.firstIndex(of: ":") else { throw Problem("a sealed secret is enc:v1:<key id>:<base64>") }
        let id = String(rest[..<colon])
        guard let key = keys.first(where: { $0.id == id }) else {
            throw Problem("sealed with key '\(Self.isValidID(id) ? id : "?")', which is not among the registry keys (\(keys.map(\.id).joined(separator: ", ")))")
        }
        guard let bytes = Base64.decode(String(rest[rest.index(after: colon)...])) else { throw Problem("a sealed secret's base64 is invalid") }
        do {
            let box = try AES.GCM.SealedBox(combined: bytes)
            let opened = try AES.GCM.open(box, using: key.key, authenticating: Self.associatedData(endpointID))
            guard let text = String(bytes: opened, encoding: .utf8) else { throw Problem("a sealed secret is not UTF-8") }
            return text
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem("a sealed secret does not open with key '\(id)' for this endpoint (wrong key, another endpoint's secret, or altered)")
        }
    }

    /// The key ids, never the keys.
    public var description: String { "SecretKeyring(\(keys.map(\.id).joined(separator: ", ")))" }
    public var customMirror: Mirror { Mirror(self, children: ["keys": keys.map(\.id)]) }

    private static func associatedData(_ endpointID: String) -> [UInt8] {
        Array("webhook-relay endpoint secret\u{0}\(endpointID)".utf8)
    }

    private static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 32 && id.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
    }
}
