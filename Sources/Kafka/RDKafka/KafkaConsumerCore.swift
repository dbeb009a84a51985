import CRdKafka
import Dispatch
import Logging
import Synchronization

/// The state and threads behind a ``KafkaConsumer``. Owned by the consumer and by its poll
/// thread, so that dropping the consumer lets the thread close and destroy the handle.
final class KafkaConsumerCore: Sendable {
    private struct State {
        var buffer: ConsumerBuffer
        var waiters: [(id: UInt64, continuation: CheckedContinuation<KafkaConsumerRecord?, Never>)] = []
        /// Tasks waiting for a record to be buffered, without taking it (``waitForRecords()``).
        var readyWaiters: [(id: UInt64, continuation: CheckedContinuation<Bool, Never>)] = []
        var nextWaiterID: UInt64 = 0
        var finished = false
        /// Counts assignments and revocations: a late assignment handler releases the partitions
        /// it held back only while no later rebalance event came.
        var rebalanceEpoch: UInt64 = 0
    }

    /// Records taken from librdkafka per lock of the shared state.
    static let pollBatchSize = 256

    private let client: RDKafkaClient
    /// Performs pause and resume requests off the caller's thread (they block in librdkafka).
    private let fetchControl: RDKafkaFetchControl
    /// Each assigned partition's own queue, and what wakes the poll thread.
    private let partitionQueues = RDKafkaPartitionQueues()
    /// Records the poll thread took from partitions' own queues, and from the consumer's queue.
    private let recordsFromOwnQueues = Atomic<Int>(0)
    private let recordsFromConsumerQueue = Atomic<Int>(0)
    private let state: Mutex<State>
    private let closeRequested = Atomic<Bool>(false)
    /// librdkafka's handles of the topics whose offsets were stored one at a time, made on first
    /// use and released before the client is destroyed.
    private let topicHandles = Mutex<(byName: [String: OpaquePointer], closed: Bool)>(([:], false))
    private let logger: Logger
    private let configuration: KafkaConsumerConfiguration
    let closed = OneShotSignal()

    /// What the consumer reads.
    enum Source {
        /// A group subscription to topics (partitions assigned by the group).
        case topics([String])
        /// Fixed partitions from fixed offsets, outside any group, committing nothing.
        case partitions([KafkaTopicPartition: Int64])
    }

