import Foundation
import Kafka
import Logging
import WebhookSignature

/// The endpoint registry as the management API changes it: documents read from this replica's
/// ``EndpointCatalog`` and written to the registry topic, each change checked as replicas read it
/// and answered once it is in effect here (read your writes; at most ``applyTimeout``, then a
/// warning is logged and the answer is given).
///
/// Secrets are sealed before they are written and masked in every answer but the one that
/// generated them; a masked value sent back (`enc:v1:k1:****`, a masked header's `****`) keeps
/// what it masks, so a document read can be changed and written back. The API does not take new
/// `env:`/`file:` references: they name what the replicas hold (their environment, their files),
/// which only operators choose, with `webhook-relay endpoints`; references already in a document
/// are kept. Concurrent writes to one endpoint: the last one written wins.
///
/// Bodies and answers are JSON documents (``EndpointDocument``); the HTTP layer is the admin server's.
public final class EndpointManager: Sendable {
    /// What an API request could not do; each case carries the message for the caller.
    public enum Failure: Error, Sendable {
        /// No such endpoint (404).
        case notFound(String)
        /// The endpoint exists already (409).
        case conflict(String)
        /// The request is not a valid change (422).
        case invalid(String)
        /// Kafka refused the write (503).
        case unavailable(String)

        /// The message, naming the problem; never a secret.
        public var message: String {
            switch self {
            case .notFound(let message), .conflict(let message), .invalid(let message), .unavailable(let message): message
            }
        }
    }

    /// A document written: as it is now (secrets masked), and the secrets generated for it, shown this once.
    public struct Written: Sendable {
        /// The document written, secrets masked.
        public var document: [UInt8]
        /// Secrets the change generated, in plaintext: shown in this answer only.
        public var generatedSecrets: [String]
    }

    let catalog: EndpointCatalog
    let producer: KafkaProducer
    let topics: RelayTopics
    let keyring: SecretKeyring?
    let registry: EndpointRegistry
    let status: EndpointStatusBoard
    /// Where each change is told to operators (``OperationalEvent``).
    let operational: OperationalLog?
    let logger: Logger
    /// How long an answer waits for its change to be in effect on this replica.
    public static let applyTimeout: Duration = .seconds(5)

    init(
        catalog: EndpointCatalog, producer: KafkaProducer, topics: RelayTopics, keyring: SecretKeyring?, registry: EndpointRegistry,
        status: EndpointStatusBoard, operational: OperationalLog? = nil, logger: Logger
    ) {
        self.operational = operational
        self.catalog = catalog
        self.producer = producer
        self.topics = topics
        self.keyring = keyring
        self.registry = registry
        self.status = status
        self.logger = logger
    }

    /// An endpoint's status: this replica's own when it owns the endpoint's partition, the owner's
    /// latest snapshot otherwise (`owned_here` says which); `{id, owned_here: false}` before any.
    public func status(_ id: String) throws(Failure) -> [UInt8] {
        _ = try current(id)
        var fields: [String: Any]
        if let local = registry.snapshots[id] {
            fields = EndpointStatusBoard.fields(local)
            fields["owned_here"] = true
        } else {
            fields = status.snapshot(id).flatMap(EndpointDocument.fields) ?? [:]
            fields["owned_here"] = false
        }
        fields["id"] = id
        return (try? EndpointDocument.encode(fields)) ?? Array("{}".utf8)
    }

    /// Documents by id (masked), `limit` at most, after the id `after`, those starting with `prefix`;
    /// and the id to continue after, when there are more.
    public func list(prefix: String?, limit: Int, after: String?) -> (documents: [[UInt8]], next: String?) {
        let ids = catalog.documents.keys.filter { id in (prefix.map(id.hasPrefix) ?? true) && (after.map { id > $0 } ?? true) }.sorted()
        let page = ids.prefix(max(0, limit))
        let documents = catalog.documents
        let masked = page.compactMap { id in documents[id].flatMap(Self.masked) }
        return (masked, ids.count > page.count ? page.last : nil)
    }

    /// One endpoint's document (masked).
    public func document(_ id: String) throws(Failure) -> [UInt8] {
        guard let document = catalog.documents[id], let masked = Self.masked(document) else { throw .notFound(Self.noEndpoint(id)) }
        return masked
    }

