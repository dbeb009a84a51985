import Foundation
import Hummingbird

/// An error answer of the management API: a problem document (RFC 9457), `application/problem+json`.
struct ProblemDocument: Error, Sendable {
    var status: HTTPResponse.Status
    var detail: String
    var headers: HTTPFields = HTTPFields()

    init(_ status: HTTPResponse.Status, _ detail: String) {
        self.status = status
        self.detail = detail
    }

    var response: Response {
        let object: [String: Any] = [
            "type": "about:blank", "title": status.reasonPhrase, "status": status.code, "detail": detail,
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
