/// The records a consumer has fetched but the application has not yet taken, per partition,
/// with the pause state that bounds them. Pure state: every change returns the partitions whose
/// fetching librdkafka must pause or resume, and the caller performs that.
///
/// A partition is fetched unless the application paused it or its buffer is full
/// (``maxPerPartition`` records); a full partition is resumed once half of it was taken.
/// Records are handed out round-robin across partitions so one busy partition cannot starve others.
struct ConsumerBuffer {
    /// What librdkafka must do to the fetching of some partitions.
    struct FetchAction: Equatable {
        var pause: [KafkaTopicPartition] = []
        var resume: [KafkaTopicPartition] = []
        var isEmpty: Bool { pause.isEmpty && resume.isEmpty }
    }

    private struct Partition {
        /// Taken records are cleared at once (`nil`), so the array holds no record the
        /// application has taken; the cleared prefix is dropped from time to time.
        var records: [KafkaConsumerRecord?] = []
        var head = 0
        var pausedByApp = false
        var full = false
        var inReadyQueue = false

        var count: Int { records.count - head }
        var fetchPaused: Bool { pausedByApp || full }

        mutating func popFirst() -> KafkaConsumerRecord? {
            guard head < records.count else { return nil }
            let record = records[head]
            records[head] = nil
            head += 1
            if head == records.count {
                records.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024 && head * 2 >= records.count {
                records.removeFirst(head)
                head = 0
            }
            return record
        }
    }

    let maxPerPartition: Int
    private var partitions: [KafkaTopicPartition: Partition] = [:]
    /// Partitions with records and not paused by the application, in hand-out order.
    private var ready: [KafkaTopicPartition] = []
    private var readyHead = 0

    init(maxPerPartition: Int) {
        self.maxPerPartition = max(1, maxPerPartition)
    }

    /// Partitions currently assigned.
    var assigned: Set<KafkaTopicPartition> { Set(partitions.keys) }

    /// Whether ``next()`` may have a record: some partition not paused by the application has
    /// records (a partition paused since it was queued is skipped by ``next()``).
    var hasReady: Bool { readyHead < ready.count }

    /// Records held for the application (including those of paused partitions).
    var bufferedCount: Int { partitions.values.reduce(0) { $0 + $1.count } }

    /// Starts tracking newly assigned partitions.
    mutating func assign(_ topicPartitions: [KafkaTopicPartition]) {
        for topicPartition in topicPartitions where partitions[topicPartition] == nil {
            partitions[topicPartition] = Partition()
        }
    }

    /// Forgets revoked partitions and drops their buffered records: they were never handed to
    /// the application, so their offsets were never stored and the next owner reads them again.
    /// Returns how many records were dropped.
    @discardableResult
    mutating func revoke(_ topicPartitions: [KafkaTopicPartition]) -> Int {
        var dropped = 0
        for topicPartition in topicPartitions {
            dropped += partitions.removeValue(forKey: topicPartition)?.count ?? 0
        }
        let revoked = Set(topicPartitions)
        ready = ready[readyHead...].filter { !revoked.contains($0) }
        readyHead = 0
        return dropped
    }

    /// Adds fetched records. Records of partitions no longer assigned are dropped.
    mutating func append(_ records: [KafkaConsumerRecord]) -> FetchAction {
        var action = FetchAction()
        for record in records {
            let key = record.topicPartition
            guard var partition = partitions[key] else { continue }
            partitions[key] = nil  // keep the storage uniquely referenced while mutating
            partition.records.append(record)
            if !partition.full && partition.count >= maxPerPartition {
                partition.full = true
                if !partition.pausedByApp { action.pause.append(key) }
            }
            if !partition.pausedByApp && !partition.inReadyQueue {
                partition.inReadyQueue = true
                ready.append(key)
            }
            partitions[key] = partition
        }
        return action
    }

    /// Takes the next record for the application, round-robin over ready partitions.
    mutating func next() -> (record: KafkaConsumerRecord, action: FetchAction)? {
        while readyHead < ready.count {
            let key = ready[readyHead]
            readyHead += 1
            compactReadyQueue()
            guard var partition = partitions[key] else { continue }
            partitions[key] = nil
            partition.inReadyQueue = false
            defer { partitions[key] = partition }
            guard !partition.pausedByApp, let record = partition.popFirst() else { continue }
            var action = FetchAction()
            if partition.full && partition.count <= maxPerPartition / 2 {
                partition.full = false
                if !partition.pausedByApp { action.resume.append(key) }
            }
            if partition.count > 0 {
                partition.inReadyQueue = true
                ready.append(key)
            }
            return (record, action)
        }
        return nil
    }

    /// The application pauses partitions: their buffered records are held and fetching stops.
    mutating func pause(_ topicPartitions: [KafkaTopicPartition]) -> FetchAction {
        var action = FetchAction()
        for key in topicPartitions {
            guard var partition = partitions[key], !partition.pausedByApp else { continue }
            if !partition.fetchPaused { action.pause.append(key) }
            partition.pausedByApp = true
            partitions[key] = partition
        }
        return action
    }

    /// The application resumes partitions: held records become available again, and fetching
    /// restarts unless the partition's buffer is full.
    mutating func resume(_ topicPartitions: [KafkaTopicPartition]) -> FetchAction {
        var action = FetchAction()
        for key in topicPartitions {
            guard var partition = partitions[key], partition.pausedByApp else { continue }
            partition.pausedByApp = false
            if !partition.full { action.resume.append(key) }
            if partition.count > 0 && !partition.inReadyQueue {
                partition.inReadyQueue = true
                ready.append(key)
            }
            partitions[key] = partition
        }
        return action
    }

    /// Whether the application paused the partition.
    func isPaused(_ key: KafkaTopicPartition) -> Bool {
        partitions[key]?.pausedByApp ?? false
    }

    private mutating func compactReadyQueue() {
        if readyHead == ready.count {
            ready.removeAll(keepingCapacity: true)
            readyHead = 0
        } else if readyHead >= 1024 && readyHead * 2 >= ready.count {
            ready.removeFirst(readyHead)
            readyHead = 0
        }
    }
}
