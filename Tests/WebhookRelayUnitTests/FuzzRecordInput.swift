import Kafka

/// How the FuzzRecordDecoder target (Fuzz/) turns its input bytes into a Kafka record; the
/// regression tests decode kept crash inputs with the same code (Fuzz/Sources/FuzzRecordDecoder
/// links to this file).
///
/// Layout:
///   byte 0     flags: bit 0 keyless record; bit 1 read from a delay topic; bit 2 offset Int64.max
///              (else the input's length); bits 3-7 the partition (0-31)
///   the rest   split on 0xFF: key, value, then header name, header value, name, value, ...
///              A header value of exactly [0xFE] is a header without a value (as is a trailing name),
///              one of exactly [0xF0]...[0xF7] stands for a boundary value (``boundaries``, which
///              random mutation rarely spells out); a name is read up to its first NUL, as
///              librdkafka's C string would be.
enum FuzzRecordInput {
    static let deliveriesTopic = "webhooks.deliveries"
    static let delayTopic = "webhooks.retry.5s"

    static let boundaries: [[UInt8]] = [
        "9223372036854775807", "-9223372036854775808", "2147483647", "2147483648", "-1", "253402300800000",
        String(repeating: "9", count: 40), String(repeating: "a", count: 300),
    ].map { Array($0.utf8) }

    /// The record the input describes; `nil` for an empty input.
    static func record(_ bytes: [UInt8]) -> KafkaConsumerRecord? {
        guard let flags = bytes.first else { return nil }
        let parts = bytes.dropFirst().split(separator: 0xFF, omittingEmptySubsequences: false).map(Array.init)
        var headers: [KafkaHeader] = []
        var index = 2
        while index < parts.count {
            let name = String(decoding: parts[index].prefix { $0 != 0 }, as: UTF8.self)
            var value: [UInt8]? = index + 1 < parts.count && parts[index + 1] != [0xFE] ? parts[index + 1] : nil
            if let byte = value?.first, value?.count == 1, (0xF0...0xF7).contains(byte) {
                value = boundaries[Int(byte - 0xF0)]
            }
            headers.append(KafkaHeader(key: name, value: value))
            index += 2
        }
        return KafkaConsumerRecord(
            topicPartition: KafkaTopicPartition(topic: flags & 2 != 0 ? delayTopic : deliveriesTopic, partition: Int32(flags >> 3)),
            offset: flags & 4 != 0 ? Int64.max : Int64(bytes.count),
            key: flags & 1 != 0 ? nil : parts[0],
            value: parts.count > 1 ? parts[1] : [],
            headers: headers
        )
    }
}
