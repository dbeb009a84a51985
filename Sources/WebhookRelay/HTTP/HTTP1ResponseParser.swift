import NIOCore

/// What the relay keeps of an HTTP response.
struct HTTP1Response: Sendable, Equatable {
    /// The status code.
    var status: Int
    /// The `Retry-After` header, if any.
    var retryAfter: String?
    /// The first bytes of the body, at most the parser's `bodyLimit`.
    var bodyPrefix: [UInt8]
    /// Whether the connection may carry another request.
    var keepAlive: Bool
    /// When the request was written (the flush that carried it returned: NIO writes to the
    /// socket within it unless the socket is full) and when the response was read whole, in
    /// monotonic nanoseconds (`DispatchTime`); 0 when unknown.
    var writtenAt: UInt64 = 0
    var answeredAt: UInt64 = 0
}

/// An HTTP/1.1 response that cannot be read.
struct HTTP1ParseError: Error, Equatable, CustomStringConvertible {
    let reason: String
    var description: String { "invalid HTTP response: \(reason)" }
}

/// Reads one HTTP/1.x response from the bytes of a connection, incrementally.
///
/// Only what a webhook sender needs: the status, `Retry-After`, the first `bodyLimit` bytes of the
/// body and whether the connection can be reused. The body is read to its end (by
/// `Content-Length`, chunked encoding, or the connection closing) so the connection stays usable,
/// but only its prefix is kept. Interim responses (1xx) are skipped; 204 and 304 have no body.
struct HTTP1ResponseParser {
    private enum State {
        case head
        case fixed(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
    }

    /// Body bytes kept at most.
    let bodyLimit: Int
    /// Largest response head (status line and headers) accepted.
    let headLimit: Int
    private var state = State.head
    private var response = HTTP1Response(status: 0, retryAfter: nil, bodyPrefix: [], keepAlive: true)
    /// Where to resume searching for the end of the head.
    private var scanned = 0

    init(bodyLimit: Int, headLimit: Int = 65_536) {
        self.bodyLimit = bodyLimit
        self.headLimit = headLimit
    }

    /// Reads what it can from `buffer`; the response once it is complete. Bytes after the
    /// response stay in `buffer`.
    mutating func feed(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> HTTP1Response? {
        while true {
            switch state {
            case .head:
                guard try readHead(&buffer) else { return nil }
            case .fixed(let remaining):
                let taken = keep(&buffer, upTo: remaining)
                if taken == remaining { return finish() }
                state = .fixed(remaining: remaining - taken)
                return nil
            case .chunkSize:
                guard let line = try readLine(&buffer, limit: 1_024) else { return nil }
                let digits = line.prefix { $0 != UInt8(ascii: ";") }.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
                guard let size = Self.hex(digits) else { throw HTTP1ParseError(reason: "bad chunk size") }
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let taken = keep(&buffer, upTo: remaining)
                guard taken == remaining else {
                    state = .chunkData(remaining: remaining - taken)
                    return nil
                }
                state = .chunkDataEnd
            case .chunkDataEnd:
                guard let line = try readLine(&buffer, limit: 2) else { return nil }
                guard line.isEmpty else { throw HTTP1ParseError(reason: "chunk not followed by CRLF") }
                state = .chunkSize
            case .trailers:
                guard let line = try readLine(&buffer, limit: headLimit) else { return nil }
                if line.isEmpty { return finish() }
            case .untilClose:
                _ = keep(&buffer, upTo: buffer.readableBytes)
                return nil
            }
        }
    }

    /// The connection closed: the response, if it ends with the connection; otherwise the
    /// response was cut short.
    mutating func connectionClosed() throws(HTTP1ParseError) -> HTTP1Response {
        guard case .untilClose = state else {
            throw HTTP1ParseError(reason: response.status == 0 ? "connection closed before a response" : "connection closed mid-response")
        }
        response.keepAlive = false
        return finish()
    }

    private mutating func finish() -> HTTP1Response {
        let done = response
        self = HTTP1ResponseParser(bodyLimit: bodyLimit, headLimit: headLimit)
        return done
    }

    /// Consumes up to `count` body bytes, keeping the first `bodyLimit`; returns how many were consumed.
    private mutating func keep(_ buffer: inout ByteBuffer, upTo count: Int) -> Int {
        let taken = min(count, buffer.readableBytes)
        let room = bodyLimit - response.bodyPrefix.count
        if room > 0, let bytes = buffer.getBytes(at: buffer.readerIndex, length: min(room, taken)) {
            response.bodyPrefix.append(contentsOf: bytes)
        }
        buffer.moveReaderIndex(forwardBy: taken)
        return taken
    }

    /// A CRLF-terminated line without its CRLF, consumed; `nil` when it has not fully arrived.
    private func readLine(_ buffer: inout ByteBuffer, limit: Int) throws(HTTP1ParseError) -> ArraySlice<UInt8>? {
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > limit + 2 { throw HTTP1ParseError(reason: "line too long") }
            return nil
        }
        let length = lf - view.startIndex
        guard length >= 1, view[lf - 1] == UInt8(ascii: "\r") else { throw HTTP1ParseError(reason: "bare LF") }
        guard length - 1 <= limit else { throw HTTP1ParseError(reason: "line too long") }
        let line = buffer.readBytes(length: length - 1) ?? []
        buffer.moveReaderIndex(forwardBy: 2)
        return line[...]
    }

