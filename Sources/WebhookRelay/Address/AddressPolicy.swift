// Which IP addresses the relay may connect to: the SSRF guard for outgoing webhook POSTs.
//
// An address is refused unless it is globally routable, or it lies in an explicitly
// allowed network, or private networks are allowed altogether. Checks are made on
// resolved addresses (never on host text), so alternative spellings such as `0x7f.1`
// or `2130706433` cannot slip past: they resolve to `127.0.0.1` and are refused.

/// The outcome of ``AddressPolicy/check(_:)``.
public enum AddressVerdict: Sendable, Hashable {
    /// The relay may connect to the address.
    case allowed
    /// The relay must not connect; `reason` names the address and the range, such as
    /// `127.0.0.1 is in 127.0.0.0/8 (loopback)`.
    case refused(reason: String)

    /// Whether the verdict is ``allowed``.
    public var isAllowed: Bool { self == .allowed }
}

/// Decides which addresses the relay may connect to.
///
/// In order:
/// 1. `allowPrivateNetwork` allows every address (internal deployments and tests).
/// 2. An address in any of `allowedNetworks` is allowed. For an IPv6 address embedding an
///    IPv4 address (see below), the embedded address is matched against the list too, so
///    allowing `127.0.0.0/8` also allows `::ffff:127.0.0.1`.
/// 3. An address in ``refusedIPv4Ranges`` or ``refusedIPv6Ranges`` is refused.
/// 4. An IPv6 address embedding an IPv4 address is refused if the embedded address is in
///    ``refusedIPv4Ranges``, and otherwise allowed. Embeddings recognised:
///    - IPv4-mapped `::ffff:0:0/96` (`::ffff:127.0.0.1`): the kernel connects over IPv4;
///    - IPv4-compatible `::/96` (`::127.0.0.1`), deprecated but still accepted by stacks;
///    - NAT64 well-known prefix `64:ff9b::/96` (RFC 6052): a translator would connect to
///      the embedded address;
///    - 6to4 `2002::/16` (RFC 3056): the IPv4 address in bits 16–47 is the tunnel endpoint.
/// 5. Any other IPv6 address outside global unicast `2000::/3` is refused: every globally
///    routable IPv6 address is in it, and the space outside it is reserved (this also covers
///    the deprecated site-local `fec0::/10`, local-use NAT64 `64:ff9b:1::/48` and similar).
/// 6. Everything else is allowed.
///
/// Teredo (`2001::/32`) embeds an obfuscated client address and is not decoded.
public struct AddressPolicy: Sendable {
    /// Networks allowed even if refused otherwise.
    public let allowedNetworks: [CIDR]
    /// Whether every address is allowed.
    public let allowPrivateNetwork: Bool

    /// Creates a policy; the default refuses every address that is not globally routable.
    public init(allowedNetworks: [CIDR] = [], allowPrivateNetwork: Bool = false) {
        self.allowedNetworks = allowedNetworks
        self.allowPrivateNetwork = allowPrivateNetwork
    }

    /// IPv4 networks that are not globally routable, with labels.
    /// `240.0.0.0/4` includes the limited broadcast address `255.255.255.255`.
    public static let refusedIPv4Ranges: [(network: CIDR, label: String)] = [
        (v4(0, 0, 0, 0, 8), "\"this\" network"),
        (v4(10, 0, 0, 0, 8), "private network"),
        (v4(100, 64, 0, 0, 10), "shared address space (carrier-grade NAT)"),
        (v4(127, 0, 0, 0, 8), "loopback"),
        (v4(169, 254, 0, 0, 16), "link-local"),
        (v4(172, 16, 0, 0, 12), "private network"),
        (v4(192, 0, 0, 0, 24), "IETF protocol assignments"),
        (v4(192, 168, 0, 0, 16), "private network"),
        (v4(198, 18, 0, 0, 15), "benchmarking"),
        (v4(224, 0, 0, 0, 4), "multicast"),
        (v4(240, 0, 0, 0, 4), "reserved, including broadcast"),
    ]

    /// IPv6 networks that are not globally routable, with labels. IPv6 addresses embedding
    /// IPv4 addresses, and those outside ``globalUnicastIPv6``, are refused as well (see the type's documentation).
    public static let refusedIPv6Ranges: [(network: CIDR, label: String)] = [
        (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified address"),
        (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
        (v6([0xFC00, 0, 0, 0, 0, 0, 0, 0], 7), "unique local address"),
        (v6([0xFE80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
        (v6([0xFF00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
    ]

    /// Every refused range, IPv4 first, for documentation and tests.
    public static let refusedRanges: [(network: CIDR, label: String)] = refusedIPv4Ranges + refusedIPv6Ranges

    /// IPv6 global unicast `2000::/3`: IPv6 addresses outside it are refused unless they embed an allowed IPv4 address.
    public static let globalUnicastIPv6 = v6([0x2000, 0, 0, 0, 0, 0, 0, 0], 3)

    /// Whether the relay may connect to `address`, and if not, why.
    public func check(_ address: IPAddress) -> AddressVerdict {
        if allowPrivateNetwork { return .allowed }
        let embedded = Self.embeddedIPv4(in: address)
        let isExplicitlyAllowed = allowedNetworks.contains { network in
            network.contains(address) || embedded.map { network.contains($0.address) } == true
        }
        if isExplicitlyAllowed { return .allowed }

        let direct = address.family == .v4 ? Self.refusedIPv4Ranges : Self.refusedIPv6Ranges
        if let range = direct.first(where: { $0.network.contains(address) }) {
            return .refused(reason: "\(address) is in \(range.network) (\(range.label))")
        }
        if let embedded {
            if let range = Self.refusedIPv4Ranges.first(where: { $0.network.contains(embedded.address) }) {
                return .refused(reason: "\(address) is \(embedded.form) for \(embedded.address), "
                    + "which is in \(range.network) (\(range.label))")
            }
            return .allowed
        }
        if address.family == .v6, !Self.globalUnicastIPv6.contains(address) {
            return .refused(reason: "\(address) is outside \(Self.globalUnicastIPv6) (not IPv6 global unicast)")
        }
        return .allowed
    }

    /// The IPv4 address embedded in an IPv4-mapped, IPv4-compatible, NAT64 (`64:ff9b::/96`)
    /// or 6to4 (`2002::/16`) IPv6 address, with the name of the form; `nil` for other addresses.
    static func embeddedIPv4(in address: IPAddress) -> (address: IPAddress, form: String)? {
        let b = address.bytes
        guard address.family == .v6 else { return nil }
        let tail = IPAddress(b[12], b[13], b[14], b[15])
        if b[0..<10].allSatisfy({ $0 == 0 }) {
            if b[10] == 0xFF, b[11] == 0xFF { return (tail, "the IPv4-mapped form") }
            if b[10] == 0, b[11] == 0 { return (tail, "the IPv4-compatible form") }
            return nil
        }
        if b[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0] {
            return (tail, "the NAT64 (64:ff9b::/96) form")
        }
        if b[0] == 0x20, b[1] == 0x02 {
            return (IPAddress(b[2], b[3], b[4], b[5]), "a 6to4 (2002::/16) address")
        }
        return nil
    }

    private static func v4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ length: Int) -> CIDR {
        CIDR(masking: IPAddress(a, b, c, d), prefixLength: length)
    }

    private static func v6(_ groups: [UInt16], _ length: Int) -> CIDR {
        CIDR(masking: IPAddress(groups: groups), prefixLength: length)
    }
}
