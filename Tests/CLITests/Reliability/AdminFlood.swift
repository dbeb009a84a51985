import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Many connections to a replica's admin port that each send the start of a request head and
/// never finish it (a slowloris), held until ``stop()``. Non-blocking: connections the server
/// does not accept wait in its kernel queue (or for their handshake) without holding the test up.
final class AdminFlood {
    private var descriptors: [Int32] = []

    /// Opens `count` connections to 127.0.0.1:`port`.
    init(port: Int, count: Int) {
        for _ in 0..<count {
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard descriptor >= 0 else { continue }
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            descriptors.append(descriptor)
        }
    }

    /// Sends the first line of a request on every connection that is connected by now.
    func sendPartialHeads() {
        var bytes = Array("GET /healthz HTTP/1.1\r\n".utf8)
        for descriptor in descriptors { _ = send(descriptor, &bytes, bytes.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Closes every connection.
    func stop() {
        for descriptor in descriptors { close(descriptor) }
        descriptors = []
    }

    deinit { stop() }

    /// A port nothing listens on now.
    static func freePort() -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) == 0 ? getsockname(descriptor, $0, &length) : -1 }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// `GET path` on 127.0.0.1:`port`: the status line and body, or `nil` when no answer came
    /// within `timeout`.
    static func get(_ path: String, port: Int, timeout: Duration = .seconds(5)) -> String? {
        guard let connection = RawTCPConnection(port: port) else { return nil }
        connection.send("GET \(path) HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
        let answer = connection.read(for: timeout).text
        return answer.isEmpty ? nil : answer
    }
}
