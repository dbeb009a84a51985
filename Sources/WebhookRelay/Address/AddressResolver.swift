import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A host name and the addresses it resolved to, in resolver order.
public struct ResolvedHost: Sendable, Hashable {
    /// The host as given (a name or an IP literal).
    public let host: String
    /// The unique addresses, in the order the resolver returned them.
    public let addresses: [IPAddress]

    /// Creates a resolved host.
    public init(host: String, addresses: [IPAddress]) {
        self.host = host
        self.addresses = addresses
    }
}

/// A host that could not be resolved to any address.
public struct AddressResolutionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The host that was looked up.
    public let host: String
    /// Why: the resolver's message (`gai_strerror`), or what is wrong with the host text.
    public let reason: String
    /// The `getaddrinfo` status (`EAI_*`), or `nil` if the host was rejected before lookup.
    public let code: Int32?

    /// Creates an error.
    public init(host: String, reason: String, code: Int32? = nil) {
        self.host = host
        self.reason = reason
        self.code = code
    }

    /// Whether the failure is temporary (`EAI_AGAIN`), so a later attempt may succeed.
    public var isTemporary: Bool { code == EAI_AGAIN }

    public var description: String { "cannot resolve host \"\(host)\": \(reason)" }
}

/// A refusal to connect to a host because one of its addresses is refused by the ``AddressPolicy``.
public struct AddressRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// The host name, if known.
    public let host: String?
    /// The refused address, or `nil` if there was no address at all.
    public let address: IPAddress?
    /// The policy's reason, such as `127.0.0.1 is in 127.0.0.0/8 (loopback)`.
    public let reason: String

    /// Creates a refusal.
    public init(host: String?, address: IPAddress?, reason: String) {
        self.host = host
        self.address = address
        self.reason = reason
    }

    /// For example `refusing to connect to hooks.example.com: 10.0.0.5 is in 10.0.0.0/8 (private network); …`.
    public var description: String {
        let target = host.map { "refusing to connect to \($0)" } ?? "refusing to connect"
        guard address != nil else { return "\(target): \(reason)" }
        return "\(target): \(reason); only globally routable addresses are allowed "
            + "unless the network is explicitly allowed"
    }
}

