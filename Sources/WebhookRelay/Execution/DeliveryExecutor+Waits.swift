import Kafka
import Logging

/// Records that wait — for their due time, the rate limit, a descriptor — and records of
/// partitions that are let go.
extension DeliveryExecutor {
    /// Holds a delay-topic record until it is due; its partition's fetching pauses meanwhile.
    /// Returns the record when its partition is being let go instead.
    func waitUntilDue(_ flight: consuming RecordFlight, _ due: DueTime) -> RecordFlight? {
        if due.wasBounded {
            logger.warning("A delay-topic record is due later than its topic allows; attempting it at the topic's delay", metadata: [
                "kafka.partition": "\(flight.topicPartition)", "kafka.offset": "\(flight.record.offset)", "relay.due_at": "\(due.at)",
            ])
        }
        let topicPartition = flight.topicPartition, endpoint = flight.machine.endpointID
        let remaining = max(0, due.at - clock.wallMilliseconds)
        // Counted and paused first: the timers may hand it to ``runTimers()`` at once.
        statistics.update(endpoint) { $0.waiting += 1 }
        dependencies.source.pause([topicPartition])
        guard let refused = timers.schedule(flight, at: clock.monotonicMilliseconds + remaining) else { return nil }
        statistics.update(endpoint) { $0.waiting -= 1 }
        return refused
    }

    /// Feeds each record whose time came back to its machine, until the timers close.
    func runTimers() async {
        while let flight = await timers.next() {
            await fire(flight)
        }
    }

    private func fire(_ flight: consuming RecordFlight) async {
        var flight = flight
        let current = flight.ticket.isCurrent
        if case .waitUntilDue = flight.next {
            statistics.update(flight.machine.endpointID) { $0.waiting -= 1 }
            if current { dependencies.source.resume([flight.topicPartition]) }
            flight.next = current ? flight.machine.dueTimeReached() : flight.machine.revoked()
        } else {
            flight.next = current ? flight.machine.timerFired(now: clock.wallMilliseconds) : flight.machine.revoked()
        }
        await drive(flight, at: .dispatcher)
    }

    /// Lets the partitions' waiting records go at once: those waiting for a time, and those parked
    /// by their endpoints (whose state is forgotten: the next owner starts it afresh).
    func letGo(_ topicPartitions: [KafkaTopicPartition]) async {
        var waiting = timers.release(Set(topicPartitions))
        while var flight = waiting.next() {
            if case .waitUntilDue = flight.next { statistics.update(flight.machine.endpointID) { $0.waiting -= 1 } }
            flight.next = flight.machine.revoked()
            await drive(flight, at: .dispatcher)
        }
        // Their parked records come back and find their partition going.
        dispatch(registry.forget(partitions: Set(topicPartitions.map(\.partition))))
    }
}
