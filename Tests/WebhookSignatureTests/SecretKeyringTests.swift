import Testing
import WebhookSignature

/// Sealing endpoints' secrets for the registry topic: AES-256-GCM, bound to the endpoint, with
/// keys that can be rotated and that never show.
struct SecretKeyringTests {
    @Test func aSealedSecretOpensForItsEndpointOnlyAndShowsNoPlaintext() throws {
        let line = try SecretKeyring.generateKeyLine(id: "k1")
        let keyring = try SecretKeyring(parsing: line)
        let sealed = try keyring.seal("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", endpointID: "orders")
        #expect(sealed.hasPrefix("enc:v1:k1:") && !sealed.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        #expect(try keyring.open(sealed, endpointID: "orders") == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        #expect(throws: SecretKeyring.Problem.self, "bound to its endpoint") { try keyring.open(sealed, endpointID: "billing") }
        #expect(try keyring.seal("x", endpointID: "orders") != keyring.seal("x", endpointID: "orders"), "a fresh nonce each time")
        var altered = Array(sealed.utf8)
        altered[altered.count - 3] = altered[altered.count - 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(throws: SecretKeyring.Problem.self) { try keyring.open(String(decoding: altered, as: UTF8.self), endpointID: "orders") }
    }

    @Test func theFirstKeySealsAndEveryKeyOpens() throws {
        let oldLine = try SecretKeyring.generateKeyLine(id: "old"), newLine = try SecretKeyring.generateKeyLine(id: "new")
        let sealedWithOld = try SecretKeyring(parsing: oldLine).seal("s1", endpointID: "e")
        let rotating = try SecretKeyring(parsing: "# new key first\n\(newLine)\n\(oldLine)\n")
        #expect(try rotating.open(sealedWithOld, endpointID: "e") == "s1")
        #expect(try rotating.seal("s2", endpointID: "e").hasPrefix("enc:v1:new:"))
        do {
            _ = try SecretKeyring(parsing: newLine).open(sealedWithOld, endpointID: "e")
            Issue.record("opened without its key")
        } catch {
            #expect(error.description.contains("key 'old', which is not among the registry keys (new)"), "\(error)")
        }
    }

    @Test func badKeyTextIsRefusedWithoutShowingIt() {
        for (text, expected) in [
            ("", "no key given"), ("k1", "is not <id>:<base64 key>"), ("k 1:AAAA", "the id must be"),
            ("k1:c2hvcnQ=", "32 bytes"), ("k1:!!!", "32 bytes"),
        ] {
            do {
                _ = try SecretKeyring(parsing: text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description.contains(expected), "\(text): \(error.description)")
            }
        }
        let keyring = try? SecretKeyring(parsing: "k1:" + String(repeating: "A", count: 43) + "=")
        #expect(keyring.map { "\($0)" } == "SecretKeyring(k1)")
    }
}
