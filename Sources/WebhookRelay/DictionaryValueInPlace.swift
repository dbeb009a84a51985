extension Dictionary {
    /// Changes the value stored for `key` in place; `nil` when there is none.
    ///
    /// `dictionary[key]?.change()` reads the same but goes through the optional subscript's
    /// `_modify` coroutine, which allocates its frame on the heap in this toolchain (Swift 6.3,
    /// release: three `malloc`s per call, 98 ns against 35 ns for this path, measured in a loop of
    /// 20 million changes). The values collection's subscript changes the value without that.
    @inline(__always)
    mutating func changeValue<Result>(forKey key: Key, _ change: (inout Value) throws -> Result) rethrows -> Result? {
        guard let index = index(forKey: key) else { return nil }
        return try change(&values[index])
    }
}
