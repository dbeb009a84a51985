import CRdKafka
#if canImport(Glibc)
import Glibc
#endif

/// Conversions between librdkafka's messages and this module's records.
enum RDKafkaMessage {
    /// Copies a consumed message into a record; the topic's name comes from `topics`.
    static func record(from message: UnsafePointer<rd_kafka_message_t>, topics: inout TopicNames) -> KafkaConsumerRecord {
        let m = message.pointee
        let topic = topics.name(rd_kafka_topic_name(m.rkt))
        let key: [UInt8]? = m.key.map { pointer in
            Array(UnsafeRawBufferPointer(start: pointer, count: m.key_len))
        }
        let value: [UInt8] = m.payload.map { pointer in
            Array(UnsafeRawBufferPointer(start: pointer, count: m.len))
        } ?? []
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        var record = KafkaConsumerRecord(
            topicPartition: KafkaTopicPartition(topic: topic, partition: m.partition),
            offset: m.offset,
            key: key,
            value: value,
            headers: headers(of: message),
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
        )
        record.isTombstone = m.payload == nil
        return record
    }

    /// The last topic name read, reused while messages keep naming it: a consumer reads a few
    /// topics, and making the name's string for every message cost a validation and, past 15
    /// bytes, an allocation each.
    struct TopicNames {
        private var last = ""

        mutating func name(_ cName: UnsafePointer<CChar>) -> String {
            let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(cName).assumingMemoryBound(to: UInt8.self), count: strlen(cName))
            if !last.utf8.elementsEqual(bytes) { last = String(decoding: bytes, as: UTF8.self) }
            return last
        }
    }

    private static func headers(of message: UnsafePointer<rd_kafka_message_t>) -> [KafkaHeader] {
        var handle: OpaquePointer?
        guard rd_kafka_message_headers(message, &handle) == RD_KAFKA_RESP_ERR_NO_ERROR, let handle else {
            return []
        }
        let count = rd_kafka_header_cnt(handle)
        var result: [KafkaHeader] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            guard rd_kafka_header_get_all(handle, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR,
                let name
            else { continue }
            let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
            result.append(KafkaHeader(key: String(cString: name), value: bytes))
        }
        return result
    }

    /// Builds a librdkafka header list, or `nil` when there are no headers.
    /// The caller owns the result until a successful produce hands it to librdkafka.
    static func makeHeaders(_ headers: [KafkaHeader]) -> OpaquePointer? {
        guard !headers.isEmpty, let handle = rd_kafka_headers_new(headers.count) else { return nil }
        for header in headers {
            if let value = header.value {
                value.withUnsafeBytes { bytes in
                    _ = rd_kafka_header_add(handle, header.key, -1, bytes.baseAddress, bytes.count)
                }
            } else {
                _ = rd_kafka_header_add(handle, header.key, -1, nil, 0)
            }
        }
        return handle
    }
}

/// Builds and reads `rd_kafka_topic_partition_list_t`.
enum RDKafkaTopicPartitionList {
    /// The partitions of a list.
    static func partitions(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [KafkaTopicPartition] {
        let l = list.pointee
        guard let elements = l.elems else { return [] }
        return (0..<Int(l.cnt)).map { index in
            KafkaTopicPartition(topic: String(cString: elements[index].topic), partition: elements[index].partition)
        }
    }

    /// Runs `body` with a list of the given partitions and offsets (offset -1001 = invalid/unset).
    static func with<T>(
        _ entries: [(KafkaTopicPartition, Int64)],
        _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> T
    ) -> T {
        guard let list = rd_kafka_topic_partition_list_new(Int32(clamping: entries.count)) else {
            fatalError("rd_kafka_topic_partition_list_new failed: out of memory")
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (topicPartition, offset) in entries {
            let element = rd_kafka_topic_partition_list_add(list, topicPartition.topic, topicPartition.partition)
            element?.pointee.offset = offset
        }
        return body(list)
    }
}
