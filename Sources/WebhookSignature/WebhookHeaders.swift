/// An ordered list of HTTP header fields with case-insensitive name lookup.
///
/// Header names are compared ASCII case-insensitively, as HTTP requires; values are kept verbatim.
/// Several fields may share a name; ``subscript(_:)`` returns the first.
public struct WebhookHeaders: Sendable, Hashable, ExpressibleByDictionaryLiteral, Sequence {
    /// One header field.
    public struct Field: Sendable, Hashable {
        /// The header name, as given.
        public var name: String
        /// The header value, as given.
        public var value: String

        /// Creates a header field.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The fields in the order they were added.
    public private(set) var fields: [Field]

    /// Creates an empty header list.
    public init() {
        self.fields = []
    }

    /// Creates a header list from `(name, value)` pairs, keeping their order.
    public init(_ pairs: [(name: String, value: String)]) {
        self.fields = pairs.map { Field(name: $0.name, value: $0.value) }
    }

    /// Creates a header list from fields, keeping their order.
    public init(fields: [Field]) {
        self.fields = fields
    }

    /// Creates a header list from a dictionary literal, keeping the literal's order.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.fields = elements.map { Field(name: $0.0, value: $0.1) }
    }

    /// Appends a field.
    public mutating func append(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// The value of the first field named `name` (compared case-insensitively), or `nil`.
    public subscript(_ name: String) -> String? {
        fields.first { Self.namesEqual($0.name, name) }?.value
    }

    /// The values of all fields named `name` (compared case-insensitively), in order.
    public func values(for name: String) -> [String] {
        fields.filter { Self.namesEqual($0.name, name) }.map(\.value)
    }

    /// The fields as `(name, value)` pairs.
    public var pairs: [(name: String, value: String)] {
        fields.map { ($0.name, $0.value) }
    }

    /// Iterates over the fields in order.
    public func makeIterator() -> IndexingIterator<[Field]> {
        fields.makeIterator()
    }

    /// ASCII case-insensitive comparison of two header names.
    static func namesEqual(_ lhs: String, _ rhs: String) -> Bool {
        guard lhs.utf8.count == rhs.utf8.count else { return false }
        var lhs = lhs
        var rhs = rhs
        return lhs.withUTF8 { a in
            rhs.withUTF8 { b in
                for index in 0..<a.count where asciiLower(a[index]) != asciiLower(b[index]) {
                    return false
                }
                return true
            }
        }
    }

    private static func asciiLower(_ byte: UInt8) -> UInt8 {
        (byte >= 0x41 && byte <= 0x5A) ? byte | 0x20 : byte
    }
}
