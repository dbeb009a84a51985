import Foundation
import Hummingbird
import NIOCore
import WebhookRelay
import WebhookSignature

extension ManagementAPI {
    /// What every route does around its work: authentication, the relay's mode, the body, and
    /// turning every failure into a problem document.
    struct Handler: Sendable {
        let relay: RelayService
        let configuration: Configuration

        /// Runs `work` with the relay's endpoint manager and the request body (read for the write
        /// routes that take one; empty otherwise).
        func answer(
            _ request: Request, write: Bool, body takesBody: Bool = true, _ work: (EndpointManager, [UInt8]) async throws -> Response
        ) async -> Response {
            do {
                try authorize(request, write: write)
                guard let manager = relay.endpointManager else {
                    throw relay.isRegistryMode
                        ? ProblemDocument(.serviceUnavailable, "the endpoint registry is not read yet; try again shortly")
                        : ProblemDocument(.notFound, "this relay takes its endpoints from a file (--endpoints); the management API needs --endpoint-registry")
                }
                let body = write && takesBody ? try await collect(request) : []
                return try await work(manager, body)
            } catch let problem as ProblemDocument {
                return problem.response
            } catch let failure as EndpointManager.Failure {
                return Self.problem(failure).response
            } catch {
                return ProblemDocument(.internalServerError, "the request failed").response
            }
        }

        /// Bearer token check: every request when tokens are configured; none may write otherwise.
        private func authorize(_ request: Request, write: Bool) throws {
            guard let tokens = configuration.tokens else {
                if write {
                    throw ProblemDocument(.forbidden, "the management API's write routes are off: start the relay with --api-token")
                }
                return
            }
            let header = request.headers[.authorization] ?? ""
            guard header.hasPrefix("Bearer "), tokens.accepts(String(header.dropFirst("Bearer ".count))) else {
                var problem = ProblemDocument(.unauthorized, "a valid bearer token is required (Authorization: Bearer <token>)")
                problem.headers[.wwwAuthenticate] = "Bearer"
                throw problem
            }
        }

        /// The body, at most ``Configuration/bodyLimit`` bytes within ``Configuration/bodyTimeout``.
        private func collect(_ request: Request) async throws -> [UInt8] {
            let limit = configuration.bodyLimit
            let outcome = await withTaskGroup(of: Result<ByteBuffer, ProblemDocument>?.self) { group in
                group.addTask {
                    do {
                        return .success(try await request.body.collect(upTo: limit))
                    } catch is NIOTooManyBytesError {
                        return .failure(ProblemDocument(.contentTooLarge, "the body is larger than \(limit) bytes"))
                    } catch {
                        return .failure(ProblemDocument(.badRequest, "the body could not be read"))
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: configuration.bodyTimeout)
                    return Task.isCancelled ? nil : .failure(ProblemDocument(.requestTimeout, "the body did not arrive in time"))
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first ?? .failure(ProblemDocument(.requestTimeout, "the body did not arrive in time"))
            }
            let buffer = try outcome.get()
            return Array(buffer.readableBytesView)
        }

        /// A string field of a JSON body (an empty body has none).
        func field(_ name: String, in body: [UInt8]) throws -> String? {
            guard !body.isEmpty else { return nil }
            guard let fields = EndpointDocument.fields(body) else { throw ProblemDocument(.badRequest, "the body must be a JSON object") }
            guard let value = fields[name] else { return nil }
            guard let text = value as? String else { throw ProblemDocument(.badRequest, "field '\(name)' must be a string") }
            return text
        }

        func list(_ manager: EndpointManager, _ request: Request) throws -> Response {
            let query = request.uri.queryParameters
            let limitText = query["limit"].map(String.init) ?? "100"
            guard let limit = Int(limitText), (1...1_000).contains(limit) else {
                throw ProblemDocument(.badRequest, "query 'limit': expected a whole number from 1 to 1000")
            }
            let page = manager.list(prefix: query["prefix"].map(String.init), limit: limit, after: query["after"].map(String.init))
            let items = page.documents.compactMap(EndpointDocument.fields)
            let object: [String: Any] = ["data": items, "next_after": page.next ?? NSNull()]
            return try json(EndpointDocument.encode(object))
        }

        func written(_ written: EndpointManager.Written, status: HTTPResponse.Status = .ok) throws -> Response {
            let object: [String: Any] = [
                "endpoint": EndpointDocument.fields(written.document) ?? [:], "generated_secrets": written.generatedSecrets,
            ]
            return try json(EndpointDocument.encode(object), status: status)
        }

        func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) throws -> Response {
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            headers[.cacheControl] = "no-store"
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }

        static func problem(_ failure: EndpointManager.Failure) -> ProblemDocument {
            switch failure {
            case .notFound(let message): ProblemDocument(.notFound, message)
            case .conflict(let message): ProblemDocument(.conflict, message)
            case .invalid(let message): ProblemDocument(.unprocessableContent, message)
            case .unavailable(let message): ProblemDocument(.serviceUnavailable, message)
            }
        }
    }
}
