extension StringProtocol where SubSequence == Substring {
    /// The string without leading and trailing ASCII spaces and tabs (HTTP optional whitespace).
    /// Cheaper than Foundation's `trimmingCharacters(in:)` on the verification hot path.
    var trimmingHTTPWhitespace: Substring {
        let isContent: (Character) -> Bool = { $0 != " " && $0 != "\t" }
        guard let first = firstIndex(where: isContent), let last = lastIndex(where: isContent) else {
            return self[endIndex...]
        }
        return self[first...last]
    }
}
