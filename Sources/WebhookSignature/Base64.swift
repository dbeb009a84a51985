import Foundation

/// Standard (RFC 4648 §4) base64 with the alphabet `A–Z a–z 0–9 + /`, as Standard Webhooks uses.
enum Base64 {
    /// Encodes bytes with `=` padding.
    static func encode(_ bytes: some ContiguousBytes) -> String {
        bytes.withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// Decodes standard base64, accepting input with or without `=` padding (as the official
    /// libraries do). Returns `nil` for anything else: other characters, whitespace, the URL-safe
    /// alphabet, padding in the middle, or a length no base64 text can have.
    static func decode(_ text: Substring) -> [UInt8]? {
        decode(utf8: text.utf8)
    }

    /// Decodes standard base64 given as UTF-8 code units (see ``decode(_:)-(Substring)``).
    static func decode(utf8 text: Substring.UTF8View) -> [UInt8]? {
        var utf8 = text
        // Strip up to two "=" of padding; the remaining length must then be a valid unpadded length.
        var padding = 0
        while padding < 2, utf8.last == UInt8(ascii: "=") {
            utf8 = utf8.dropLast()
            padding += 1
        }
        let count = utf8.count
        if padding > 0 && (count + padding) % 4 != 0 { return nil }
        if count % 4 == 1 { return nil }

        var out: [UInt8] = []
        out.reserveCapacity(count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for char in utf8 {
            guard let value = sextet(char) else { return nil }
            accumulator = (accumulator << 6) | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return out
    }

    /// Decodes standard base64 (see ``decode(_:)-(Substring)``).
    static func decode(_ text: String) -> [UInt8]? {
        decode(text[...])
    }

    private static func sextet(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): char - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): char - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }
}
