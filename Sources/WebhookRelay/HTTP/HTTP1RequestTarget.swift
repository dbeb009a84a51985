import Foundation
import NIOCore

/// Where an endpoint's URL points, with the start of every request to it encoded once.
///
/// A POST to the endpoint is this prefix (request line, `Host`, `User-Agent`), the attempt's
/// headers, `Content-Length` and the body, written to the connection in one buffer.
struct HTTP1RequestTarget: Sendable {
    /// `true` for `https`.
    let tls: Bool
    /// The host as written in the URL, without brackets around IPv6.
    let host: String
    /// The host when it is an IP address literal (no name to resolve, nor to send as SNI).
    let literal: IPAddress?
    /// The name TLS sends and verifies the certificate against; `nil` for an IP literal, whose
    /// address is verified instead.
    var tlsServerName: String? { literal == nil ? host : nil }
    /// The port, explicit or the scheme's default.
    let port: Int
    /// The request line and the headers every request to this URL carries.
    let prefix: ByteBuffer

    /// Parses `url` (`http` or `https`, no user info); the problem when it is not usable.
    static func parse(_ url: String, userAgent: String) -> Result<HTTP1RequestTarget, HTTPRequestProblem> {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            return .failure(HTTPRequestProblem("the URL cannot be parsed"))
        }
        guard scheme == "http" || scheme == "https" else { return .failure(HTTPRequestProblem("the URL scheme must be http or https")) }
        guard let rawHost = components.percentEncodedHost, !rawHost.isEmpty else { return .failure(HTTPRequestProblem("the URL has no host")) }
        guard components.user == nil, components.password == nil else {
            return .failure(HTTPRequestProblem("the URL must not carry user info"))
        }
        let tls = scheme == "https"
        let port = components.port ?? (tls ? 443 : 80)
        guard (1...65_535).contains(port) else { return .failure(HTTPRequestProblem("the URL's port is out of range")) }
        let host = rawHost.hasPrefix("[") && rawHost.hasSuffix("]") ? String(rawHost.dropFirst().dropLast()) : rawHost
        var path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        if let query = components.percentEncodedQuery { path += "?" + query }
        let hostHeader = (rawHost.contains(":") && !rawHost.hasPrefix("[") ? "[\(rawHost)]" : rawHost)
            + (components.port.map { ":\($0)" } ?? "")
        guard Self.isClean(hostHeader.utf8), Self.isClean(userAgent.utf8), !path.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            return .failure(HTTPRequestProblem("the URL contains control characters or spaces"))
        }
        let head = "POST \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUser-Agent: \(userAgent)\r\n"
        return .success(HTTP1RequestTarget(tls: tls, host: host, literal: IPAddress(host), port: port, prefix: ByteBuffer(string: head)))
    }

    /// The whole request: the prefix, `headers`, `Content-Length` and `body`.
    func request(headers: [(name: String, value: String)], body: [UInt8], allocator: ByteBufferAllocator) -> Result<ByteBuffer, HTTPRequestProblem> {
        var size = prefix.readableBytes + body.count + 40
        for (name, value) in headers { size += name.utf8.count + value.utf8.count + 4 }
        var buffer = allocator.buffer(capacity: size)
        // Copied, not shared: a buffer that started as the prefix's storage would be copied
        // again by the first write after it.
        buffer.writeBytes(prefix.readableBytesView)
        for (name, value) in headers {
            switch Self.writeHeader(name: name, value: value, to: &buffer) {
            case .written: continue
            case .invalidName: return .failure(HTTPRequestProblem("invalid header name \"\(name)\""))
            case .invalidValue: return .failure(HTTPRequestProblem("the value of header \(name) contains control characters"))
            }
        }
        buffer.writeStaticString("Content-Length: ")
        buffer.writeString(String(body.count))
        buffer.writeStaticString("\r\n\r\n")
        buffer.writeBytes(body)
        return .success(buffer)
    }

    private enum HeaderWrite { case written, invalidName, invalidValue }

    /// Writes `name: value\r\n`, checking each byte as it is copied (one pass over the bytes;
    /// checking first and writing the strings after read them twice: 4 % of the relay's CPU).
    /// Nothing is written when the header is invalid.
    private static func writeHeader(name: String, value: String, to buffer: inout ByteBuffer) -> HeaderWrite {
        var outcome = HeaderWrite.written
        let length = name.utf8.count + value.utf8.count + 4
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { out in
            var at = 0
            for byte in name.utf8 {
                guard HTTPFieldName.isTokenCharacter(byte) else {
                    outcome = .invalidName
                    return 0
                }
                out[at] = byte
                at += 1
            }
            guard at > 0 else {
                outcome = .invalidName
                return 0
            }
            out[at] = UInt8(ascii: ":")
            out[at + 1] = UInt8(ascii: " ")
            at += 2
            for byte in value.utf8 {
                guard isClean(byte) else {
                    outcome = .invalidValue
                    return 0
                }
                out[at] = byte
                at += 1
            }
            out[at] = UInt8(ascii: "\r")
            out[at + 1] = UInt8(ascii: "\n")
            return at + 2
        }
        return outcome
    }

    /// No CR, LF, NUL or other control characters except tab.
    private static func isClean<S: Sequence<UInt8>>(_ bytes: S) -> Bool {
        bytes.allSatisfy(isClean)
    }

    /// Not a control character, or a tab.
    private static func isClean(_ byte: UInt8) -> Bool {
        byte >= 0x20 && byte != 0x7F || byte == UInt8(ascii: "\t")
    }
}

/// A request that cannot be sent as given: no connection is opened.
struct HTTPRequestProblem: Error, Sendable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
