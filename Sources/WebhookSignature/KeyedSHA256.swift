import Crypto

/// HMAC-SHA256 (RFC 2104) keyed once for many messages.
///
/// The SHA-256 states after the inner and the outer padded key block are kept, so a code costs
/// the message's blocks and one block for the outer hash; every update goes through SHA-256's
/// raw-buffer entry point. swift-crypto's `HMAC` absorbs the outer key block again for every code,
/// and its generic `update(data:)` looks up generic type metadata on every call: signing one
/// 512-byte delivery cost noticeably more through it (issue 19's profile). Tested against
/// swift-crypto's `HMAC` and RFC 4231's vectors.
struct KeyedSHA256: Sendable {
    private let inner: SHA256
    private let outer: SHA256

    private static let blockSize = 64

    init(key: SymmetricKey) {
        var block = [UInt8](repeating: 0, count: Self.blockSize)
        key.withUnsafeBytes { bytes in
            if bytes.count > Self.blockSize {
                // A key longer than a block is replaced by its digest.
                SHA256.hash(data: bytes).withUnsafeBytes { digest in
                    for index in digest.indices { block[index] = digest[index] }
                }
            } else {
                for index in bytes.indices { block[index] = bytes[index] }
            }
        }
        var inner = SHA256()
        var outer = SHA256()
        for index in block.indices { block[index] ^= 0x36 }
        block.withUnsafeBytes { inner.update(bufferPointer: $0) }
        for index in block.indices { block[index] ^= 0x36 ^ 0x5C }
        block.withUnsafeBytes { outer.update(bufferPointer: $0) }
        for index in block.indices { block[index] = 0 }
        self.inner = inner
        self.outer = outer
    }

    /// The authentication code of the message that `feed` gives to the hash, in one or more
    /// updates (`hash.update(bufferPointer:)`).
    func code(_ feed: (inout SHA256) -> Void) -> SHA256Digest {
        var hash = inner
        feed(&hash)
        let innerDigest = hash.finalize()
        var outerHash = outer
        innerDigest.withUnsafeBytes { outerHash.update(bufferPointer: $0) }
        return outerHash.finalize()
    }
}
