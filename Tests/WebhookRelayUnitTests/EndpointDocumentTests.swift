import Foundation
import Testing
@testable import WebhookRelay
import WebhookSignature

/// Registry documents: the endpoints file's checks, sealed secrets only, rotation deadlines.
struct EndpointDocumentTests {
    let keyring: SecretKeyring = {
        do { return try SecretKeyring(parsing: SecretKeyring.generateKeyLine(id: "k1")) } catch { fatalError("\(error)") }
    }()
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

    func json(_ fields: [String: Any]) throws -> [UInt8] { try EndpointDocument.encode(fields) }

    @Test func aDocumentIsCheckedLikeTheEndpointsFileAndHoldsNoPlaintextSecret() throws {
        let sealed = try keyring.seal(secret, endpointID: "a")
        let entry = try EndpointDocument.decode(
            try json(["id": "a", "url": "https://example.com/a", "secrets": [sealed], "max_in_flight": 4, "rate_limit": "5/s"]),
            key: "a", keyring: keyring, now: 0
        )
        #expect(entry.endpoint.maxInFlight == 4 && entry.endpoint.policy.rateLimit == RateLimit.Rate(count: 5, period: .seconds(1)))
        #expect(entry.disabledReason == nil && entry.changesAt == nil)
        for (fields, expected) in [
            (["id": "a", "url": "https://example.com/a", "secrets": [secret]], "a plaintext secret"),
            (["id": "a", "url": "https://example.com/a", "secrets": [sealed], "retries": 3], "unknown field 'retries'"),
            (["id": "b", "url": "https://example.com/a", "secrets": [sealed]], "its id is 'b', not the record's key"),
            (["id": "a", "url": "gopher://x", "secrets": [sealed]], "field 'url'"),
            (["id": "a", "url": "https://example.com/a", "secrets": [try keyring.seal(secret, endpointID: "other")]], "does not open"),
        ] as [([String: Any], String)] {
            let document = try json(fields)
            do {
                _ = try EndpointDocument.decode(document, key: "a", keyring: keyring, now: 0)
                Issue.record("accepted \(fields)")
            } catch {
                #expect(error.message.contains(expected), "\(error.message)")
                #expect(!error.message.contains(secret))
            }
        }
        #expect(throws: ConfigurationError.self) { try EndpointDocument.decode(Array("[1]".utf8), key: "a", keyring: keyring, now: 0) }
        #expect(EndpointDocument.missingKey(try json(["secrets": [sealed]]), keyring: nil, now: 0) == "a registry key")
        let other = try SecretKeyring(parsing: SecretKeyring.generateKeyLine(id: "k2"))
        #expect(EndpointDocument.missingKey(try json(["secrets": [sealed]]), keyring: other, now: 0) == "key 'k1'")
        #expect(EndpointDocument.missingKey(try json(["secrets": [sealed]]), keyring: keyring, now: 0) == nil)
        // A retiring secret needs its key until its deadline.
        let retiring = try json(["secrets": [try other.seal(secret, endpointID: "a")], "retiring_secrets": [["secret": sealed, "until": 5_000]]])
        #expect(EndpointDocument.missingKey(retiring, keyring: other, now: 4_999) == "key 'k1'")
        #expect(EndpointDocument.missingKey(retiring, keyring: other, now: 5_000) == nil)
        // A retiring secret is never plaintext either, whoever writes the document.
        let plaintextRetiring = try json(["id": "a", "url": "https://example.com/a", "secrets": [sealed], "retiring_secrets": [["secret": secret, "until": 5_000]]])
        do {
            _ = try EndpointDocument.check(plaintextRetiring, key: "a", keyring: keyring)
            Issue.record("a plaintext retiring secret was accepted")
        } catch {
            #expect(error.message.contains("field 'retiring_secrets'") && error.message.contains("a plaintext secret") && !error.message.contains(secret), "\(error.message)")
        }
    }

