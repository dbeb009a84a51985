import Kafka
import Logging

/// Puts dead letters back on the deliveries topic (`webhook-relay republish`).
///
/// Each entry is produced to the deliveries topic and, once the broker acknowledged it, marked on
/// the compacted `<prefix>.dlq.replayed` topic (key = DLQ id, value = replay time). Marked entries
/// are skipped unless ``Options/again`` is set. At most ``Options/window`` entries are between
/// those two steps at any time, so a run that is killed and started again republishes at most
/// that many entries a second time; none is lost.
public struct Republisher: Sendable {
    /// What to republish and how fast.
    public struct Options: Sendable {
        public var filter = DeadLetterFilter()
        /// At most this many entries (after filtering), oldest death first.
        public var limit: Int?
        /// Entries per second at most.
        public var rate: RateLimit.Rate?
        /// Republish entries that were republished before.
        public var again = false
        /// Show what would be republished; change nothing.
        public var dryRun = false
        /// Entries produced but not yet marked, at most.
        public var window = 64

        public init() {}
    }

    /// The result of a run.
    public struct Summary: Sendable, Hashable {
        /// Entries republished (or that would be, with a dry run).
        public var republished = 0
        /// Matching entries skipped because they were republished before.
        public var skippedReplayed = 0
        /// Matching entries skipped because the DLQ holds them without their body.
        public var skippedBodyOmitted = 0
        /// Entries matched by the filter.
        public var matched = 0
    }

    public let bootstrapServers: String
    public let topics: RelayTopics
    public let properties: [String: String]
    public let logger: Logger

    public init(bootstrapServers: String, topics: RelayTopics, properties: [String: String] = [:], logger: Logger) {
        self.bootstrapServers = bootstrapServers
        self.topics = topics
        self.properties = properties
        self.logger = logger
    }

    /// The entries a run with these options would republish, in the order it would, and how many
    /// matching entries it would skip as already republished.
    public func plan(_ options: Options) async throws -> (entries: [DeadLetter], matched: Int, skipped: Int, bodyOmitted: Int) {
        let archive = try await DeadLetterArchive.read(bootstrapServers: bootstrapServers, topics: topics, properties: properties, logger: logger)
        let matching = archive.select(options.filter).reversed()  // oldest death first
        // An entry without its body cannot be delivered again: there is nothing to send.
        let whole = matching.filter { $0.bodyOmitted == nil }
        let fresh = whole.filter { options.again || $0.replayedAt == nil }
        let chosen = options.limit.map { Array(fresh.prefix($0)) } ?? Array(fresh)
        return (chosen, matching.count, whole.count - fresh.count, matching.count - whole.count)
    }

    /// Republishes the matching entries; `progress` is called after each one with (done, total).
    public func run(_ options: Options, progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> (Summary, [DeadLetter]) {
        let (entries, matched, skipped, bodyOmitted) = try await plan(options)
        var summary = Summary(republished: 0, skippedReplayed: skipped, skippedBodyOmitted: bodyOmitted, matched: matched)
        if options.dryRun {
            summary.republished = entries.count
            return (summary, entries)
        }
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrapServers)
        configuration.properties = properties
        let topics = self.topics
        let total = entries.count
        let window = max(1, options.window)
        let pace = options.rate.map { Double($0.period.wholeMilliseconds) / Double($0.count) }
        let done = try await KafkaProducer.withProducer(configuration: configuration, logger: logger) { producer in
            try await withThrowingTaskGroup(of: Void.self) { group in
                let clock = ContinuousClock()
                let started = clock.now
                var completed = 0
                for (index, entry) in entries.enumerated() {
                    if index >= window {
                        try await group.next()
                        completed += 1
                        progress(completed, total)
                    }
                    if let pace {
                        // Entry i starts no earlier than i / rate after the first.
                        let due = started.advanced(by: .milliseconds(Int64((Double(index) * pace).rounded())))
                        if due > clock.now { try await Task.sleep(until: due, clock: clock) }
                    }
                    group.addTask {
                        let now = WallClock.nowMilliseconds
                        _ = try await producer.send(entry.replay(to: entry.replayTopic(in: topics), at: now))
                        _ = try await producer.send(KafkaProducerRecord(
                            topic: topics.replayed, partition: entry.record.partition, key: Array(entry.id.description.utf8),
                            value: Array(String(now).utf8)
                        ))
                    }
                }
                while try await group.next() != nil {
                    completed += 1
                    progress(completed, total)
                }
                return completed
            }
        }
        summary.republished = done
        return (summary, entries)
    }
}
