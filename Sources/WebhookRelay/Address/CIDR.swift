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
