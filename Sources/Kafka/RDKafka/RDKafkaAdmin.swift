import CRdKafka

/// librdkafka's admin API (CreateTopics, DescribeConfigs), run on a dedicated thread.
enum RDKafkaAdmin {
    static func createTopics(
        client: RDKafkaClient, topics: [KafkaNewTopic], timeout: Duration
    ) async throws(KafkaError) -> [String: KafkaTopicCreation] {
        let result: Result<[String: KafkaTopicCreation], KafkaError> = await RDKafkaThread.run(name: "kafka-admin") {
            var errorText = [CChar](repeating: 0, count: 512)
            var newTopics: [OpaquePointer?] = []
            defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
            for topic in topics {
                guard let newTopic = rd_kafka_NewTopic_new(
                    topic.name, Int32(clamping: topic.partitions), Int32(clamping: topic.replicationFactor),
                    &errorText, errorText.count
                ) else {
                    return .failure(KafkaError.configuration("topic '\(topic.name)': \(String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))"))
                }
                newTopics.append(newTopic)
                for (key, value) in topic.config.sorted(by: { $0.key < $1.key }) {
                    let err = rd_kafka_NewTopic_set_config(newTopic, key, value)
                    if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                        return .failure(KafkaError(err, message: "topic '\(topic.name)' config '\(key)': \(String(cString: rd_kafka_err2str(err)))"))
                    }
                }
            }
            return request(client: client, operation: RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout: timeout, what: "create topics") { options, queue in
                newTopics.withUnsafeMutableBufferPointer { buffer in
                    rd_kafka_CreateTopics(client.handle, buffer.baseAddress, buffer.count, options, queue)
                }
            } read: { event in
                guard let createResult = rd_kafka_event_CreateTopics_result(event) else {
                    return .failure(KafkaError.configuration("unexpected admin result"))
                }
                return .success(topicCreations(createResult))
            }
        }
        return try result.get()
    }

    private static func topicCreations(_ createResult: OpaquePointer) -> [String: KafkaTopicCreation] {
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(createResult, &count) else { return [:] }
        var outcome: [String: KafkaTopicCreation] = [:]
        for index in 0..<count {
            guard let topicResult = results[index] else { continue }
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let err = rd_kafka_topic_result_error(topicResult)
            switch err {
            case RD_KAFKA_RESP_ERR_NO_ERROR: outcome[name] = .created
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: outcome[name] = .alreadyExists
            default:
                let text = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) }
                outcome[name] = .failed(KafkaError(err, message: text))
            }
        }
        return outcome
    }

    /// The named configuration entries of each topic, as the brokers report them (the effective
    /// value, a broker default included). A topic the brokers report an error for is missing.
    static func topicConfigs(
        client: RDKafkaClient, topics: [String], names: Set<String>, timeout: Duration
    ) async throws(KafkaError) -> [String: [String: String]] {
        let result: Result<[String: [String: String]], KafkaError> = await RDKafkaThread.run(name: "kafka-admin") {
            var resources: [OpaquePointer?] = topics.map { rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, $0) }
            defer { for resource in resources { rd_kafka_ConfigResource_destroy(resource) } }
            return request(client: client, operation: RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout: timeout, what: "describe configs") { options, queue in
                resources.withUnsafeMutableBufferPointer { buffer in
                    rd_kafka_DescribeConfigs(client.handle, buffer.baseAddress, buffer.count, options, queue)
                }
            } read: { event in
                guard let describeResult = rd_kafka_event_DescribeConfigs_result(event) else {
                    return .failure(KafkaError.configuration("unexpected admin result"))
                }
                return .success(configEntries(describeResult, names: names))
            }
        }
        return try result.get()
    }

    private static func configEntries(_ describeResult: OpaquePointer, names: Set<String>) -> [String: [String: String]] {
        var count = 0
        guard let described = rd_kafka_DescribeConfigs_result_resources(describeResult, &count) else { return [:] }
        var outcome: [String: [String: String]] = [:]
        for index in 0..<count {
            guard let resource = described[index], rd_kafka_ConfigResource_error(resource) == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
            var entryCount = 0
            guard let entries = rd_kafka_ConfigResource_configs(resource, &entryCount) else { continue }
            var values: [String: String] = [:]
            for position in 0..<entryCount {
                guard let entry = entries[position], let name = rd_kafka_ConfigEntry_name(entry).map({ String(cString: $0) }),
                    names.contains(name), let value = rd_kafka_ConfigEntry_value(entry)
                else { continue }
                values[name] = String(cString: value)
            }
            outcome[String(cString: rd_kafka_ConfigResource_name(resource))] = values
        }
        return outcome
    }

    /// Sends one admin request (on the calling thread, which it blocks) and reads its result event.
    private static func request<T>(
        client: RDKafkaClient, operation: rd_kafka_admin_op_t, timeout: Duration, what: String,
        send: (_ options: OpaquePointer?, _ queue: OpaquePointer) -> Void,
        read: (_ event: OpaquePointer) -> Result<T, KafkaError>
    ) -> Result<T, KafkaError> {
        var errorText = [CChar](repeating: 0, count: 512)
        guard let queue = rd_kafka_queue_new(client.handle) else { return .failure(KafkaError.configuration("rd_kafka_queue_new failed")) }
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(client.handle, operation)
        defer { rd_kafka_AdminOptions_destroy(options) }
        let milliseconds = Int32(clamping: timeout.milliseconds)
        if operation == RD_KAFKA_ADMIN_OP_CREATETOPICS {
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, milliseconds, &errorText, errorText.count)
        }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, milliseconds, &errorText, errorText.count)
        send(options, queue)
        guard let event = rd_kafka_queue_poll(queue, milliseconds + 5_000) else { return .failure(KafkaError.timedOut) }
        defer { rd_kafka_event_destroy(event) }
        let eventError = rd_kafka_event_error(event)
        if eventError != RD_KAFKA_RESP_ERR_NO_ERROR {
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
            return .failure(KafkaError(eventError, message: "\(what): \(text)"))
        }
        return read(event)
    }
}
