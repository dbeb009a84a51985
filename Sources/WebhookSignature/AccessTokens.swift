import Crypto
import Foundation

/// Bearer tokens that grant access to an API (the management API's): kept as SHA-256 digests and
/// compared in constant time, so neither a token's content nor its length leaks through timing,
/// and a dump of the value shows no token.
public struct AccessTokens: Sendable, CustomStringConvertible, CustomReflectable {
    private let digests: [[UInt8]]

    /// Why token text was refused; the message never contains a token.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Tokens from text, one per line (blank lines and `#` comments skipped). Each must be 16–512
    /// printable characters without spaces.
    public init(parsing text: String) throws(Problem) {
        var digests: [[UInt8]] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let token = line.trimmingCharacters(in: .whitespaces)
            if token.isEmpty || token.hasPrefix("#") { continue }
            guard (16...512).contains(token.utf8.count), token.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
                throw Problem(description: "a token must be 16-512 printable characters without spaces")
            }
            digests.append(Array(SHA256.hash(data: Array(token.utf8))))
        }
        guard !digests.isEmpty else { throw Problem(description: "no token given") }
        self.digests = digests
    }

    /// Whether `presented` is one of the tokens. Every token is compared, always.
    public func accepts(_ presented: String) -> Bool {
        let digest = Array(SHA256.hash(data: Array(presented.utf8)))
        var accepted = false
        for known in digests where ConstantTime.equal(known, digest) { accepted = true }
        return accepted
    }

    /// How many tokens, never which.
    public var description: String { "AccessTokens(\(digests.count))" }
    public var customMirror: Mirror { Mirror(self, children: ["count": digests.count]) }
}
