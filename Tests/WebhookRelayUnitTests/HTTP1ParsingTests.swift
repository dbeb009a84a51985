import NIOCore
import Testing
@testable import WebhookRelay

/// The relay's HTTP/1.1 request encoding and response parsing: no network.
struct HTTP1ResponseParserTests {
    /// Feeds `text` in pieces of `step` bytes; the response and the bytes left after it.
    static func parse(_ text: String, step: Int = .max, bodyLimit: Int = 1_024, closeAtEnd: Bool = false) throws -> (HTTP1Response?, String) {
        var parser = HTTP1ResponseParser(bodyLimit: bodyLimit)
        let bytes = Array(text.utf8)
        var buffer = ByteBuffer()
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + min(step, bytes.count))
            buffer.writeBytes(bytes[offset..<end])
            offset = end
            if let response = try parser.feed(&buffer) {
                buffer.writeBytes(bytes[offset...])
                return (response, String(buffer: buffer))
            }
        }
        if closeAtEnd { return (try parser.connectionClosed(), "") }
        return (nil, String(buffer: buffer))
    }

    @Test(arguments: [1, 2, 3, 7, 1_000])
    func contentLengthChunkedAndInterimResponsesInAnyPieces(step: Int) throws {
        let fixed = "HTTP/1.1 503 Service Unavailable\r\ncontent-LENGTH: 11\r\nRetry-After:  120 \r\n\r\nhello worldHTTP/1.1"
        let (response, rest) = try Self.parse(fixed, step: step)
        #expect(response == HTTP1Response(status: 503, retryAfter: "120", bodyPrefix: Array("hello world".utf8), keepAlive: true))
        #expect(rest == "HTTP/1.1", "bytes after the response stay unread")

        let chunked = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
            + "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
        let (chunkedResponse, chunkedRest) = try Self.parse(chunked, step: step)
        #expect(chunkedResponse == HTTP1Response(status: 429, retryAfter: nil, bodyPrefix: Array("hello world".utf8), keepAlive: true))
        #expect(chunkedRest.isEmpty)
    }

    @Test func noBodyStatusesAndConnectionHeaders() throws {
        // 204 ends at the head even with a Content-Length.
        #expect(try Self.parse("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n").0?.bodyPrefix == [])
        #expect(try Self.parse("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n").0?.keepAlive == false)
        #expect(try Self.parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").0?.keepAlive == false)
        #expect(try Self.parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").0?.keepAlive == true)
        #expect(try Self.parse("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n").0?.status == 200, "the reason phrase is optional")
    }

    @Test func bodyUntilCloseKeepsOnlyTheLimit() throws {
        let (open, _) = try Self.parse("HTTP/1.1 500 Oops\r\n\r\n0123456789", bodyLimit: 4)
        #expect(open == nil, "without a length the body runs until the connection closes")
        let (closed, _) = try Self.parse("HTTP/1.1 500 Oops\r\n\r\n0123456789", bodyLimit: 4, closeAtEnd: true)
        #expect(closed == HTTP1Response(status: 500, retryAfter: nil, bodyPrefix: Array("0123".utf8), keepAlive: false))
        let (limited, _) = try Self.parse("HTTP/1.1 500 Oops\r\nContent-Length: 10\r\n\r\n0123456789", bodyLimit: 4)
        #expect(limited?.bodyPrefix == Array("0123".utf8) && limited?.keepAlive == true, "the whole body is read, its start kept")
    }

    @Test(arguments: [
        ("nonsense\r\n\r\n", "bad status line"),
        ("HTTP/2.0 200 OK\r\n\r\n", "bad status line"),
        ("HTTP/1.2 200 OK\r\n\r\n", "unsupported HTTP version"),
        ("HTTP/1.1 2x4 OK\r\n\r\n", "bad status code"),
        ("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "bad Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n", "chunk not followed by CRLF"),
        ("HTTP/1.1 101 Switching Protocols\r\n\r\n", "unexpected protocol switch"),
    ])
    func malformedResponsesAreRejectedWithAReason(text: String, reason: String) {
        #expect(throws: HTTP1ParseError(reason: reason)) { try Self.parse(text) }
    }

    @Test func oversizedHeadAndTruncatedResponses() {
        let huge = "HTTP/1.1 200 OK\r\nX-Big: " + String(repeating: "a", count: 70_000)
        #expect(throws: HTTP1ParseError(reason: "response head larger than 65536 bytes")) { try Self.parse(huge) }
        #expect(throws: HTTP1ParseError(reason: "connection closed mid-response")) {
            try Self.parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", closeAtEnd: true)
        }
        #expect(throws: HTTP1ParseError(reason: "connection closed before a response")) { try Self.parse("HTTP/1.1 2", closeAtEnd: true) }
    }
}

struct HTTP1RequestTargetTests {
    static func encode(_ url: String, headers: [(name: String, value: String)] = [], body: String = "") throws -> String {
        let target = try HTTP1RequestTarget.parse(url, userAgent: "relay-test/1").get()
        return String(buffer: try target.request(headers: headers, body: Array(body.utf8), allocator: ByteBufferAllocator()).get())
    }

    @Test func encodesTheWholeRequestInOneBuffer() throws {
        let request = try Self.encode("http://hooks.example.com:8080/in/a?x=1&y=%20", headers: [("webhook-id", "msg_1")], body: "{}")
        #expect(request == "POST /in/a?x=1&y=%20 HTTP/1.1\r\nHost: hooks.example.com:8080\r\nUser-Agent: relay-test/1\r\n"
            + "webhook-id: msg_1\r\nContent-Length: 2\r\n\r\n{}")
        #expect(try Self.encode("https://example.com").hasPrefix("POST / HTTP/1.1\r\nHost: example.com\r\n"))
        let v6 = try HTTP1RequestTarget.parse("https://[::1]:8443/x", userAgent: "u").get()
        #expect(v6.host == "::1" && v6.port == 8443 && v6.tls)
        #expect(String(buffer: v6.prefix).contains("Host: [::1]:8443\r\n"))
        let plain = try HTTP1RequestTarget.parse("http://127.0.0.1/x", userAgent: "u").get()
        #expect(plain.port == 80 && !plain.tls)
    }

    @Test func refusesWhatCannotBeSentSafely() throws {
        for (url, problem) in [
            ("ftp://example.com/", "the URL scheme must be http or https"),
            ("http:///path", "the URL has no host"),
            ("http://user:pw@example.com/", "the URL must not carry user info"),
        ] {
            #expect(throws: HTTPRequestProblem.self, "\(url)") { try HTTP1RequestTarget.parse(url, userAgent: "u").get() }
            if case .failure(let error) = HTTP1RequestTarget.parse(url, userAgent: "u") { #expect(error.description == problem) }
        }
        let target = try HTTP1RequestTarget.parse("http://example.com/", userAgent: "u").get()
        let injected = target.request(headers: [("X-Note", "a\r\nX-Evil: 1")], body: [], allocator: ByteBufferAllocator())
        #expect(throws: HTTPRequestProblem.self) { try injected.get() }
        let badName = target.request(headers: [("X Note", "a")], body: [], allocator: ByteBufferAllocator())
        #expect(throws: HTTPRequestProblem.self) { try badName.get() }
    }
}