    /// Parses the head once all of it arrived; `false` while it is incomplete. The head is read
    /// in place, through the buffer's bytes: a `ByteBufferView` per line and header held the
    /// buffer's storage each (a retain and release per slice), about 3 % of the relay's CPU.
    private mutating func readHead(_ buffer: inout ByteBuffer) throws(HTTP1ParseError) -> Bool {
        let resumeAt = max(0, scanned - 3)
        let outcome = buffer.withUnsafeReadableBytes { bytes -> Result<Int?, HTTP1ParseError> in
            var index = resumeAt
            while index + 3 < bytes.count {
                if bytes[index + 3] == UInt8(ascii: "\n"), bytes[index + 2] == UInt8(ascii: "\r"),
                    bytes[index + 1] == UInt8(ascii: "\n"), bytes[index] == UInt8(ascii: "\r")
                {
                    guard index <= headLimit else { return .failure(HTTP1ParseError(reason: "response head larger than \(headLimit) bytes")) }
                    do throws(HTTP1ParseError) {
                        try parseHead(bytes[0..<index])
                    } catch {
                        return .failure(error)
                    }
                    return .success(index)
                }
                index += 1
            }
            return .success(nil)
        }
        guard let end = try outcome.get() else {
            scanned = buffer.readableBytes
            if buffer.readableBytes > headLimit { throw HTTP1ParseError(reason: "response head larger than \(headLimit) bytes") }
            return false
        }
        buffer.moveReaderIndex(forwardBy: end + 4)
        scanned = 0
        return true
    }