    @Test func aRotationKeepsTheOldSecretsSigningUntilTheirDeadlineThenDropsThem() throws {
        let old = try keyring.seal(secret, endpointID: "a")
        let new = try keyring.seal(SecretGenerator.standardSecret().exposeSecret(), endpointID: "a")
        let fields = EndpointDocument.rotated(["id": "a", "url": "https://example.com/a", "secrets": [old]], to: [new], grace: .seconds(60), now: 1_000)
        #expect(fields["secrets"] as? [String] == [new])
        let retiring = try #require(fields["retiring_secrets"] as? [[String: Any]])
        #expect(retiring.count == 1 && retiring[0]["secret"] as? String == old && (retiring[0]["until"] as? Int64) == 61_000)
        let document = try json(fields)
        let during = try EndpointDocument.decode(document, key: "a", keyring: keyring, now: 30_000)
        let after = try EndpointDocument.decode(document, key: "a", keyring: keyring, now: 61_000)
        #expect(during.changesAt == 61_000 && after.changesAt == nil)
        let signatures = { (entry: EndpointDocument.Entry) in
            try entry.endpoint.signer.headers(id: "msg_1", timestamp: 1, body: [1]).first { $0.name == "webhook-signature" }?.value
                .split(separator: " ").count
        }
        #expect(try signatures(during) == 2 && signatures(after) == 1)
        // A later rotation drops what is past its deadline and does not retire the same secret twice.
        let again = EndpointDocument.rotated(fields, to: [new], grace: .seconds(60), now: 70_000)
        #expect(again["retiring_secrets"] == nil)
    }

    @Test func resealingMovesEverySealedSecretToTheSealingKeyAndKeepsReferences() throws {
        let oldKeyLine = try SecretKeyring.generateKeyLine(id: "k1"), newKeyLine = try SecretKeyring.generateKeyLine(id: "k2")
        let oldOnly = try SecretKeyring(parsing: oldKeyLine), newOnly = try SecretKeyring(parsing: newKeyLine)
        let rotating = try SecretKeyring(parsing: newKeyLine + "\n" + oldKeyLine)
        let old = try oldOnly.seal(secret, endpointID: "a")
        let current = try newOnly.seal(secret, endpointID: "a")
        let fields: [String: Any] = [
            "id": "a", "url": "https://example.com/a", "secrets": [old, "env:A_SECRET", current],
            "retiring_secrets": [["secret": old, "until": 5_000]],
        ]
        #expect(throws: SecretKeyring.Problem.self, "the old key is needed to open") {
            try EndpointDocument.resealed(fields, id: "a", keyring: newOnly)
        }
        let (resealed, count) = try EndpointDocument.resealed(fields, id: "a", keyring: rotating)
        #expect(count == 2)
        let secrets = try #require(resealed["secrets"] as? [String])
        #expect(secrets[1] == "env:A_SECRET" && secrets[2] == current && secrets[0].hasPrefix("enc:v1:k2:"))
        #expect(try newOnly.open(secrets[0], endpointID: "a") == secret)
        let retiring = try #require((resealed["retiring_secrets"] as? [[String: Any]])?.first)
        #expect(try newOnly.open(try #require(retiring["secret"] as? String), endpointID: "a") == secret && retiring["until"] as? Int == 5_000)
        #expect(try EndpointDocument.resealed(resealed, id: "a", keyring: rotating).count == 0, "resealing again changes nothing")
        var sealedOnly = resealed
        sealedOnly["secrets"] = secrets.filter(SecretKeyring.isSealed)
        _ = try EndpointDocument.decode(try json(sealedOnly), key: "a", keyring: newOnly, now: 0)
    }

    @Test func aMaskedSecretSentBackStandsForTheOneSecretItMasksOrIsRefused() throws {
        let a = try keyring.seal(secret, endpointID: "a"), b = try keyring.seal("whsec_" + String(repeating: "B", count: 32), endpointID: "a")
        let current: [String: Any] = ["id": "a", "secrets": [a, b], "retiring_secrets": [["secret": a, "until": 5_000]]]
        let shown = EndpointDocument.masked(current)
        // Sent back as read: the same secrets, in order.
        let same = try EndpointDocument.unmasked(shown, current: current)
        #expect(same["secrets"] as? [String] == [a, b] && (same["retiring_secrets"] as? [[String: Any]])?.first?["secret"] as? String == a)
        // One of two secrets masked alike: which one is meant cannot be told.
        var dropped = shown
        dropped["secrets"] = ["enc:v1:k1:****"]
        #expect(throws: ConfigurationError.self) { try EndpointDocument.unmasked(dropped, current: current) }
        // A masked value in `secrets` never stands for a retiring secret.
        let single: [String: Any] = ["id": "a", "secrets": ["env:A"], "retiring_secrets": [["secret": a, "until": 5_000]]]
        var promoted = EndpointDocument.masked(single)
        promoted["secrets"] = ["env:A", "enc:v1:k1:****"]
        #expect(throws: ConfigurationError.self) { try EndpointDocument.unmasked(promoted, current: single) }
        // A plaintext retiring secret is refused even past its deadline.
        let stale = try json(["id": "a", "url": "https://example.com/a", "secrets": [a], "retiring_secrets": [["secret": "plain-old", "until": 1]]])
        #expect(throws: ConfigurationError.self) { try EndpointDocument.decode(stale, key: "a", keyring: keyring, now: 10_000) }
    }
}
