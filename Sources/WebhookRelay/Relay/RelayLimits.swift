/// Every cap on what a replica holds in memory and runs at once, derived from the few settings a
/// user sets: `max_in_flight` (relay-wide), each endpoint's `max_in_flight` and `rate_limit`, and
/// `body_limit`. Nothing else in the relay picks a number of records, tasks or connections.
///
/// | limit | value | what happens at it |
/// | --- | --- | --- |
/// | ``attemptsInFlight`` | `max_in_flight` (256) | an admitted attempt waits for an attempt worker |
/// | ``recordsInProgress`` | 4 × `max_in_flight` | no record is taken from the consumer until one settles |
/// | ``attemptWorkers`` | `max_in_flight` | (one attempt each) |
/// | ``writeWorkers`` | 256 | hops and dead letters queue for a worker |
/// | ``bufferedRecordsPerPartition`` | 2,048 | fetching of the partition pauses |
/// | ``bufferedBytesPerPartition`` | 128 KiB | fetching of the partition pauses (librdkafka fetches ahead as much again) |
/// | ``maxFetchBytes`` | 16 MiB | one fetch answer is cut there |
/// | ``connectionsPerHost`` | ≥ `max_in_flight` | idle connections beyond it are closed |
/// | per endpoint ``EndpointLimits/maxInFlight`` | the endpoint's `max_in_flight` (32) | records park in memory |
/// | per endpoint ``EndpointLimits/maxWaiting`` | 4 × its `max_in_flight`, or 2 s of its rate | records are postponed to a delay topic |
/// | per endpoint ``EndpointLimits/maxWaitingWhenFast`` | 64 × its `max_in_flight`, or 2 s of its rate | (while it drains them within 1 s) |
/// | per ordered endpoint ``EndpointLimits/orderedQueue`` | 128 (one in flight) | its partition's fetching pauses until half are gone |
/// | record sizes (``RecordSizeLimits``) | `body_limit` + 64 KiB | larger records are dead-lettered |
public struct RelayLimits: Sendable, Hashable {
    /// HTTP attempts in flight at once across all endpoints (`max_in_flight`).
    public let attemptsInFlight: Int
    /// Records being worked on at once: parked for their endpoint, waiting to be due or for the
    /// rate limit, attempted, or being forwarded. Four per attempt slot, so that parking for busy
    /// endpoints does not starve the others.
    public let recordsInProgress: Int
    /// Worker tasks on NIO's event loops that make attempts, one at a time each: as many as
    /// attempts may be in flight.
    public let attemptWorkers: Int
    /// Worker tasks on Swift's pool that write hops and dead letters for records not attempted.
    public let writeWorkers: Int
    /// Records the consumer buffers per partition before it pauses fetching it. Every pause
    /// throws away what librdkafka 2.0.2 fetched ahead for the partition, fetched again on resume:
    /// at 256 a backlog drain received 4.5 times its records' bytes from the broker and the event
    /// loops sat idle waiting for records (BENCHMARKS.md, "The fetches are amplified").
    public let bufferedRecordsPerPartition: Int
    /// Bytes of keys, values and headers the consumer buffers per partition before it pauses
    /// fetching it: the bound on the buffer's memory whatever the records' sizes. Also what
    /// librdkafka may hold fetched ahead per partition (`queued.max.messages.kbytes`, which
    /// holds per partition: each has its own queue). At 1 MiB, a backlog on 64 partitions filled
    /// every buffer at start and peak RSS reached 213–258 MiB; at 256 KiB, 138 MiB; at 128 KiB,
    /// 122 MiB with the same drain rate and CPU per delivery. With 32 partitions 128 KiB costs
    /// 9 MiB more than 256 (117 MiB: more pauses, each refetching what librdkafka fetched ahead)
    /// (BENCHMARKS.md, sixth cut and eighth session).
    public let bufferedBytesPerPartition: Int
    /// The largest fetch answer (librdkafka's 50 MiB default made answers, not records, the
    /// largest part of the relay's memory at full speed).
    public let maxFetchBytes: Int
    /// Idle HTTP connections kept per host, at least one per attempt slot: fewer made the client
    /// close and reopen connections all the time when many endpoints share a host.
    public let connectionsPerHost: Int
    /// The record sizes that follow from the body limit.
    public let sizes: RecordSizeLimits

    /// The limits of a replica with these settings.
    public init(maxInFlight: Int, bodyLimit: Int, connectionsPerHost: Int = 256) {
        attemptsInFlight = maxInFlight
        recordsInProgress = 4 * maxInFlight
        attemptWorkers = maxInFlight
        writeWorkers = 256
        bufferedRecordsPerPartition = 2_048
        bufferedBytesPerPartition = 131_072
        maxFetchBytes = 16 * 1_048_576
        self.connectionsPerHost = max(connectionsPerHost, maxInFlight)
        sizes = RecordSizeLimits(bodyLimit: bodyLimit)
    }
}

/// What one endpoint's deliveries may hold in memory, from its `max_in_flight` and `rate_limit`.
public struct EndpointLimits: Sendable, Hashable {
    /// Attempts in flight to the endpoint at once.
    public let maxInFlight: Int
    /// Records that always may wait in memory (parked, or for the rate limit): 4 × `max_in_flight`,
    /// but no more than 2 s of its rate. Beyond it they are postponed to a delay topic.
    public let maxWaiting: Int
    /// Records that may wait while the endpoint's recent pace attempts them all within
    /// ``waitBudget``: 64 × `max_in_flight`, but no more than 2 s of its rate.
    public let maxWaitingWhenFast: Int
    /// One delivery at a time, in order (``EndpointPolicy/ordered``): ``maxInFlight`` is 1 and
    /// records are never sent to a delay topic to wait; beyond ``orderedQueue`` waiting, the
    /// partition they come from pauses instead.
    public let ordered: Bool
    /// How long a record should wait in memory at most, by the endpoint's recent pace (ms).
    public static let waitBudget: Double = 1_000
    /// Records an ordered endpoint keeps waiting before their partition pauses: as many as an
    /// endpoint with the default `max_in_flight` keeps waiting (4 × 32).
    public static let orderedQueue = 128

    /// The limits of an endpoint with these settings.
    public init(maxInFlight: Int, rateLimit: RateLimit.Rate?, ordered: Bool = false) {
        self.ordered = ordered
        if ordered {
            self.maxInFlight = 1
            maxWaiting = Self.orderedQueue
            maxWaitingWhenFast = Self.orderedQueue
            return
        }
        self.maxInFlight = maxInFlight
        let perTwoSeconds = rateLimit.map { rate in
            Int(Double(rate.count) * 2_000 / Double(max(1, rate.period.wholeMilliseconds)))
        }
        maxWaiting = max(1, min(4 * maxInFlight, perTwoSeconds ?? Int.max))
        maxWaitingWhenFast = max(1, min(64 * maxInFlight, perTwoSeconds ?? Int.max))
    }
}
