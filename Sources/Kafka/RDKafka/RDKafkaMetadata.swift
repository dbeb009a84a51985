import CRdKafka

/// Topic metadata queries (blocking in librdkafka, so run on a dedicated thread).
enum RDKafkaMetadata {
    static func partitionCounts(client: RDKafkaClient, topics: [String], timeout: Duration) async throws(KafkaError) -> [String: Int] {
        let result: Result<[String: Int], KafkaError> = await RDKafkaThread.run(name: "kafka-metadata") {
            var metadata: UnsafePointer<rd_kafka_metadata>?
            // All topics (not one by one): asking for a single topic may auto-create it.
            let err = rd_kafka_metadata(client.handle, 1, nil, &metadata, Int32(clamping: timeout.milliseconds))
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { return .failure(KafkaError(err)) }
            defer { rd_kafka_metadata_destroy(metadata) }
            let wanted = Set(topics)
            var counts: [String: Int] = [:]
            for index in 0..<Int(metadata.pointee.topic_cnt) {
                let topic = metadata.pointee.topics[index]
                let name = String(cString: topic.topic)
                if wanted.contains(name) && topic.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    counts[name] = Int(topic.partition_cnt)
                }
            }
            return .success(counts)
        }
        return try result.get()
    }
}
