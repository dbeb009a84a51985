// Which IP addresses the relay may connect to: the SSRF guard for outgoing webhook POSTs.
//
// An address is refused unless it is globally routable, or it lies in an explicitly
// allowed network, or private networks are allowed altogether. Checks are made on
// resolved addresses (never on host text), so alternative spellings such as `0x7f.1`
// or `2130706433` cannot slip past: they resolve to `127.0.0.1` and are refused.

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address.
///
/// Parsing is strict: IPv4 is exactly four decimal parts 0–255 without leading zeros
/// (`010.0.0.1` is rejected rather than guessed as octal), IPv6 follows RFC 4291 text
/// (with `::` compression and an optional dotted IPv4 tail), optionally in brackets
/// (`[::1]`) and optionally with a zone id (`fe80::1%eth0`), which is accepted and dropped.
/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) is a distinct value from the IPv4
/// address it embeds; ``AddressPolicy`` checks the embedded address as well.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address family.
    public enum Family: Sendable, Hashable {
        /// IPv4: 4 bytes.
        case v4
        /// IPv6: 16 bytes.
        case v6
    }

    /// The address in network byte order: 4 bytes for IPv4, 16 for IPv6.
    public let bytes: [UInt8]

    /// Creates an address from 4 (IPv4) or 16 (IPv6) bytes in network order; `nil` for any other count.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Creates the IPv4 address `a.b.c.d`.
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        bytes = [a, b, c, d]
    }

    /// Creates an IPv6 address from its eight 16-bit groups.
    init(groups: [UInt16]) {
        precondition(groups.count == 8, "an IPv6 address has 8 groups")
        bytes = groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// Parses an IPv4 or IPv6 address; `nil` if `text` is not exactly one valid address.
    ///
    /// Brackets are allowed around IPv6 only; a zone id (`%eth0`, non-empty, RFC 6874
    /// unreserved characters) is allowed on IPv6 only and is dropped.
    public init?(_ text: String) {
        var chars = Array(text.utf8)[...]
        guard !chars.isEmpty else { return nil }
        let bracketed = chars.first == ASCII.openBracket
        if bracketed || chars.last == ASCII.closeBracket {
            guard bracketed, chars.count >= 2, chars.last == ASCII.closeBracket else { return nil }
            chars = chars.dropFirst().dropLast()
        }
        var zoned = false
        if let percent = chars.firstIndex(of: ASCII.percent) {
            let zone = chars[(percent + 1)...]
            guard !zone.isEmpty, zone.allSatisfy(ASCII.isZoneCharacter) else { return nil }
            chars = chars[..<percent]
            zoned = true
        }
        if !bracketed, !zoned, let v4 = Self.parseIPv4(chars) {
            bytes = v4
        } else if let v6 = Self.parseIPv6(chars) {
            bytes = v6
        } else {
            return nil
        }
    }

    /// The address family, from the byte count.
    public var family: Family { bytes.count == 4 ? .v4 : .v6 }

    /// Dotted-quad IPv4; IPv6 per RFC 5952 (lowercase, longest zero run as `::`),
    /// with IPv4-mapped addresses as `::ffff:a.b.c.d`. Always parses back to the same address.
    public var description: String {
        if family == .v4 {
            return bytes.map(String.init).joined(separator: ".")
        }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            return "::ffff:" + bytes[12..<16].map(String.init).joined(separator: ".")
        }
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        // Longest run of two or more zero groups, the first one on a tie.
        var best: Range<Int>?
        var index = 0
        while index < 8 {
            guard groups[index] == 0 else {
                index += 1
                continue
            }
            var end = index
            while end < 8, groups[end] == 0 { end += 1 }
            if end - index >= 2, end - index > (best?.count ?? 0) { best = index..<end }
            index = end
        }
        let hex = { (range: Range<Int>) in groups[range].map { String($0, radix: 16) }.joined(separator: ":") }
        guard let run = best else { return hex(0..<8) }
        return hex(0..<run.lowerBound) + "::" + hex(run.upperBound..<8)
    }

    // MARK: Parsing

    /// Exactly four decimal parts 0–255, no signs, no leading zeros.
    private static func parseIPv4(_ chars: ArraySlice<UInt8>) -> [UInt8]? {
        var parts: [UInt8] = []
        var value = 0
        var digits = 0
        for char in chars {
            if char == ASCII.dot {
                guard digits > 0, parts.count < 3 else { return nil }
                parts.append(UInt8(value))
                value = 0
                digits = 0
            } else if let digit = ASCII.decimalValue(char) {
                guard !(digits == 1 && value == 0) else { return nil } // leading zero
                value = value * 10 + digit
                digits += 1
                guard value <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, parts.count == 3 else { return nil }
        parts.append(UInt8(value))
        return parts
    }

    /// RFC 4291 section 2.2 text, without brackets or zone id.
    private static func parseIPv6(_ chars: ArraySlice<UInt8>) -> [UInt8]? {
        guard chars.contains(ASCII.colon) else { return nil }
        var compression: Int?
        var index = chars.startIndex
        while index + 1 < chars.endIndex {
            if chars[index] == ASCII.colon, chars[index + 1] == ASCII.colon {
                compression = index
                break
            }
            index += 1
        }
        if let compression {
            // A second `::` leaves an empty group in the tail, which `parseGroups` rejects.
            guard let head = parseGroups(chars[..<compression], dottedTailAllowed: false),
                  let tail = parseGroups(chars[(compression + 2)...], dottedTailAllowed: true),
                  head.count + tail.count <= 14 // bytes: at most 7 groups besides `::`
            else { return nil }
            return (head + Array(repeating: 0, count: 16 - head.count - tail.count) + tail)
        }
        guard let all = parseGroups(chars, dottedTailAllowed: true), all.count == 16 else { return nil }
        return all
    }

    /// Colon-separated 1–4 digit hex groups as bytes; the last part may be a dotted IPv4
    /// address (4 bytes). An empty slice is no groups; an empty group is an error.
    private static func parseGroups(_ chars: ArraySlice<UInt8>, dottedTailAllowed: Bool) -> [UInt8]? {
        guard !chars.isEmpty else { return [] }
        let parts = chars.split(separator: ASCII.colon, omittingEmptySubsequences: false)
        guard parts.count <= 8 else { return nil }
        var bytes: [UInt8] = []
        for (position, part) in parts.enumerated() {
            if part.contains(ASCII.dot) {
                guard dottedTailAllowed, position == parts.count - 1, let v4 = parseIPv4(part) else { return nil }
                bytes += v4
                continue
            }
            guard (1...4).contains(part.count) else { return nil }
            var group = 0
            for char in part {
                guard let digit = ASCII.hexValue(char) else { return nil }
                group = group << 4 | digit
            }
            bytes += [UInt8(group >> 8), UInt8(group & 0xFF)]
        }
        return bytes
    }
}

/// A network in CIDR notation, such as `10.0.0.0/8` or `fc00::/7`.
///
/// Host bits are masked, not rejected: `10.1.2.3/16` is the network `10.1.0.0/16`, and
/// ``description`` prints the masked form so logs show what is actually matched.
/// A bare address is a single-host network (`/32` or `/128`).
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    /// The network address, with host bits zero.
    public let network: IPAddress
    /// The number of leading bits that must match: 0–32 for IPv4, 0–128 for IPv6.
    public let prefixLength: Int

    /// The network of `address` with the given prefix length; `nil` if the length is out of range.
    public init?(network address: IPAddress, prefixLength: Int) {
        guard (0...address.bytes.count * 8).contains(prefixLength) else { return nil }
        self.init(masking: address, prefixLength: prefixLength)
    }

    /// The network of `address` with the given prefix length, which must be in range.
    init(masking address: IPAddress, prefixLength: Int) {
        precondition((0...address.bytes.count * 8).contains(prefixLength), "prefix length out of range")
        network = Self.mask(address, prefixLength)
        self.prefixLength = prefixLength
    }

    /// Parses `address/length` or a bare address; `nil` if malformed.
    ///
    /// The length is decimal without leading zeros and at most 32 (IPv4) or 128 (IPv6).
    /// Zone ids are not allowed.
    public init?(_ text: String) {
        guard !text.contains("%") else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPAddress(String(parts[0])) else { return nil }
        guard parts.count == 2 else {
            self.init(masking: address, prefixLength: address.bytes.count * 8)
            return
        }
        let digits = Array(parts[1].utf8)
        guard (1...3).contains(digits.count),
              digits.allSatisfy({ ASCII.decimalValue($0) != nil }),
              digits.count == 1 || digits[0] != ASCII.zero,
              let length = Int(String(parts[1]))
        else { return nil }
        self.init(network: address, prefixLength: length)
    }

    /// Whether `address` is in this network. Families never match each other: an IPv4
    /// network does not contain an IPv4-mapped IPv6 address (``AddressPolicy`` handles those).
    public func contains(_ address: IPAddress) -> Bool {
        address.family == network.family && Self.mask(address, prefixLength) == network
    }

    /// `network/prefixLength`, with host bits masked.
    public var description: String { "\(network)/\(prefixLength)" }

    private static func mask(_ address: IPAddress, _ prefixLength: Int) -> IPAddress {
        let masked = address.bytes.enumerated().map { index, byte -> UInt8 in
            let bits = min(max(prefixLength - index * 8, 0), 8)
            return bits == 0 ? 0 : byte & (0xFF << (8 - bits))
        }
        return IPAddress(bytes: masked) ?? address
    }
}

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

/// ASCII bytes and classes used by the parsers; non-ASCII input never matches.
private enum ASCII {
    static let dot = UInt8(ascii: ".")
    static let colon = UInt8(ascii: ":")
    static let percent = UInt8(ascii: "%")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let zero = UInt8(ascii: "0")

    static func decimalValue(_ char: UInt8) -> Int? {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(char) ? Int(char - UInt8(ascii: "0")) : nil
    }

    static func hexValue(_ char: UInt8) -> Int? {
        if let digit = decimalValue(char) { return digit }
        if (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(char) { return Int(char - UInt8(ascii: "a")) + 10 }
        if (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(char) { return Int(char - UInt8(ascii: "A")) + 10 }
        return nil
    }

    /// RFC 3986 unreserved characters, as RFC 6874 allows in a zone id.
    static func isZoneCharacter(_ char: UInt8) -> Bool {
        decimalValue(char) != nil
            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(char)
            || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(char)
            || [UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~")].contains(char)
    }
}
