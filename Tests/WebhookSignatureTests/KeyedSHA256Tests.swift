import Crypto
import Foundation
import Testing
@testable import WebhookSignature

@Suite("HMAC-SHA256 keyed once")
struct KeyedSHA256Tests {
    private func code(_ keyed: KeyedSHA256, _ parts: [[UInt8]]) -> [UInt8] {
        Array(keyed.code { hash in
            for part in parts { part.withUnsafeBytes { hash.update(bufferPointer: $0) } }
        })
    }

    @Test func rfc4231Vectors() {
        let short = KeyedSHA256(key: SymmetricKey(data: [UInt8](repeating: 0x0B, count: 20)))
        #expect(Hex.encode(code(short, [Array("Hi There".utf8)])) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        // A key longer than the block is hashed first.
        let long = KeyedSHA256(key: SymmetricKey(data: [UInt8](repeating: 0xAA, count: 131)))
        let message = Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)
        #expect(Hex.encode(code(long, [message])) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func matchesSwiftCryptosHMACForKeysAndMessagesOfEveryShape() {
        for keyLength in [0, 1, 16, 24, 32, 63, 64, 65, 100, 128, 200] {
            let key = SymmetricKey(data: (0..<keyLength).map { _ in UInt8.random(in: 0...255) })
            let keyed = KeyedSHA256(key: key)
            for messageLength in [0, 1, 55, 56, 63, 64, 65, 512, 1000] {
                let message = (0..<messageLength).map { _ in UInt8.random(in: 0...255) }
                let expected = Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
                let split = message.count / 3
                #expect(code(keyed, [message]) == expected, "key \(keyLength) B, message \(messageLength) B")
                #expect(code(keyed, [Array(message[..<split]), Array(message[split...])]) == expected, "fed in two parts")
            }
            // Keyed once, used many times: each code starts from the same keyed state.
            #expect(code(keyed, [[1, 2, 3]]) == code(keyed, [[1, 2, 3]]))
        }
    }
}
