/// The records a consumer has fetched but the application has not yet taken, per partition,
/// with the pause state that bounds them. Pure state: every change returns the partitions whose
/// fetching librdkafka must pause or resume, and the caller performs that.
///
/// A partition is fetched unless the application paused it or its buffer is full
/// (``Limits/records`` records, or ``Limits/bytes`` bytes of keys, values and headers);
/// a full partition is resumed once it is down to half of both.
/// Records are handed out round-robin across partitions so one busy partition cannot starve others.
struct ConsumerBuffer {
    /// What librdkafka must do to the fetching of some partitions.
    struct FetchAction: Equatable {
        var pause: [KafkaTopicPartition] = []
        var resume: [KafkaTopicPartition] = []
        var isEmpty: Bool { pause.isEmpty && resume.isEmpty }
    }

    private struct Partition {
        var key: KafkaTopicPartition
        /// Taken records are cleared at once (`nil`), so the array holds no record the
        /// application has taken; the cleared prefix is dropped from time to time. Each with its
        /// ``ConsumerBuffer/size(of:)``, worked out once.
        var records: [(record: KafkaConsumerRecord, size: Int)?] = []
        var head = 0
        /// Bytes of the buffered records' keys, values and headers.
        var bytes = 0
        var pausedByApp = false
        var full = false
        var inReadyQueue = false

        init(key: KafkaTopicPartition) {
            self.key = key
        }

        var count: Int { records.count - head }
        var fetchPaused: Bool { pausedByApp || full }

        /// Buffers a fetched record; a partition that became full is added to `pause` (unless the
        /// application paused it). Returns whether the partition must join the ready queue.
        mutating func append(_ record: KafkaConsumerRecord, limits: Limits, pause: inout [KafkaTopicPartition]) -> Bool {
            let size = ConsumerBuffer.size(of: record)
            records.append((record, size))
            bytes += size
            if !full && (count >= limits.records || bytes >= limits.bytes) {
                full = true
                if !pausedByApp { pause.append(key) }
            }
            guard !pausedByApp && !inReadyQueue else { return false }
            inReadyQueue = true
            return true
        }

        /// Takes the partition's next record, leaving the ready queue (it just left it): the
        /// fetch to resume when the buffer drained to half, and whether to queue the partition
        /// again (it has more records). `nil` when paused by the application or empty.
        mutating func takeNext(limits: Limits) -> (record: KafkaConsumerRecord, action: FetchAction, requeue: Bool)? {
            inReadyQueue = false
            guard !pausedByApp, let (record, size) = popFirst() else { return nil }
            bytes -= size
            var action = FetchAction()
            if full && count <= limits.records / 2 && bytes <= limits.bytes / 2 {
                full = false
                action.resume.append(key)
            }
            inReadyQueue = count > 0
            return (record, action, inReadyQueue)
        }

