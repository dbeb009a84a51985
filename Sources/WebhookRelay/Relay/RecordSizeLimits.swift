import Kafka

/// The sizes of the records the relay reads and writes, derived from the body limit so that they
/// agree by construction: a record whose body is within the limit can be written to a delay topic
/// and the DLQ with every header the relay adds. One that still cannot be written (a producer's
/// headers too large, a topic with a smaller `max.message.bytes`) is dead-lettered, and a dead
/// letter that cannot be written whole is written without its body: never retried forever.
public struct RecordSizeLimits: Sendable, Hashable {
    /// The largest body delivered (`--body-limit`).
    public var bodyLimit: Int

    /// Room beyond the body for a record's key and headers, the producer's and the relay's (at
    /// most about 1.5 KiB, of which `relay-last-error` is 512 bytes).
    public static let envelopeAllowance = 65_536
    /// The largest body limit: a fetch answer must still hold one record
    /// (librdkafka's `receive.message.max.bytes` is 100,000,000).
    public static let maximumBodyLimit = 64 * 1_048_576

    /// Creates the limits for a body limit.
    public init(bodyLimit: Int) {
        self.bodyLimit = bodyLimit
    }

    /// The largest record the relay writes: its producer's `message.max.bytes`, and the
    /// `max.message.bytes` that `topics create` gives the relay's topics. Never below librdkafka's
    /// default of 1,000,000.
    public var recordLimit: Int { max(bodyLimit + Self.envelopeAllowance, 1_000_000) }

    /// Why a producer's `message.max.bytes` cannot work with this body limit, or `nil`.
    public func problem(withProducerMessageMaxBytes value: String) -> String? {
        guard let bytes = Int(value), bytes > 0 else {
            return "--kafka message.max.bytes: expected a number of bytes, got '\(value.prefix(40))'"
        }
        guard bytes >= recordLimit else {
            return "--kafka message.max.bytes=\(bytes) is too small for --body-limit \(bodyLimit): records the relay forwards need \(recordLimit) (the body limit + \(Self.envelopeAllowance) for key and headers); leave it unset and the relay sets it"
        }
        return nil
    }
}
