/// The checks the record contract makes of header-like text (event types, content types,
/// tenants, reasons): one rule everywhere, so that what one reader accepts another does too.
enum HeaderText {
    /// Whether `text` is at most `limit` bytes of UTF-8 without control characters.
    static func isPrintable(_ text: some StringProtocol, limit: Int = 256) -> Bool {
        text.utf8.count <= limit && text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }
    }

    /// A short, stable hex name of `text`: FNV-1a 64, 16 hex digits (ids derived from coordinates
    /// or contents).
    static func fingerprint(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