    private mutating func parseHead(_ head: Slice<UnsafeRawBufferPointer>) throws(HTTP1ParseError) {
        // Lines end with CRLF; the head's final CRLF was cut off already.
        var lines = HeadLines(head: head)
        guard let statusLine = lines.next() else { throw HTTP1ParseError(reason: "no status line") }
        // "HTTP/1.1 204 No Content"
        let first = statusLine.startIndex
        guard statusLine.count >= 12, statusLine.starts(with: "HTTP/1.".utf8), statusLine[first + 8] == UInt8(ascii: " ") else {
            throw HTTP1ParseError(reason: "bad status line")
        }
        let minor = statusLine[first + 7]
        guard minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1") else { throw HTTP1ParseError(reason: "unsupported HTTP version") }
        guard let status = Self.decimal(statusLine[(first + 9)..<(first + 12)]), status >= 100,
            statusLine.count == 12 || statusLine[first + 12] == UInt8(ascii: " ")
        else { throw HTTP1ParseError(reason: "bad status code") }

        var keepAlive = minor == UInt8(ascii: "1")
        var contentLength: Int?
        var chunked = false
        var otherCoding = false
        var retryAfter: String?
        while let line = lines.next() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
                throw HTTP1ParseError(reason: "bad header line")
            }
            let name = line[line.startIndex..<colon]
            let value = Self.trimSpace(line[(colon + 1)...])
            if Self.equalsIgnoringCase(name, "content-length") {
                guard let length = Self.decimal(value), contentLength == nil || contentLength == length else {
                    throw HTTP1ParseError(reason: "bad Content-Length")
                }
                contentLength = length
            } else if Self.equalsIgnoringCase(name, "transfer-encoding") {
                let last = Self.trimSpace(value[(value.lastIndex(of: UInt8(ascii: ",")).map { $0 + 1 } ?? value.startIndex)...])
                if Self.equalsIgnoringCase(last, "chunked") {
                    chunked = true
                } else if !Self.equalsIgnoringCase(last, "identity") {
                    otherCoding = true
                }
            } else if Self.equalsIgnoringCase(name, "connection") {
                var rest = value[...]
                while !rest.isEmpty {
                    let comma = rest.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
                    let token = Self.trimSpace(rest[rest.startIndex..<comma])
                    if Self.equalsIgnoringCase(token, "close") { keepAlive = false }
                    if Self.equalsIgnoringCase(token, "keep-alive") && minor == UInt8(ascii: "0") { keepAlive = true }
                    rest = comma == rest.endIndex ? rest[rest.endIndex...] : rest[(comma + 1)...]
                }
            } else if Self.equalsIgnoringCase(name, "retry-after") {
                retryAfter = String(decoding: value, as: UTF8.self)
            }
        }
        if (100..<200).contains(status) {
            guard status != 101 else { throw HTTP1ParseError(reason: "unexpected protocol switch") }
            return  // interim response: the real one follows
        }
        response = HTTP1Response(status: status, retryAfter: retryAfter, bodyPrefix: [], keepAlive: keepAlive)
        if status == 204 || status == 304 {
            state = .fixed(remaining: 0)
        } else if chunked {
            state = .chunkSize
        } else if otherCoding {
            response.keepAlive = false
            state = .untilClose
        } else if let contentLength {
            state = .fixed(remaining: contentLength)
        } else {
            response.keepAlive = false
            state = .untilClose
        }
    }

    /// The CRLF-separated lines of a response head.
    private struct HeadLines {
        var rest: Slice<UnsafeRawBufferPointer>

        init(head: Slice<UnsafeRawBufferPointer>) { rest = head }

        mutating func next() -> Slice<UnsafeRawBufferPointer>? {
            guard !rest.isEmpty else { return nil }
            guard let lf = rest.firstIndex(of: UInt8(ascii: "\n")) else {
                defer { rest = rest[rest.endIndex...] }
                return rest
            }
            var end = lf
            if end > rest.startIndex, rest[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            defer { rest = rest[(lf + 1)...] }
            return rest[rest.startIndex..<end]
        }
    }

    private static func trimSpace<C: BidirectionalCollection<UInt8>>(_ bytes: C) -> C.SubSequence {
        var slice = bytes[...]
        while let first = slice.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { slice = slice.dropFirst() }
        while let last = slice.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { slice = slice.dropLast() }
        return slice
    }

    private static func equalsIgnoringCase<C: Collection<UInt8>>(_ bytes: C, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            zip(bytes, expected).allSatisfy { byte, wanted in
                byte == wanted || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") && byte | 0x20 == wanted)
            }
        }
    }

    private static func decimal<C: Collection<UInt8>>(_ bytes: C) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func hex<C: Collection<UInt8>>(_ bytes: C) -> Int? {
        guard !bytes.isEmpty, bytes.count <= 15 else { return nil }
        var value = 0
        for byte in bytes {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | Int(digit)
        }
        return value
    }
}
