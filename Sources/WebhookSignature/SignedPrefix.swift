/// Builds the short `part.part.` prefix of the signed content in temporary (usually stack) memory.
enum SignedPrefix {
    /// Calls `body` with the bytes of each part followed by `.`, e.g. `"msg_1.1700000000."`.
    static func with(_ parts: String..., body: (UnsafeRawBufferPointer) -> Void) {
        let count = parts.reduce(0) { $0 + $1.utf8.count + 1 }
        withUnsafeTemporaryAllocation(byteCount: count, alignment: 1) { buffer in
            var offset = 0
            for part in parts {
                for byte in part.utf8 {
                    buffer[offset] = byte
                    offset += 1
                }
                buffer[offset] = UInt8(ascii: ".")
                offset += 1
            }
            body(UnsafeRawBufferPointer(buffer))
        }
    }
}