    /// Creates an endpoint from a document; a secret is generated when none is given.
    public func create(_ body: [UInt8]) async throws(Failure) -> Written {
        var fields = try Self.object(body)
        guard let id = fields["id"] as? String, !id.isEmpty else { throw .invalid("the document needs an 'id'") }
        guard catalog.documents[id] == nil else { throw .conflict("endpoint '\(EndpointsFile.shown(id))' exists already") }
        if fields["secrets"] == nil { fields["secrets"] = ["generate"] }
        return try await write(fields, id: id, current: [:])
    }

    /// Replaces an endpoint's document (all of it; `secrets` kept when the body has none).
    public func replace(_ id: String, _ body: [UInt8]) async throws(Failure) -> Written {
        let current = try current(id)
        var fields = try Self.object(body)
        if let given = fields["id"] as? String, given != id { throw .invalid("the document's id '\(EndpointsFile.shown(given))' is not the one in the path") }
        fields["id"] = id
        if fields["secrets"] == nil { fields["secrets"] = current["secrets"] }
        if fields["retiring_secrets"] == nil { fields["retiring_secrets"] = current["retiring_secrets"] }
        return try await write(fields, id: id, current: current)
    }

    /// Changes some fields (a JSON merge patch, RFC 7396: `null` removes a field).
    public func patch(_ id: String, _ body: [UInt8]) async throws(Failure) -> Written {
        let current = try current(id)
        let patch = try Self.object(body)
        if patch["id"] != nil { throw .invalid("'id' cannot be changed") }
        return try await write(EndpointDocument.merged(current, patch), id: id, current: current)
    }

    /// Deletes an endpoint.
    public func delete(_ id: String) async throws(Failure) {
        let before = try current(id)
        do {
            _ = try await producer.send(.tombstone(topic: topics.endpoints, key: Array(id.utf8)))
        } catch {
            throw .unavailable("the registry topic refused the deletion (\(error.name))")
        }
        await awaitInEffect(id, document: nil)
        announce(id, before: before, after: nil)
    }

    /// Disables (with a reason) or enables an endpoint.
    public func setDisabled(_ id: String, reason: String?) async throws(Failure) -> Written {
        let current = try current(id)
        var fields = current
        fields["disabled"] = reason == nil ? nil : true
        fields["disabled_reason"] = reason
        return try await write(fields, id: id, current: current)
    }

    /// Gives an endpoint a new secret (`generate` by default); the old ones sign for `grace`.
    public func rotate(_ id: String, secret: String?, grace: Duration) async throws(Failure) -> Written {
        let fields = try current(id)
        guard grace <= EndpointDocument.maximumGrace else { throw .invalid(EndpointDocument.graceProblem) }
        let scheme = SignatureScheme(rawValue: fields["scheme"] as? String ?? "standard") ?? .standard
        let given = secret ?? "generate"
        if Self.isReference(given) { throw .invalid(Self.referenceProblem) }
        let prepared: (sealed: [String], generated: [String])
        do {
            prepared = try EndpointSecrets.prepare([given], scheme: scheme, endpointID: id, keyring: keyring)
        } catch {
            throw .invalid(error.description)
        }
        let rotated = EndpointDocument.rotated(fields, to: prepared.sealed, grace: grace, now: WallClock.nowMilliseconds)
        var written = try await write(rotated, id: id, current: fields)
        written.generatedSecrets += prepared.generated
        return written
    }

