import Foundation
import Kafka
import Logging

/// What `run` checks about the relay's topics before it consumes.
extension RelayService {
    /// Every consumed topic, the dead-letter topic and the progress topic must exist with the
    /// deliveries topic's partition count, so that a partition number means the same endpoints on
    /// every topic. Returns that count.
    func checkTopics(_ producer: KafkaProducer) async throws -> Int {
        let topics = configuration.topics
        let needed = topics.consumed + [topics.deadLetters, topics.progress]
        let counts = try await producer.partitionCounts(of: needed)
        let missing = needed.filter { counts[$0] == nil }
        guard missing.isEmpty else {
            throw ConfigurationError(
                "topics missing on the brokers: \(missing.joined(separator: ", ")) (create them with `webhook-relay topics create`)"
            )
        }
        let expected = counts[topics.deliveries] ?? 0
        let different = needed.filter { counts[$0] != expected }
        guard different.isEmpty else {
            let list = different.map { "\($0) has \(counts[$0] ?? 0)" }.joined(separator: ", ")
            throw ConfigurationError(
                "every relay topic needs the partition count of \(topics.deliveries) (\(expected)): \(list)"
            )
        }
        return expected
    }

    /// The fan-out stage, for the events topic when it exists and for the operational topic when
    /// an operator endpoint is named (each with the deliveries topic's partition count: dead
    /// letters keep their partition number); without either the relay runs without it and says so.
    func fanOutStage(_ producer: KafkaProducer, partitions: Int) async throws -> EventFanOutStage? {
        let topics = configuration.topics
        let wanted = [topics.events] + (configuration.operationalEndpoint == nil ? [] : [topics.operational])
        let counts = try await producer.partitionCounts(of: wanted)
        let present = wanted.filter { counts[$0] != nil }
        if counts[topics.events] == nil {
            logger.notice("No events topic: fan-out is off (create it with `webhook-relay topics create`)", metadata: ["kafka.topic": "\(topics.events)"])
        }
        if configuration.operationalEndpoint != nil && counts[topics.operational] == nil {
            throw ConfigurationError("--operational-endpoint needs the topic \(topics.operational) (create it with `webhook-relay topics create`)")
        }
        if let different = present.first(where: { counts[$0] != partitions }) {
            throw ConfigurationError(
                "every relay topic needs the partition count of \(topics.deliveries) (\(partitions)): \(different) has \(counts[different] ?? 0)"
            )
        }
        guard !present.isEmpty else { return nil }
        return EventFanOutStage(relay: configuration, topics: present, registry: registry, metrics: metrics, logger: logger)
    }

    /// The operational events' writer when `<prefix>.operational` exists.
    func operationalLog(_ producer: KafkaProducer) async throws -> OperationalLog? {
        let topic = configuration.topics.operational
        guard try await producer.partitionCounts(of: [topic])[topic] != nil else {
            logger.notice("No operational topic: operational events are off", metadata: ["kafka.topic": "\(topic)"])
            return nil
        }
        return OperationalLog(topic: topic, metrics: metrics, logger: logger)
    }

    /// Compares the topics' `max.message.bytes` with the records the relay writes, where the
    /// brokers tell it (DescribeConfigs; the embedded broker does not), and says in the log which
    /// topic would refuse large records. Nothing stops: such records still end on the DLQ
    /// (`forward_failed`, or without their body), but the operator learns it before they do.
    func checkTopicSizeLimits(_ producer: KafkaProducer) async {
        let topics = configuration.topics
        let written = topics.consumed + [topics.deadLetters]
        let needed = configuration.sizeLimits.recordLimit
        let configs: [String: [String: String]]
        do {
            configs = try await producer.topicConfigs(written, names: ["max.message.bytes"], timeout: .seconds(3))
        } catch {
            logger.info("Topic size limits not checked: the brokers did not describe the topics' configuration", metadata: [
                "kafka.error": "\(error.name)",
            ])
            return
        }
        for topic in written {
            guard let text = configs[topic]?["max.message.bytes"], let limit = Int(text) else { continue }
            if limit < needed {
                logger.warning("A relay topic accepts smaller records than the body limit needs: larger ones will be dead-lettered as forward_failed or kept without their body; raise the topic's max.message.bytes or lower --body-limit", metadata: [
                    "kafka.topic": "\(topic)", "kafka.max_message_bytes": "\(limit)", "relay.record_limit": "\(needed)",
                    "relay.body_limit": "\(configuration.bodyLimit)",
                ])
            }
        }
    }

    /// In registry mode, reads the registry topic to its end and keeps following it (the returned
    /// task); the relay consumes only once its endpoints are loaded, and is not ready before.
    func readRegistry(_ producer: KafkaProducer, operational: OperationalLog?) async throws -> Task<Void, Never>? {
        guard case .registry(let keyring) = source else { return nil }
        let topic = configuration.topics.endpoints
        let statusTopic = configuration.topics.endpointStatus
        let counts = try await producer.partitionCounts(of: [topic, statusTopic])
        guard let partitions = counts[topic], let statusPartitions = counts[statusTopic] else {
            throw ConfigurationError("the endpoint registry topics \(topic) and \(statusTopic) are needed (create them with `webhook-relay topics create`)")
        }
        let board = try EndpointStatusBoard(
            topic: statusTopic, partitions: statusPartitions, consumerConfiguration: configuration.consumerConfiguration,
            reporter: configuration.groupInstanceID ?? ProcessInfo.processInfo.hostName, logger: logger
        )
        statusBoard.value = board
        registry.failingHistory.value = { [weak board] id in board?.failingSince(id) }
        let reader = try EndpointCatalog(
            topic: topic, partitions: partitions, consumerConfiguration: configuration.consumerConfiguration, registry: registry,
            keyring: keyring, logger: logger
        ) { [weak self] parked in self?.requeue(parked) }
        catalog.value = reader
        let task = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await board.run() }
                await reader.run()
                await board.close()
            }
        }
        do {
            try await reader.catchUp(timeout: configuration.registryTimeout)
            setManager(EndpointManager(
                catalog: reader, producer: producer, topics: configuration.topics, keyring: keyring, registry: registry, status: board,
                operational: operational, logger: logger
            ))
        } catch {
            catalog.value = nil
            statusBoard.value = nil
            await reader.close()
            await task.value
            throw error
        }
        return task
    }
}