    init(
        configuration: KafkaConsumerConfiguration,
        source: Source,
        logger: Logger,
        rebalanceHandler: (@Sendable (KafkaRebalanceEvent) async -> Void)?
    ) throws(KafkaError) {
        self.configuration = configuration
        self.logger = logger
        self.state = Mutex(State(buffer: ConsumerBuffer(
            maxPerPartition: configuration.maxBufferedRecordsPerPartition, maxBytesPerPartition: configuration.maxBufferedBytesPerPartition
        )))

        // The rebalance callback needs this object, which needs the handle: a box breaks the cycle.
        let coreBox = CoreReference()
        let context = RDKafkaClientContext(logger: logger) { handle, event, partitions in
            coreBox.core?.rebalance(handle: handle, event: event, partitions: partitions, handler: rebalanceHandler)
        }
        var properties = configuration.librdkafkaProperties
        if case .partitions = source { properties.append(("enable.auto.commit", "false")) }
        let conf = try RDKafkaConfig.make(properties)
        let opaque = context.install(on: conf)
        let handle: OpaquePointer
        do {
            handle = try RDKafkaConfig.newClient(type: RD_KAFKA_CONSUMER, conf: conf)
        } catch {
            RDKafkaClientContext.release(opaque)
            throw error
        }
        client = RDKafkaClient(handle: handle, opaque: opaque)
        fetchControl = RDKafkaFetchControl(client: client)
        coreBox.core = self
        rd_kafka_poll_set_consumer(handle)
        partitionQueues.watchConsumerQueue(handle: handle)

        let startError: KafkaError?
        switch source {
        case .topics(let topics):
            let err = RDKafkaTopicPartitionList.with(topics.map { (KafkaTopicPartition(topic: $0, partition: wr_rd_kafka_partition_unassigned), -1001) }) {
                rd_kafka_subscribe(handle, $0)
            }
            startError = err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil
                : KafkaError(err, message: "subscribe to \(topics): \(String(cString: rd_kafka_err2str(err)))")
        case .partitions(let offsets):
            state.withLock { $0.buffer.assign(Array(offsets.keys)) }
            partitionQueues.attach(Array(offsets.keys), handle: handle)
            let err = RDKafkaTopicPartitionList.with(offsets.map { ($0.key, $0.value) }) { rd_kafka_assign(handle, $0) }
            startError = err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(err, message: "assign partitions: \(String(cString: rd_kafka_err2str(err)))")
        }
        if let startError {
            fetchControl.stop()
            partitionQueues.close()
            client.destroy(flags: Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
            throw startError
        }
        RDKafkaThread.start(name: "kafka-consumer-poll") { [self] in pollLoop() }
    }

    // MARK: Poll thread

    /// Waits until a queue has something (at most 100 ms, to notice a close), then takes up to
    /// ``pollBatchSize`` records: first whatever the consumer's own queue holds (serving
    /// rebalances through the callback), then from each partition queue that was marked, in
    /// the order they were. A queue that filled what was left of the batch is marked again.
    ///
    /// Records are read one call at a time (`rd_kafka_consume_queue`), never with
    /// `rd_kafka_consume_batch_queue`: in librdkafka 2.0.2 a pause or resume served while the
    /// batch call collects records bumps the partition's version, and the barrier it leaves drops
    /// the records already collected, after the pause moved the fetch position past them (a known
    /// issue of 2.0.2, fixed in 2.1.0: "intermittently skipping offsets when pause or resume was
    /// being used"). The relay pauses delay-topic partitions from other threads all the time;
    /// with the batch call, a broker-fault test lost 26 retries this way.
    private func pollLoop() {
        let handle = client.handle
        var batch: [KafkaConsumerRecord] = []
        batch.reserveCapacity(Self.pollBatchSize)
        var topicNames = RDKafkaMessage.TopicNames()
        let readiness = partitionQueues.readiness
        while !closeRequested.load(ordering: .acquiring) {
            let ready = readiness.take(waitingUpTo: .milliseconds(100))
            // One reading of the clock per batch: the rest of it is handed over within microseconds.
            let receivedAt = DispatchTime.now().uptimeNanoseconds
            while batch.count < Self.pollBatchSize, let next = rd_kafka_consumer_poll(handle, 0) {
                take(next, into: &batch, topicNames: &topicNames, receivedAt: receivedAt)
            }
            let fromConsumerQueue = batch.count
            if batch.count == Self.pollBatchSize { readiness.mark(RDKafkaPartitionQueues.Readiness.consumerQueue) }
            for index in ready.partitions {
                let room = Self.pollBatchSize - batch.count
                guard room > 0, let queue = partitionQueues.queue(at: index) else {
                    if room == 0 { readiness.mark(index) }
                    continue
                }
                // A record at a time: `rd_kafka_consume_batch_queue` loses records in librdkafka
                // 2.0.2 when a pause is served while it collects a batch (see the doc above).
                var count = 0
                while count < room, let message = rd_kafka_consume_queue(queue, 0) {
                    take(message, into: &batch, topicNames: &topicNames, receivedAt: receivedAt)
                    count += 1
                }
                if count == room { readiness.mark(index) }
            }
            if !batch.isEmpty {
                recordsFromConsumerQueue.add(fromConsumerQueue, ordering: .relaxed)
                recordsFromOwnQueues.add(batch.count - fromConsumerQueue, ordering: .relaxed)
                deliver(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        // Serves the final revocation through the rebalance callback and commits stored offsets.
        let closeError = rd_kafka_consumer_close(handle)
        if closeError != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("Consumer close reported an error", metadata: ["kafka.error": "\(KafkaError(closeError))"])
        }
        finish()
        fetchControl.stop()
        partitionQueues.close()
        releaseTopicHandles()
        client.destroy(flags: Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
        closed.signal()
    }

    private func take(
        _ message: UnsafeMutablePointer<rd_kafka_message_t>, into batch: inout [KafkaConsumerRecord], topicNames: inout RDKafkaMessage.TopicNames, receivedAt: UInt64
    ) {
        defer { rd_kafka_message_destroy(message) }
        let err = message.pointee.err
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
            logger.warning(
                "Consumer error",
                metadata: [
                    "kafka.error": "\(KafkaError(err))", "kafka.topic": "\(topic)",
                    "kafka.partition": "\(message.pointee.partition)",
                ]
            )
            return
        }
        var record = RDKafkaMessage.record(from: message, topics: &topicNames)
        record.receivedAt = receivedAt
        batch.append(record)
    }

    /// Buffers a batch. When it filled partitions, waits until their fetching has paused before
    /// the next poll: pausing bumps the partitions' version in librdkafka, which from then on
    /// drops what it had fetched for them ahead (and fetches it again on resume). So a partition
    /// overshoots its limit by less than one batch. Without the wait, the poll thread went on
    /// taking the paused partitions' records for as long as the request queued behind others.
    private func deliver(_ records: [KafkaConsumerRecord]) {
        var pauseTicket: UInt64?
        handOut { state in pauseTicket = fetchControl.submit(state.buffer.append(records)) }
        if let pauseTicket { fetchControl.waitUntilPerformed(pauseTicket) }
    }

    /// Changes the buffer, then gives waiting tasks the records that became available: to those
    /// waiting in ``next()`` a record each, and to those waiting in ``waitForRecords()`` the news.
    private func handOut(after change: (inout State) -> Void) {
        var resumptions: [(CheckedContinuation<KafkaConsumerRecord?, Never>, KafkaConsumerRecord)] = []
        var ready: [CheckedContinuation<Bool, Never>] = []
        state.withLock { state in
            change(&state)
            while !state.waiters.isEmpty, let (record, action) = state.buffer.next() {
                apply(action)
                resumptions.append((state.waiters.removeFirst().continuation, record))
            }
            if state.buffer.hasReady && !state.readyWaiters.isEmpty {
                ready = state.readyWaiters.map(\.continuation)
                state.readyWaiters.removeAll()
            }
        }
        for (continuation, record) in resumptions { continuation.resume(returning: record) }
        for continuation in ready { continuation.resume(returning: true) }
    }

    private func finish() {
        let (waiters, readyWaiters) = state.withLock { state in
            state.finished = true
            defer {
                state.waiters = []
                state.readyWaiters = []
            }
            return (state.waiters, state.readyWaiters)
        }
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
        for waiter in readyWaiters { waiter.continuation.resume(returning: false) }
    }

    /// Has fetching paused or resumed in librdkafka (on the fetch-control thread, without
    /// waiting). Called with the state lock held, so that the order of pause and resume requests
    /// matches the order of the state changes.
    private func apply(_ action: ConsumerBuffer.FetchAction) {
        fetchControl.submit(action)
    }

    fileprivate func rebalance(
        handle: OpaquePointer,
        event: rd_kafka_resp_err_t,
        partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>,
        handler: (@Sendable (KafkaRebalanceEvent) async -> Void)?
    ) {
        let topicPartitions = RDKafkaTopicPartitionList.partitions(partitions)
        let cooperative = String(cString: rd_kafka_rebalance_protocol(handle)) == "COOPERATIVE"
        switch event {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            logger.info("Partitions assigned", metadata: ["kafka.partitions": "\(topicPartitions.sorted())"])
            let epoch = state.withLock { state in
                state.rebalanceEpoch &+= 1
                state.buffer.assign(topicPartitions)
                // A partition paused under an earlier assignment starts fetching again (queued
                // after any pause request of that assignment).
                apply(ConsumerBuffer.FetchAction(resume: topicPartitions))
                return state.rebalanceEpoch
            }
            startAtCommittedOffsets(handle: handle, partitions: partitions)
            partitionQueues.attach(topicPartitions, handle: handle)
            if cooperative {
                if let error = rd_kafka_incremental_assign(handle, partitions) {
                    logger.error("Incremental assign failed", metadata: ["kafka.error": "\(KafkaError(consuming: error))"])
                }
            } else {
                rd_kafka_assign(handle, partitions)
            }
            // The application learns of its partitions in the handler (the relay's ledger refuses
            // records of partitions it does not know): a handler that runs late holds the
            // partitions' records back until it returns, however long that takes.
            runHandler(handler, .assigned(topicPartitions)) { [self] in
                logger.warning("Records of the newly assigned partitions are held until the assignment handler returns", metadata: [
                    "kafka.partitions": "\(topicPartitions.sorted())",
                ])
                state.withLock { apply($0.buffer.pause(topicPartitions)) }
            } afterLate: { [self] in
                guard state.withLock({ $0.rebalanceEpoch == epoch }) else { return }
                logger.info("Assignment handler returned late; its partitions' records are let through", metadata: [
                    "kafka.partitions": "\(topicPartitions.sorted())",
                ])
                resume(topicPartitions)
            }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(handle) != 0
            logger.info(
                lost ? "Partitions lost" : "Partitions revoked",
                metadata: ["kafka.partitions": "\(topicPartitions.sorted())"]
            )
            let dropped = state.withLock { state in
                state.rebalanceEpoch &+= 1
                return state.buffer.revoke(topicPartitions)
            }
            if dropped > 0 {
                logger.debug("Dropped buffered records of revoked partitions", metadata: ["kafka.records": "\(dropped)"])
            }
            runHandler(handler, lost ? .lost(topicPartitions) : .revoking(topicPartitions))
            if !lost && configuration.autoCommit {
                // Commit what the handler stored before the partitions go, so the next owner
                // starts after it (the commit on unassign alone races the next owner's fetch).
                let err = rd_kafka_commit(handle, nil, 0)
                if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET {
                    logger.warning("Commit before revocation failed", metadata: ["kafka.error": "\(KafkaError(err))"])
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(handle, partitions) {
                    logger.error("Incremental unassign failed", metadata: ["kafka.error": "\(KafkaError(consuming: error))"])
                }
            } else {
                rd_kafka_assign(handle, nil)
            }
        default:
            logger.error("Rebalance failed", metadata: ["kafka.error": "\(KafkaError(event))"])
            state.withLock { state in
                state.rebalanceEpoch &+= 1
                state.buffer.revoke(topicPartitions)
            }
            rd_kafka_assign(handle, nil)
        }
    }

    /// Sets each newly assigned partition's start to the group's committed offset, read now.
    ///
    /// Left to itself (offset "invalid"), librdkafka 2.0.2 can resume a partition that comes back
    /// to this consumer after its assignment was lost (session timeout) at its old fetch position
    /// — past records it had fetched but the application never finished — instead of at the
    /// committed offset: those records would be skipped. Partitions without a committed offset,
    /// or all of them when the committed offsets cannot be read, keep "invalid" (the group's
    /// committed offset, else `auto.offset.reset`).
    private func startAtCommittedOffsets(handle: OpaquePointer, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) {
        let count = Int(partitions.pointee.cnt)
        guard count > 0 else { return }
        let err = rd_kafka_committed(handle, partitions, Int32(clamping: configuration.sessionTimeout.milliseconds))
        for index in 0..<count {
            let element = partitions.pointee.elems[index]
            if err != RD_KAFKA_RESP_ERR_NO_ERROR || element.err != RD_KAFKA_RESP_ERR_NO_ERROR || element.offset < 0 {
                partitions.pointee.elems[index].offset = -1001  // RD_KAFKA_OFFSET_INVALID
            }
            partitions.pointee.elems[index].err = RD_KAFKA_RESP_ERR_NO_ERROR
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            logger.warning("Committed offsets could not be read on assignment; librdkafka picks the start", metadata: ["kafka.error": "\(KafkaError(err))"])
        }
    }

    /// Runs the application's handler and blocks the poll thread until it returns or the
    /// revocation timeout passes. When it is late, `whenLate` runs (on the poll thread, before it
    /// goes on) and `afterLate` once the handler has returned.
    private func runHandler(
        _ handler: (@Sendable (KafkaRebalanceEvent) async -> Void)?,
        _ event: KafkaRebalanceEvent,
        whenLate: () -> Void = {},
        afterLate: @escaping @Sendable () -> Void = {}
    ) {
        guard let handler else { return }
        let done = DispatchSemaphore(value: 0)
        let progress = HandlerProgress()
        Task {
            await handler(event)
            if progress.returned() { afterLate() }
            done.signal()
        }
        let timeout = configuration.revocationTimeout.milliseconds
        if done.wait(timeout: .now() + .milliseconds(timeout)) == .timedOut {
            logger.warning(
                "Rebalance handler did not finish in time; going on without it",
                metadata: ["kafka.timeout_ms": "\(timeout)"]
            )
            whenLate()
            // Returned meanwhile: nobody else undoes what `whenLate` did.
            if !progress.markLate() { afterLate() }
        }
    }

    // MARK: Application side

    /// A record already buffered, without waiting; `nil` when none is.
    func nextBuffered() -> KafkaConsumerRecord? {
        state.withLock { state in
            guard let (record, action) = state.buffer.next() else { return nil }
            apply(action)
            return record
        }
    }

    /// The group's metadata (member id, generation) for a producer's transaction; the caller
    /// destroys it with `rd_kafka_consumer_group_metadata_destroy`.
    func groupMetadata() -> OpaquePointer? {
        rd_kafka_consumer_group_metadata(client.handle)
    }

    func next() async -> KafkaConsumerRecord? {
        enum Immediate { case record(KafkaConsumerRecord?), wait(UInt64) }
        let immediate: Immediate = state.withLock { state in
            if let (record, action) = state.buffer.next() {
                apply(action)
                return .record(record)
            }
            if state.finished { return .record(nil) }
            state.nextWaiterID += 1
            return .wait(state.nextWaiterID)
        }
        let id: UInt64
        switch immediate {
        case .record(let record): return record
        case .wait(let waiterID): id = waiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<KafkaConsumerRecord?, Never>) in
                let now: KafkaConsumerRecord?? = state.withLock { state in
                    if let (record, action) = state.buffer.next() {
                        apply(action)
                        return .some(record)
                    }
                    if state.finished || Task.isCancelled { return .some(nil) }
                    state.waiters.append((id, continuation))
                    return .none
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<KafkaConsumerRecord?, Never>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Waits until a record is buffered (without taking it); `false` once the consumer is
    /// finished or the task is cancelled.
    func waitForRecords() async -> Bool {
        enum Immediate { case answer(Bool), wait(UInt64) }
        let immediate: Immediate = state.withLock { state in
            if state.finished { return .answer(false) }
            if state.buffer.hasReady { return .answer(true) }
            state.nextWaiterID += 1
            return .wait(state.nextWaiterID)
        }
        let id: UInt64
        switch immediate {
        case .answer(let answer): return answer
        case .wait(let waiterID): id = waiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now: Bool? = state.withLock { state in
                    if state.finished || Task.isCancelled { return false }
                    if state.buffer.hasReady { return true }
                    state.readyWaiters.append((id, continuation))
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard let index = state.readyWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.readyWaiters.remove(at: index).continuation
            }
            waiter?.resume(returning: false)
        }
    }

    /// Stores one partition's "done up to" offset through the topic's handle: no partition list
    /// is built (two `calloc`s, a copy of the topic name and a look-up of the topic by name in
    /// librdkafka per call, and the relay stores once per delivery).
    func storeOffset(_ nextOffset: Int64, for topicPartition: KafkaTopicPartition) throws(KafkaError) {
        let err = topicHandles.withLock { handles -> rd_kafka_resp_err_t? in
            guard !handles.closed else { return RD_KAFKA_RESP_ERR__STATE }
            let topic: OpaquePointer
            if let known = handles.byName[topicPartition.topic] {
                topic = known
            } else {
                guard let made = rd_kafka_topic_new(client.handle, topicPartition.topic, nil) else { return nil }
                handles.byName[topicPartition.topic] = made
                topic = made
            }
            // librdkafka stores `offset + 1`.
            return rd_kafka_offset_store(topic, topicPartition.partition, nextOffset - 1)
        }
        guard let err else {
            // No handle could be made: the list's path says what is wrong.
            return try storeOffsets([(topicPartition, nextOffset)])
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(err, message: "store offset \(nextOffset) for \(topicPartition): " + String(cString: rd_kafka_err2str(err)))
        }
    }

    /// Releases the topic handles of ``storeOffset(_:for:)``, before the client is destroyed;
    /// later stores fail (`_STATE`).
    private func releaseTopicHandles() {
        topicHandles.withLock { handles in
            handles.closed = true
            for topic in handles.byName.values { rd_kafka_topic_destroy(topic) }
            handles.byName.removeAll()
        }
    }

    func storeOffsets(_ offsets: [(KafkaTopicPartition, Int64)]) throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let handle = client.handle
        let failure: KafkaError? = RDKafkaTopicPartitionList.with(offsets) { list in
            let err = rd_kafka_offsets_store(handle, list)
            guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
            let l = list.pointee
            for index in 0..<Int(l.cnt) where l.elems[index].err != RD_KAFKA_RESP_ERR_NO_ERROR {
                let element = l.elems[index]
                return KafkaError(
                    element.err,
                    message: "store offset \(element.offset) for \(String(cString: element.topic))[\(element.partition)]: "
                        + String(cString: rd_kafka_err2str(element.err))
                )
            }
            return KafkaError(err)
        }
        if let failure { throw failure }
    }

    func pause(_ topicPartitions: [KafkaTopicPartition]) {
        state.withLock { apply($0.buffer.pause(topicPartitions)) }
    }

    func resume(_ topicPartitions: [KafkaTopicPartition]) {
        handOut { state in apply(state.buffer.resume(topicPartitions)) }
    }

    var assignment: Set<KafkaTopicPartition> { state.withLock { $0.buffer.assigned } }

    var bufferedRecordCount: Int { state.withLock { $0.buffer.bufferedCount } }

    /// Pause and resume requests queued and not yet begun.
    var pendingFetchRequests: Int { fetchControl.pendingCount }

    /// Records taken so far from partitions' own queues and from the consumer's queue (for tests).
    var recordsTaken: (ownQueues: Int, consumerQueue: Int) {
        (recordsFromOwnQueues.load(ordering: .relaxed), recordsFromConsumerQueue.load(ordering: .relaxed))
    }

    func commit() async throws(KafkaError) {
        let client = self.client
        let err = await RDKafkaThread.run(name: "kafka-consumer-commit") {
            rd_kafka_commit(client.handle, nil, 0)
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET { throw KafkaError(err) }
    }

    func committed(_ topicPartitions: [KafkaTopicPartition], timeout: Duration) async throws(KafkaError) -> [KafkaTopicPartition: Int64?] {
        let client = self.client
        let result: Result<[KafkaTopicPartition: Int64?], KafkaError> = await RDKafkaThread.run(name: "kafka-consumer-committed") {
            RDKafkaTopicPartitionList.with(topicPartitions.map { ($0, -1001) }) { list in
                let err = rd_kafka_committed(client.handle, list, Int32(clamping: timeout.milliseconds))
                guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { return .failure(KafkaError(err)) }
                var offsets: [KafkaTopicPartition: Int64?] = [:]
                let l = list.pointee
                for index in 0..<Int(l.cnt) {
                    let element = l.elems[index]
                    let key = KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)
                    offsets[key] = element.offset >= 0 ? element.offset : nil
                }
                return .success(offsets)
            }
        }
        return try result.get()
    }

    /// Both watermarks of every partition, in two ListOffsets rounds (the oldest offsets, then
    /// the ends), each one request per partition leader, within `timeout` overall.
    ///
    /// One `rd_kafka_query_watermark_offsets` per partition is a round trip each, with the whole
    /// timeout each, and each waits behind this consumer's long-poll fetch on the same broker
    /// connection (a broker answers a connection's requests in order): 32 partitions took 15.6 s
    /// at `fetch.wait.max.ms` 500 against a 5 s timeout, and a relay taking 64 partitions over
    /// reads them in its assignment handler (docs/reliability.md).
    func watermarks(_ topicPartitions: [KafkaTopicPartition], timeout: Duration) async throws(KafkaError) -> [KafkaTopicPartition: KafkaWatermarks] {
        guard !topicPartitions.isEmpty else { return [:] }
        let client = self.client
        let result: Result<[KafkaTopicPartition: KafkaWatermarks], KafkaError> = await RDKafkaThread.run(name: "kafka-watermarks") {
            let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, timeout.milliseconds)) * 1_000_000
            let oldest = Self.listOffsets(client: client, topicPartitions, at: -2, deadline: deadline)  // OFFSET_BEGINNING
            let ends = Self.listOffsets(client: client, topicPartitions, at: -1, deadline: deadline)  // OFFSET_END
            return oldest.flatMap { low in
                ends.map { high in
                    Dictionary(topicPartitions.map { ($0, KafkaWatermarks(low: low[$0] ?? -1, high: high[$0] ?? -1)) }, uniquingKeysWith: { first, _ in first })
                }
            }
        }
        return try result.get()
    }

    /// The offsets ListOffsets answers for `position` (-2: the oldest kept, -1: the end) of each
    /// partition, asked with `rd_kafka_offsets_for_times` (its "timestamps" -2 and -1 are
    /// ListOffsets' special positions); runs on a thread of its own (it blocks).
    private static func listOffsets(
        client: RDKafkaClient, _ topicPartitions: [KafkaTopicPartition], at position: Int64, deadline: UInt64
    ) -> Result<[KafkaTopicPartition: Int64], KafkaError> {
        let now = DispatchTime.now().uptimeNanoseconds
        let remaining = Int32(clamping: deadline > now ? max(1, (deadline - now) / 1_000_000) : 0)
        let what = position == -1 ? "end offsets" : "oldest offsets"
        guard remaining > 0 else {
            return .failure(KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, message: "\(what) of \(topicPartitions.count) partitions: timed out"))
        }
        return RDKafkaTopicPartitionList.with(topicPartitions.map { ($0, position) }) { list in
            let err = rd_kafka_offsets_for_times(client.handle, list, remaining)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                return .failure(KafkaError(err, message: "\(what) of \(topicPartitions.count) partitions: \(String(cString: rd_kafka_err2str(err)))"))
            }
            var offsets: [KafkaTopicPartition: Int64] = [:]
            let l = list.pointee
            for index in 0..<Int(l.cnt) {
                let element = l.elems[index]
                let key = KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)
                guard element.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    return .failure(KafkaError(element.err, message: "\(what) of \(key): \(String(cString: rd_kafka_err2str(element.err)))"))
                }
                offsets[key] = element.offset
            }
            return .success(offsets)
        }
    }

    func cachedHighWatermark(_ topicPartition: KafkaTopicPartition) -> Int64? {
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(client.handle, topicPartition.topic, topicPartition.partition, &low, &high)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0 ? high : nil
    }

    func partitionCounts(of topics: [String], timeout: Duration) async throws(KafkaError) -> [String: Int] {
        try await RDKafkaMetadata.partitionCounts(client: client, topics: topics, timeout: timeout)
    }

    func requestClose() {
        closeRequested.store(true, ordering: .releasing)
    }
}

/// Whether a rebalance handler returned, and whether the poll thread went on without it; exactly
/// one of the two sides sees the other's mark and runs the handler's "after late" step.
private final class HandlerProgress: Sendable {
    private let state = Mutex<(returned: Bool, late: Bool)>((false, false))

    /// The handler returned; whether the poll thread had gone on without it.
    func returned() -> Bool {
        state.withLock { state in
            state.returned = true
            return state.late
        }
    }

    /// The poll thread goes on without the handler; `false` when it has returned after all.
    func markLate() -> Bool {
        state.withLock { state in
            if !state.returned { state.late = true }
            return !state.returned
        }
    }
}

/// Lets the rebalance callback, created before the core exists, reach it. The reference lives as
/// long as the client context, which is released when the poll thread destroys the handle.
private final class CoreReference: Sendable {
    private let reference = Mutex<KafkaConsumerCore?>(nil)
    var core: KafkaConsumerCore? {
        get { reference.withLock { $0 } }
        set { reference.withLock { $0 = newValue } }
    }
}
