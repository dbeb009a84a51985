import Foundation
import Hummingbird
import NIOCore
import WebhookRelay
import WebhookSignature

/// The management API on the admin server, under `/v1/` (docs/api.md, docs/openapi.yaml):
///
/// - `GET /v1/endpoints?prefix=&limit=&after=`, `POST /v1/endpoints`
/// - `GET`, `PUT`, `PATCH` (JSON merge patch), `DELETE /v1/endpoints/{id}`
/// - `POST /v1/endpoints/{id}/disable` (`{"reason": …}`), `…/enable`, `…/rotate-secret`
///   (`{"secret": …, "grace": "24h"}`, both optional), `…/test` (a `webhook.test` delivery)
/// - `GET /v1/endpoints/{id}/status`: what this replica knows of the endpoint's circuit and health
///
/// Every request needs `Authorization: Bearer <token>` when tokens are configured; without them the
/// read routes are open (as `/endpoints` is) and the write routes are off. Bodies are JSON, at most
/// ``Configuration/bodyLimit`` bytes, sent within ``Configuration/bodyTimeout``; every error is a
/// problem document (RFC 9457). Secrets are masked in every answer but the one that generated them.
public enum ManagementAPI {
    /// Who may call the API, and what a request may hold.
    public struct Configuration: Sendable {
        /// Bearer tokens; `nil` turns the write routes off.
        public var tokens: AccessTokens?
        /// The largest request body.
        public var bodyLimit = 65_536
        /// How long a request body may take to arrive.
        public var bodyTimeout: Duration = .seconds(5)

        /// Tokens as given; the body limits at their defaults.
        public init(tokens: AccessTokens?) {
            self.tokens = tokens
        }
    }

    static func register(on router: Router<BasicRequestContext>, relay: RelayService, configuration: Configuration) {
        let api = Handler(relay: relay, configuration: configuration)
        router.add(middleware: MethodGuard())
        router.get("/v1/endpoints") { request, _ in await api.answer(request, write: false) { manager, _ in try api.list(manager, request) } }
        router.post("/v1/endpoints") { request, _ in
            await api.answer(request, write: true) { manager, body in try await api.written(manager.create(body), status: .created) }
        }
        router.get("/v1/endpoints/{id}") { request, context in
            await api.answer(request, write: false) { manager, _ in try api.json(manager.document(context.id)) }
        }
        router.put("/v1/endpoints/{id}") { request, context in
            await api.answer(request, write: true) { manager, body in try await api.written(manager.replace(context.id, body)) }
        }
        router.patch("/v1/endpoints/{id}") { request, context in
            await api.answer(request, write: true) { manager, body in try await api.written(manager.patch(context.id, body)) }
        }
        router.delete("/v1/endpoints/{id}") { request, context in
            await api.answer(request, write: true, body: false) { manager, _ in
                try await manager.delete(context.id)
                return Response(status: .noContent)
            }
        }
        router.post("/v1/endpoints/{id}/disable") { request, context in
            await api.answer(request, write: true) { manager, body in
                let reason = try api.field("reason", in: body) ?? "disabled through the management API"
                return try await api.written(manager.setDisabled(context.id, reason: reason))
            }
        }
        router.post("/v1/endpoints/{id}/enable") { request, context in
            await api.answer(request, write: true, body: false) { manager, _ in try await api.written(manager.setDisabled(context.id, reason: nil)) }
        }
        router.post("/v1/endpoints/{id}/rotate-secret") { request, context in
            await api.answer(request, write: true) { manager, body in
                let graceText = try api.field("grace", in: body)
                guard let grace = graceText.map({ $0 == "0s" ? .zero : DurationText.parse($0) }) ?? EndpointDocument.defaultGrace else {
                    throw ProblemDocument(.badRequest, "field 'grace': expected a duration like 24h")
                }
                guard grace <= EndpointDocument.maximumGrace else { throw ProblemDocument(.badRequest, "field 'grace': \(EndpointDocument.graceProblem)") }
                return try await api.written(manager.rotate(context.id, secret: api.field("secret", in: body), grace: grace))
            }
        }
        router.post("/v1/endpoints/{id}/test") { request, context in
            await api.answer(request, write: true, body: false) { manager, _ in
                let id = try await manager.sendTest(context.id)
                return try api.json(try EndpointDocument.encode(["webhook_id": id]), status: .accepted)
            }
        }
        router.get("/v1/endpoints/{id}/status") { request, context in
            await api.answer(request, write: false) { manager, _ in try api.json(manager.status(context.id)) }
        }
    }
}

extension BasicRequestContext {
    /// The `{id}` path parameter.
    var id: String { parameters.get("id") ?? "" }
}

/// Answers 405 (with `Allow`) for a method an API path does not answer, whatever the method.
struct MethodGuard: RouterMiddleware {
    typealias Context = BasicRequestContext

    /// The methods each API path answers, by the path's segments after `/v1/endpoints/{id}`.
    static func allowed(_ path: String) -> [HTTPRequest.Method]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard segments.count >= 2, segments.prefix(2).elementsEqual(["v1", "endpoints"]) else { return nil }
        switch segments.count {
        case 2: return [.get, .post]
        case 3: return [.get, .put, .patch, .delete]
        case 4:
            switch segments.last {
            case "disable", "enable", "rotate-secret", "test": return [.post]
            case "status": return [.get]
            default: return nil
            }
        default: return nil
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let allowed = Self.allowed(request.uri.path), !allowed.contains(request.method), request.method != .head else {
            return try await next(request, context)
        }
        let names = allowed.map(\.rawValue).joined(separator: ", ")
        var problem = ProblemDocument(.methodNotAllowed, "\(request.method.rawValue) is not answered here (allowed: \(names))")
        problem.headers[.allow] = names
        return problem.response
    }
}
