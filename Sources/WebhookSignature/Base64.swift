import Foundation

/// Standard (RFC 4648 §4) base64 with the alphabet `A–Z a–z 0–9 + /`, as Standard Webhooks uses.
enum Base64 {
    /// Encodes bytes with `=` padding, after `prefix` (e.g. `v1,`): one string made, nothing
    /// else allocated (a signature is encoded once per delivery).
    static func encode(_ bytes: some ContiguousBytes, after prefix: String = "") -> String {
        bytes.withUnsafeBytes { bytes in
            let prefixCount = prefix.utf8.count
            return String(unsafeUninitializedCapacity: prefixCount + (bytes.count + 2) / 3 * 4) { output in
                var written = output.initialize(fromContentsOf: prefix.utf8)
                written += encode(bytes, into: UnsafeMutableBufferPointer(rebasing: output[written...]))
                return written
            }
        }
    }

    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    /// Writes the encoding of `bytes` (with padding) to the start of `output`, which has room for
    /// it; returns the count written.
    private static func encode(_ bytes: UnsafeRawBufferPointer, into output: UnsafeMutableBufferPointer<UInt8>) -> Int {
        alphabet.withUTF8Buffer { table in
            var out = 0
            var index = 0
            while index + 3 <= bytes.count {
                let group = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
                output[out] = table[Int(group >> 18)]
                output[out + 1] = table[Int(group >> 12 & 0x3F)]
                output[out + 2] = table[Int(group >> 6 & 0x3F)]
                output[out + 3] = table[Int(group & 0x3F)]
                index += 3
                out += 4
            }
            let rest = bytes.count - index
            if rest > 0 {
                let group = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
                output[out] = table[Int(group >> 18)]
                output[out + 1] = table[Int(group >> 12 & 0x3F)]
                output[out + 2] = rest == 2 ? table[Int(group >> 6 & 0x3F)] : UInt8(ascii: "=")
                output[out + 3] = UInt8(ascii: "=")
                out += 4
            }
            return out
        }
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
