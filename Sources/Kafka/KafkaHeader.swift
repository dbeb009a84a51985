/// A Kafka record header: a name and an optional binary value.
public struct KafkaHeader: Sendable, Hashable {
    /// The header name.
    public var key: String
    /// The header value; `nil` is a header without a value (distinct from an empty one).
    public var value: [UInt8]?

    /// Creates a header with a binary value.
    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    /// Creates a header whose value is the UTF-8 bytes of `value`.
    public init(key: String, value: String) {
        self.key = key
        self.value = Array(value.utf8)
    }

    /// The value decoded as UTF-8, or `nil` when absent or not valid UTF-8.
    public var stringValue: String? {
        guard let value else { return nil }
        return String(validating: value, as: UTF8.self)
    }
}

extension Array where Element == KafkaHeader {
    /// The first header with the given name (exact, case-sensitive as in Kafka).
    public func first(named key: String) -> KafkaHeader? {
        first { $0.key == key }
    }
}