    /// Produces a test delivery (`webhook.test`) for the endpoint; returns its `webhook-id`.
    public func sendTest(_ id: String) async throws(Failure) -> String {
        _ = try current(id)
        let webhookID = SecretGenerator.messageID()
        let payload: [String: Any] = ["type": "webhook.test", "data": ["endpoint": id, "webhook_id": webhookID]]
        let body = (try? EndpointDocument.encode(payload)) ?? Array(#"{"type":"webhook.test"}"#.utf8)
        let record = KafkaProducerRecord(
            topic: topics.deliveries, key: Array(id.utf8), value: body,
            headers: [KafkaHeader(key: RelayHeader.event, value: "webhook.test"), KafkaHeader(key: RelayHeader.id, value: webhookID)]
        )
        do {
            _ = try await producer.send(record)
        } catch {
            throw .unavailable("the deliveries topic refused the test event (\(error.name))")
        }
        return webhookID
    }

    private func current(_ id: String) throws(Failure) -> [String: Any] {
        guard let document = catalog.documents[id], let fields = EndpointDocument.fields(document) else { throw .notFound(Self.noEndpoint(id)) }
        return fields
    }

    /// Puts back what masked values stand for, seals given secrets (refusing new references and
    /// far deadlines), checks the document as replicas read it, writes it, and waits for it here.
    private func write(_ fields: [String: Any], id: String, current: [String: Any]) async throws(Failure) -> Written {
        var fields = try Self.unmasked(fields, current: current)
        let scheme = SignatureScheme(rawValue: fields["scheme"] as? String ?? "standard") ?? .standard
        let known = Set(EndpointDocument.secretTexts(current))
        if EndpointDocument.secretTexts(fields).contains(where: { Self.isReference($0) && !known.contains($0) }) {
            throw .invalid(Self.referenceProblem)
        }
        // Retiring secrets sign until their deadline: no later than a rotation could set it.
        let latest = WallClock.nowMilliseconds + EndpointDocument.maximumGrace.wholeMilliseconds + 60_000
        let knownDeadlines = Set((current["retiring_secrets"] as? [[String: Any]] ?? []).compactMap { ($0["until"] as? NSNumber)?.int64Value })
        for entry in fields["retiring_secrets"] as? [[String: Any]] ?? [] {
            if let until = (entry["until"] as? NSNumber)?.int64Value, until > latest, !knownDeadlines.contains(until) {
                throw .invalid("field 'retiring_secrets': a deadline is at most 30 days away (\(EndpointDocument.graceProblem))")
            }
        }
        var generated: [String] = []
        if let given = fields["secrets"] {
            guard let secrets = given as? [String] else { throw .invalid("field 'secrets' must be a list of strings") }
            do {
                let prepared = try EndpointSecrets.prepare(secrets, scheme: scheme, endpointID: id, keyring: keyring)
                fields["secrets"] = prepared.sealed
                generated = prepared.generated
            } catch {
                throw .invalid(error.description)
            }
        }
        let document: [UInt8]
        do {
            document = try EndpointDocument.encode(fields)
            _ = try EndpointDocument.check(document, key: id, keyring: keyring)
        } catch let error as ConfigurationError {
            throw .invalid(error.message)
        } catch {
            throw .invalid("the document cannot be written as JSON")
        }
        do {
            _ = try await producer.send(KafkaProducerRecord(topic: topics.endpoints, key: Array(id.utf8), value: document))
        } catch {
            throw .unavailable("the registry topic refused the document (\(error.name))")
        }
        await awaitInEffect(id, document: document)
        announce(id, before: current.isEmpty ? nil : current, after: fields)
        return Written(document: Self.masked(document) ?? [], generatedSecrets: generated)
    }

    private static func unmasked(_ fields: [String: Any], current: [String: Any]) throws(Failure) -> [String: Any] {
        do {
            return try EndpointDocument.unmasked(fields, current: current)
        } catch {
            throw .invalid(error.message)
        }
    }

    /// Tells operators what a written change was.
    private func announce(_ id: String, before: [String: Any]?, after: [String: Any]?) {
        guard let operational, let event = OperationalEvent.registryChange(id: id, before: before, after: after, at: WallClock.nowMilliseconds) else { return }
        operational.report(event)
    }

    private static func isReference(_ secret: String) -> Bool { secret.hasPrefix("env:") || secret.hasPrefix("file:") }

    private static let referenceProblem = "secret references (env:NAME, file:PATH) name what the replicas hold and are set by "
        + "operators with `webhook-relay endpoints`; give the secret itself (it is sealed before it is written) or `generate`"

    /// Waits (briefly) until this replica's catalog holds the document (`nil`: the deletion).
    private func awaitInEffect(_ id: String, document: [UInt8]?) async {
        let applied = await catalog.waitUntil(timeout: Self.applyTimeout) { $0[id] == document }
        if !applied {
            logger.warning("A registry change was written but not read back in time", metadata: ["endpoint.id": "\(EndpointsFile.shown(id))"])
        }
    }

    private static func object(_ body: [UInt8]) throws(Failure) -> [String: Any] {
        guard let fields = EndpointDocument.fields(body) else { throw .invalid("the body must be a JSON object") }
        return fields
    }

    private static func masked(_ document: [UInt8]) -> [UInt8]? {
        EndpointDocument.fields(document).flatMap { try? EndpointDocument.encode(EndpointDocument.masked($0)) }
    }

    private static func noEndpoint(_ id: String) -> String { "no endpoint '\(EndpointsFile.shown(id))'" }
}
