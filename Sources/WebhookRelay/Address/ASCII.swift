/// ASCII bytes and classes used by the parsers; non-ASCII input never matches.
enum ASCII {
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
