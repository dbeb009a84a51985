import Kafka

/// Taking partitions over and letting them go: what the next owner of a partition needs to repeat
/// as little as possible, and the previous one to leave nothing half done.
extension RelayService {
    func rebalance(_ event: KafkaRebalanceEvent, ledger: OffsetLedger, executor: DeliveryExecutor?, progress: ProgressLog) async {
        switch event {
        case .assigned(let partitions):
            // What earlier owners finished, read up to the progress topic's end as it is now: an
            // owner that let a partition go wrote its last entry before it rejoined the group.
            let inherited = await progress.read(partitions, timeout: configuration.progressTimeout)
            ledger.assign(partitions, inherited: inherited)
            if !inherited.isEmpty {
                logger.debug("Progress of earlier owners taken over", metadata: ["kafka.partitions": "\(inherited.keys.sorted())"])
            }
        case .revoking(let partitions):
            await letGo(partitions, drain: shuttingDown.value ? configuration.drainTimeout : configuration.rebalanceDrainTimeout,
                        ledger: ledger, executor: executor, progress: progress)
        case .lost(let partitions):
            // Another member may own them already: stop at once, and say what was finished.
            await letGo(partitions, drain: .zero, ledger: ledger, executor: executor, progress: progress)
        }
    }

    /// Lets partitions go: no new work starts; records waiting (for their endpoint, their due
    /// time or a free slot) are left to the next owner at once; attempts on the wire get `drain`
    /// to finish and are then cut short; what was finished is written to the progress topic.
    private func letGo(
        _ partitions: [KafkaTopicPartition], drain: Duration, ledger: OffsetLedger, executor: DeliveryExecutor?, progress: ProgressLog
    ) async {
        let clock = ContinuousClock()
        let started = clock.now
        ledger.beginRevoking(partitions)
        await executor?.letGo(partitions)
        if !(await ledger.waitUntilIdle(partitions, until: started.advanced(by: drain))) {
            let cut = executor?.onTheWire.cutShort(partitions) ?? 0
            let idle = await ledger.waitUntilIdle(partitions, until: clock.now.advanced(by: .seconds(1)))
            logger.warning("Attempts still on the wire when their partitions were let go were cut short; the next owner makes them", metadata: [
                "relay.drain_timeout": "\(drain)", "relay.cut_short": "\(cut)",
                "relay.abandoned": "\(idle ? 0 : ledger.inFlight(partitions))",
            ])
        }
        await write(ledger.unwrittenProgress(of: partitions), ledger: ledger, progress: progress)
        ledger.remove(partitions)
        logger.debug("Partitions let go", metadata: [
            "kafka.partitions": "\(partitions.count)", "relay.duration": "\(clock.now - started)",
        ])
    }

    /// Writes the progress of owned partitions that changed, every commit interval, until the
    /// task is cancelled: a crash repeats at most what was finished since the last write.
    func writeProgress(ledger: OffsetLedger, progress: ProgressLog) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.commitInterval)
            await write(ledger.unwrittenProgress(), ledger: ledger, progress: progress)
        }
    }

    private func write(_ entries: [KafkaTopicPartition: PartitionProgress], ledger: OffsetLedger, progress: ProgressLog) async {
        for (topicPartition, entry) in await progress.write(entries, timeout: configuration.progressTimeout) {
            ledger.markWritten(topicPartition, entry)
        }
    }
}
