import WebhookSignature

/// Secrets as the registry holds them, from what a command or an API request gives: `env:NAME` and
/// `file:PATH` references kept, values sealed with the registry key, `generate` replaced by a new
/// secret of the scheme (shown once to whoever asked for it).
public enum EndpointSecrets {
    /// Why secrets could not be prepared. The message never contains a secret.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The secrets to write, and what to show once of those generated.
    public static func prepare(
        _ given: [String], scheme: SignatureScheme, endpointID: String, keyring: SecretKeyring?
    ) throws(Problem) -> (sealed: [String], generated: [String]) {
        var sealed: [String] = [], generated: [String] = []
        for secret in given {
            if secret.hasPrefix("env:") || secret.hasPrefix("file:") || SecretKeyring.isSealed(secret) {
                sealed.append(secret)
                continue
            }
            let plain: String
            if secret == "generate" {
                let new = generate(for: scheme)
                plain = new.secret
                generated.append(new.shown)
            } else {
                plain = secret
            }
            guard let keyring else {
                throw Problem(description: "a secret value is sealed with the registry key before it is written, and none is given (--registry-key); or name env:NAME / file:PATH references")
            }
            do {
                sealed.append(try keyring.seal(plain, endpointID: endpointID))
            } catch {
                throw Problem(description: "registry key: \(error.description)")
            }
        }
        return (sealed, generated)
    }

    /// A new secret of the scheme, and what to show of it (for ed25519: the signing key, which the
    /// relay keeps, and the verifying key for receivers).
    public static func generate(for scheme: SignatureScheme) -> (secret: String, shown: String) {
        switch scheme {
        case .standard:
            let secret = SecretGenerator.standardSecret().exposeSecret()
            return (secret, secret)
        case .nself:
            let secret = SecretGenerator.nselfSecret().exposeSecret()
            return (secret, secret)
        case .ed25519:
            let pair = SecretGenerator.ed25519KeyPair()
            return (pair.signingKey.exposeSecret(), "\(pair.signingKey.exposeSecret()) (receivers verify with \(pair.verifyingKey.serialized))")
        }
    }
}
