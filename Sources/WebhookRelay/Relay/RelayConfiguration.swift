import Foundation
import Kafka

/// Settings of a relay replica (`webhook-relay run`).
public struct RelayConfiguration: Sendable {
    /// `host:port,...` of the Kafka brokers.
    public var bootstrapServers: String
    /// The consumer group all replicas join.
    public var groupID: String = "webhook-relay"
    /// The topics (prefix and retry schedule).
    public var topics: RelayTopics
    /// HTTP attempts in flight at once across all endpoints, at most; up to four times as many
    /// records are in progress (``RelayLimits``). Each attempt in flight costs about 30 KiB; raise
    /// it for many slow endpoints (a replica delivers at most about `maxInFlight / endpoint
    /// latency` per second).
    public var maxInFlight: Int = 256
    /// The largest body delivered; larger records are dead-lettered as `payload_too_large`.
    public var bodyLimit: Int = 1_048_576
    /// How long attempts on the wire may take to finish when the relay stops; then they are cut
    /// short (the next owner makes them again).
    public var drainTimeout: Duration = .seconds(15)
    /// The same when partitions are revoked for a rebalance. The group waits for the slowest
    /// member to let its partitions go, so this is short: an attempt cut short is repeated by the
    /// next owner, and healthy endpoints answer well within it.
    public var rebalanceDrainTimeout: Duration = .seconds(2)
    /// How long a replica reads the progress topic when it is assigned partitions, and waits for
    /// its last entries to be acknowledged when it lets them go. Beyond it, a hand-over repeats
    /// more finished records (never fewer): entries only save work.
    public var progressTimeout: Duration = .seconds(3)
    /// How long a replica in registry mode may take to read the endpoint registry at start; it
    /// stops with an error beyond it (it would dead-letter every record as `unknown_endpoint`).
    public var registryTimeout: Duration = .seconds(60)
    /// Static group membership (`group.instance.id`): a replica restarted within the session
    /// timeout gets its partitions back without a rebalance (Apache Kafka 2.3+; the embedded
    /// broker ignores it). Unique per replica, e.g. the pod name.
    public var groupInstanceID: String?
    /// Consumer session timeout (`session.timeout.ms`).
    public var sessionTimeout: Duration = .seconds(10)
    /// How often stored offsets are committed. What a replica finished since its last commit is
    /// delivered again after it crashes (and, on brokers that refuse commits while the group
    /// rebalances, after a rebalance): 250 ms about halved the crash suite's duplicates against
    /// 1 s (docs/reliability.md), for at most four small commits a second.
    public var commitInterval: Duration = .milliseconds(250)
    /// How often the consumer heartbeats, which is also how late it learns that a rebalance began
    /// (work it finishes meanwhile may not be committable, as above).
    public var heartbeatInterval: Duration = .milliseconds(250)
    /// Each retry delay is varied by up to this fraction either way (0.1 = ±10 %), so that
    /// deliveries that failed together do not retry together.
    public var retryJitter: Double = 0.1
    /// The window the relay's own latency is summarized over (``RelayLatency``): the metrics show
    /// the last complete one.
    public var latencyWindow: Duration = .seconds(10)
    /// Extra librdkafka properties for the consumer and producer (`--kafka KEY=VALUE`).
    public var kafkaProperties: [String: String] = [:]
    /// The shared HTTP client's settings.
    public var http = WebhookHTTPClient.Configuration()
    /// The endpoint that receives the relay's operational events (``OperationalEvent``) as signed
    /// webhooks, fanned out from `<prefix>.operational`; `nil`: they stay on the topic.
    public var operationalEndpoint: String?
    /// How long a fan-out transaction may stay open before the broker aborts it. A replica that
    /// dies mid-transaction holds back `read_committed` readers of the partitions it wrote to
    /// until then, unless it comes back with the same ``groupInstanceID`` (which aborts it at once).
    public var fanOutTransactionTimeout: Duration = .seconds(10)
    /// Names this process when ``groupInstanceID`` is not set: host name and a random suffix.
    let processInstance = "\(ProcessInfo.processInfo.hostName)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"

    /// The fan-out producer's `transactional.id`: `<group>.fanout.<instance>`, the instance being
    /// ``groupInstanceID`` (stable: a restarted replica fences its old self and aborts what it
    /// left open) or ``processInstance``.
    public var fanOutTransactionalID: String { "\(groupID).fanout.\(groupInstanceID ?? processInstance)" }

    /// Creates a configuration with defaults for everything but the brokers.
    public init(bootstrapServers: String, topics: RelayTopics) {
        self.bootstrapServers = bootstrapServers
        self.topics = topics
    }

    var consumerConfiguration: KafkaConsumerConfiguration {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrapServers, groupID: groupID)
        configuration.clientID = "webhook-relay"
        configuration.sessionTimeout = sessionTimeout
        configuration.commitInterval = commitInterval
        configuration.heartbeatInterval = heartbeatInterval
        configuration.groupInstanceID = groupInstanceID
        // The rebalance handler waits for in-flight work up to the drain timeout, then for the
        // progress topic.
        configuration.revocationTimeout = max(drainTimeout, rebalanceDrainTimeout) + progressTimeout + .seconds(5)
        // Bounded fetching (RelayLimits).
        configuration.maxBufferedRecordsPerPartition = limits.bufferedRecordsPerPartition
        configuration.maxBufferedBytesPerPartition = limits.bufferedBytesPerPartition
        configuration.maxFetchBytes = limits.maxFetchBytes
        // librdkafka fetches ahead at most one buffer's worth per partition.
        configuration.prefetchKilobytes = limits.bufferedBytesPerPartition / 1_024
        // A busy partition next to idle ones is paused and resumed every 128 records; with the
        // 500 ms default each resume waited for the idle partitions' fetch to time out, which held
        // such a partition (one busy endpoint) to about 550 deliveries/s. 50 ms: 10 endpoints'
        // backlog 5.5k → 28k deliveries/s (BENCHMARKS.md); an idle broker gets 20 fetches/s.
        configuration.fetchWait = .milliseconds(50)
        configuration.properties = kafkaProperties
        return configuration
    }

    /// The HTTP client's settings, with at least as many idle connections per host as attempts in
    /// flight (``RelayLimits/connectionsPerHost``; one delivery in six opened a connection before,
    /// BENCHMARKS.md).
    var httpConfiguration: WebhookHTTPClient.Configuration {
        var configuration = http
        configuration.connectionsPerHost = limits.connectionsPerHost
        return configuration
    }

    /// Every cap that follows from these settings.
    public var limits: RelayLimits {
        RelayLimits(maxInFlight: maxInFlight, bodyLimit: bodyLimit, connectionsPerHost: http.connectionsPerHost)
    }

    /// The record sizes that follow from ``bodyLimit``.
    public var sizeLimits: RecordSizeLimits { limits.sizes }

    var producerConfiguration: KafkaProducerConfiguration {
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrapServers)
        configuration.clientID = "webhook-relay"
        // librdkafka's default (1,000,000) is below the default body limit: a body between the two
        // was refused on every hop, and the hop retried forever (issue 15).
        configuration.properties = ["message.max.bytes": String(sizeLimits.recordLimit)].merging(kafkaProperties) { _, given in given }
        return configuration
    }
}
