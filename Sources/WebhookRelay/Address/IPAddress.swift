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