        mutating func popFirst() -> (record: KafkaConsumerRecord, size: Int)? {
            guard head < records.count else { return nil }
            // Moved out, not copied: a copy would retain each of the record's buffers once more.
            let record = records[head].take()
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

    /// What one partition may buffer.
    struct Limits {
        var records: Int
        var bytes: Int
    }

    let limits: Limits
    /// The partitions' state in slots that keep their place while assigned: taking a record (the
    /// hot path, once per record) indexes an array and hashes no topic name. A revoked
    /// partition's slot is reused by the next one assigned.
    private var slots: [Partition?] = []
    private var slotOf: [KafkaTopicPartition: Int] = [:]
    private var freeSlots: [Int] = []
    /// Slots of partitions with records and not paused by the application, in hand-out order.
    private var ready: [Int] = []
    private var readyHead = 0

    init(maxPerPartition: Int, maxBytesPerPartition: Int = .max) {
        limits = Limits(records: max(1, maxPerPartition), bytes: max(1, maxBytesPerPartition))
    }

    /// What a record counts against ``Limits/bytes``: its key, value and headers.
    static func size(of record: KafkaConsumerRecord) -> Int {
        record.headers.reduce((record.key?.count ?? 0) + record.value.count) { $0 + $1.key.utf8.count + ($1.value?.count ?? 0) }
    }

    /// Partitions currently assigned.
    var assigned: Set<KafkaTopicPartition> { Set(slotOf.keys) }

    /// Whether ``next()`` may have a record: some partition not paused by the application has
    /// records (a partition paused since it was queued is skipped by ``next()``).
    var hasReady: Bool { readyHead < ready.count }

    /// Records held for the application (including those of paused partitions).
    var bufferedCount: Int { slots.reduce(0) { $0 + ($1?.count ?? 0) } }

    /// Starts tracking newly assigned partitions.
    mutating func assign(_ topicPartitions: [KafkaTopicPartition]) {
        for topicPartition in topicPartitions where slotOf[topicPartition] == nil {
            if let slot = freeSlots.popLast() {
                slots[slot] = Partition(key: topicPartition)
                slotOf[topicPartition] = slot
            } else {
                slotOf[topicPartition] = slots.count
                slots.append(Partition(key: topicPartition))
            }
        }
    }

    /// Forgets revoked partitions and drops their buffered records: they were never handed to
    /// the application, so their offsets were never stored and the next owner reads them again.
    /// Returns how many records were dropped.
    @discardableResult
    mutating func revoke(_ topicPartitions: [KafkaTopicPartition]) -> Int {
        var dropped = 0
        var revoked = Set<Int>()
        for topicPartition in topicPartitions {
            guard let slot = slotOf.removeValue(forKey: topicPartition) else { continue }
            dropped += slots[slot]?.count ?? 0
            slots[slot] = nil
            freeSlots.append(slot)
            revoked.insert(slot)
        }
        ready = ready[readyHead...].filter { !revoked.contains($0) }
        readyHead = 0
        return dropped
    }

    /// Adds fetched records. Records of partitions no longer assigned are dropped.
    mutating func append(_ records: [KafkaConsumerRecord]) -> FetchAction {
        var action = FetchAction()
        // A fetch hands over runs of one partition's records: the slot is looked up once a run.
        var last: (key: KafkaTopicPartition, slot: Int)?
        for record in records {
            let key = record.topicPartition
            let slot: Int
            if let last, last.key == key {
                slot = last.slot
            } else if let found = slotOf[key] {
                slot = found
                last = (key, found)
            } else {
                continue
            }
            if slots[slot]?.append(record, limits: limits, pause: &action.pause) == true { ready.append(slot) }
        }
        return action
    }

    /// Takes the next record for the application, round-robin over ready partitions.
    mutating func next() -> (record: KafkaConsumerRecord, action: FetchAction)? {
        while readyHead < ready.count {
            let slot = ready[readyHead]
            readyHead += 1
            compactReadyQueue()
            guard let taken = slots[slot]?.takeNext(limits: limits) else { continue }
            if taken.requeue { ready.append(slot) }
            return (taken.record, taken.action)
        }
        return nil
    }

    /// The application pauses partitions: their buffered records are held and fetching stops.
    mutating func pause(_ topicPartitions: [KafkaTopicPartition]) -> FetchAction {
        var action = FetchAction()
        for key in topicPartitions {
            guard let slot = slotOf[key], let partition = slots[slot], !partition.pausedByApp else { continue }
            if !partition.fetchPaused { action.pause.append(key) }
            slots[slot]?.pausedByApp = true
        }
        return action
    }

    /// The application resumes partitions: held records become available again, and fetching
    /// restarts unless the partition's buffer is full.
    mutating func resume(_ topicPartitions: [KafkaTopicPartition]) -> FetchAction {
        var action = FetchAction()
        for key in topicPartitions {
            guard let slot = slotOf[key], let partition = slots[slot], partition.pausedByApp else { continue }
            slots[slot]?.pausedByApp = false
            if !partition.full { action.resume.append(key) }
            if partition.count > 0 && !partition.inReadyQueue {
                slots[slot]?.inReadyQueue = true
                ready.append(slot)
            }
        }
        return action
    }

    /// Whether the application paused the partition.
    func isPaused(_ key: KafkaTopicPartition) -> Bool {
        slotOf[key].flatMap { slots[$0]?.pausedByApp } ?? false
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