/// Resolves webhook hosts to addresses and picks the one to connect to under an ``AddressPolicy``.
///
/// Connect to the address ``pick(_:policy:)`` returns, not to the host
/// name: resolving the name again could return a different (private) address.
public enum AddressResolver {
    /// The addresses of `host`: an IP literal (`1.2.3.4`, `::1`, `[::1]`) is returned as is
    /// without DNS; a name is looked up with `getaddrinfo` on a dedicated thread, since the
    /// call blocks. Unique addresses are returned in resolver order.
    ///
    /// Numeric hosts that are not strict dotted-quad addresses (`010.0.0.1`, `127.1`,
    /// `0x7f000001`, `2130706433`) are rejected rather than handed to `getaddrinfo`, which
    /// would read them in the legacy `inet_aton` forms (octal, hex, fewer parts).
    ///
    /// - Throws: ``AddressResolutionError`` if the host is malformed or cannot be resolved.
    ///   The lookup itself cannot be cancelled; a cancelled task still waits for it.
    public static func resolve(host: String) async throws -> [IPAddress] {
        if let literal = IPAddress(host) { return [literal] }
        if let problem = problem(with: host) {
            throw AddressResolutionError(host: host, reason: problem)
        }
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<[IPAddress], AddressResolutionError>, Never>) in
            let thread = Thread {
                continuation.resume(returning: lookUp(host))
            }
            thread.name = "AddressResolver.getaddrinfo"
            thread.start()
        }
        return try result.get()
    }

    /// The address to connect to: the first one, if the policy allows every address.
    ///
    /// Fails if the list is empty or if *any* address is refused, so a name with one public
    /// and one private record (DNS controlled by an attacker) never passes.
    public static func pick(_ addresses: [IPAddress], policy: AddressPolicy) -> Result<IPAddress, AddressRefusal> {
        pick(host: nil, addresses, policy: policy)
    }

    /// Like the other ``pick(_:policy:)``, naming the host in the refusal.
    public static func pick(_ resolved: ResolvedHost, policy: AddressPolicy) -> Result<IPAddress, AddressRefusal> {
        pick(host: resolved.host, resolved.addresses, policy: policy)
    }

    private static func pick(host: String?, _ addresses: [IPAddress], policy: AddressPolicy) -> Result<IPAddress, AddressRefusal> {
        guard let first = addresses.first else {
            return .failure(AddressRefusal(host: host, address: nil, reason: "no addresses to connect to"))
        }
        for address in addresses {
            if case .refused(let reason) = policy.check(address) {
                return .failure(AddressRefusal(host: host, address: address, reason: reason))
            }
        }
        return .success(first)
    }

    /// What is wrong with a host name before lookup, or `nil` if it may be looked up.
    static func problem(with host: String) -> String? {
        if host.isEmpty { return "the host is empty" }
        if host.utf8.contains(0) { return "the host contains a NUL character" }
        if host.contains(where: { $0 == ":" || $0 == "[" || $0 == "]" || $0 == "%" }) {
            return "not a valid IPv6 address (expected e.g. \"2001:db8::1\" or \"[2001:db8::1]\")"
        }
        var labels = host.split(separator: ".", omittingEmptySubsequences: false)
        if labels.count > 1, labels.last?.isEmpty == true { labels.removeLast() } // trailing root dot
        if let last = labels.last, isNumeric(last) {
            return "not a valid IPv4 address (expected four decimal numbers 0-255 without leading zeros, e.g. \"192.0.2.1\")"
        }
        return nil
    }

    /// Whether a label is a number (decimal, or `0x` hex) as legacy IPv4 parsers read it.
    private static func isNumeric(_ label: Substring) -> Bool {
        let chars = Array(label.utf8)
        if chars.count >= 2, chars[0] == UInt8(ascii: "0"), chars[1] | 0x20 == UInt8(ascii: "x") {
            return chars.dropFirst(2).allSatisfy { char in
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(char)
                    || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(char | 0x20)
            }
        }
        return !chars.isEmpty && chars.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    /// Blocking `getaddrinfo` (any family, stream sockets).
    private static func lookUp(_ host: String) -> Result<[IPAddress], AddressResolutionError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, nil, &hints, &list)
        guard status == 0 else {
            let reason = status == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(status))
            return .failure(AddressResolutionError(host: host, reason: reason, code: status))
        }
        defer { freeaddrinfo(list) }
        var addresses: [IPAddress] = []
        var node = list
        while let info = node {
            if let address = address(of: info.pointee), !addresses.contains(address) {
                addresses.append(address)
            }
            node = info.pointee.ai_next
        }
        guard !addresses.isEmpty else {
            return .failure(AddressResolutionError(host: host, reason: "no IPv4 or IPv6 addresses"))
        }
        return .success(addresses)
    }

    /// The IPv4 or IPv6 address of one `getaddrinfo` result.
    private static func address(of info: addrinfo) -> IPAddress? {
        guard let raw = info.ai_addr.map(UnsafeRawPointer.init) else { return nil }
        switch info.ai_family {
        case AF_INET where Int(info.ai_addrlen) >= MemoryLayout<sockaddr_in>.size:
            let address = raw.loadUnaligned(as: sockaddr_in.self).sin_addr
            return IPAddress(bytes: withUnsafeBytes(of: address) { Array($0) })
        case AF_INET6 where Int(info.ai_addrlen) >= MemoryLayout<sockaddr_in6>.size:
            let address = raw.loadUnaligned(as: sockaddr_in6.self).sin6_addr
            return IPAddress(bytes: withUnsafeBytes(of: address) { Array($0) })
        default:
            return nil
        }
    }
}
