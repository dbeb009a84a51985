import Foundation

/// Comparisons whose running time does not depend on where the inputs differ.
enum ConstantTime {
    /// Whether `lhs` and `rhs` hold the same bytes. The time taken depends only on the lengths,
    /// which are public (a MAC's length is fixed by its hash function).
    static func equal(_ lhs: some ContiguousBytes, _ rhs: some ContiguousBytes) -> Bool {
        lhs.withUnsafeBytes { a in
            rhs.withUnsafeBytes { b in
                guard a.count == b.count else { return false }
                var difference: UInt8 = 0
                for index in 0..<a.count {
                    difference |= a[index] ^ b[index]
                }
                return difference == 0
            }
        }
    }
}
