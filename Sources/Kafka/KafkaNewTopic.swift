/// A topic to create with ``KafkaProducer/createTopics(_:timeout:)``.
public struct KafkaNewTopic: Sendable, Hashable {
    /// The topic name.
    public var name: String
    /// Number of partitions.
    public var partitions: Int
    /// Replicas of each partition.
    public var replicationFactor: Int
    /// Topic configuration, e.g. `retention.ms` or `cleanup.policy`.
    public var config: [String: String]

    /// Creates a topic description.
    public init(name: String, partitions: Int, replicationFactor: Int, config: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.config = config
    }
}

/// What creating one topic did.
public enum KafkaTopicCreation: Sendable, Hashable {
    /// The topic was created.
    case created
    /// The topic already existed (nothing was changed).
    case alreadyExists
    /// The broker refused to create it.
    case failed(KafkaError)
}
